"""``/chat/completions`` for OpenAI-compatible upstreams: a relay that renames the model."""

from __future__ import annotations

from typing import Any

from proxy.config.deployment import Deployment
from proxy.errors import ProxyError, UpstreamError
from proxy.providers.base import ChatResult, Usage, join_url
from proxy.providers.upstream_errors import map_http_error
from proxy.schemas import ChatRequest
from proxy.sse import DONE, SSEEvent
from proxy.upstream_request import UpstreamRequest, UpstreamResponse


class OpenAIChatStream:
    """OpenAI's chunks as they come, the model renamed; ``[DONE]`` ends the stream."""

    __slots__ = ("done", "model")

    def __init__(self, model: str) -> None:
        self.model = model
        self.done = False

    def feed(self, event: SSEEvent) -> list[dict[str, Any]]:
        if event.data == DONE:
            self.done = True
            return []
        chunk = event.json()
        if not isinstance(chunk, dict):
            return []
        if "model" in chunk:
            chunk["model"] = self.model
        return [chunk]

    def end(self) -> list[dict[str, Any]]:
        return []


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
        return ChatResult(body=body, usage=Usage.of(usage))

    def stream_translator(self, request: ChatRequest, deployment: Deployment) -> OpenAIChatStream:
        return OpenAIChatStream(request.model)

    def map_error(self, response: UpstreamResponse, deployment: Deployment) -> ProxyError:
        return map_http_error(response.status, response.headers, response.body, self.provider)
