"""``/chat/completions`` for OpenAI-compatible upstreams: a relay that renames the model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from proxy.config.deployment import Deployment
from proxy.errors import ProxyError, UpstreamError
from proxy.providers.base import ChatResult, join_url
from proxy.providers.upstream_errors import map_http_error
from proxy.schemas import ChatRequest
from proxy.sse import SSEEvent
from proxy.upstream_request import UpstreamRequest, UpstreamResponse


class OpenAIChat:
    default_base = "https://api.openai.com/v1"
    provider = "openai"

    def url(self, deployment: Deployment) -> str:
        return join_url(deployment.params.api_base or self.default_base, "chat/completions")

    def payload(self, request: ChatRequest, deployment: Deployment) -> dict[str, Any]:
        body = dict(request.body)
        body["model"] = deployment.model
        if request.stream:
            # Always ask for usage so the request can be priced; the relay drops the usage
            # chunk again when the client did not ask for it.
            options = body.get("stream_options") or {}
            body["stream_options"] = {**options, "include_usage": True}
        return body

    def build(self, request: ChatRequest, deployment: Deployment) -> UpstreamRequest:
        return UpstreamRequest.post_json(
            self.url(deployment), self.payload(request, deployment), stream=request.stream
        )

    def parse(
        self, response: UpstreamResponse, request: ChatRequest, deployment: Deployment
    ) -> ChatResult:
        body = response.json()
        if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
            raise UpstreamError(f"{self.provider} answered without a 'choices' list")
        body["model"] = request.model
        usage = body.get("usage") if isinstance(body.get("usage"), dict) else None
        return ChatResult(body=body, usage=usage)

    async def stream(
        self, events: AsyncIterator[SSEEvent], request: ChatRequest, deployment: Deployment
    ) -> AsyncIterator[dict[str, Any]]:
        async for event in events:
            if event.data == b"[DONE]":
                return
            chunk = event.json()
            if isinstance(chunk, dict):
                if "model" in chunk:
                    chunk["model"] = request.model
                yield chunk

    def map_error(self, response: UpstreamResponse, deployment: Deployment) -> ProxyError:
        return map_http_error(response.status, response.headers, response.body, self.provider)
