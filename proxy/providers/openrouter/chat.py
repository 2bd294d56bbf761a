"""``/v1/chat/completions`` on OpenRouter: OpenAI's chat relay plus images.

OpenRouter puts generated images in ``message.images[]`` (``delta.images`` when streaming).
Both shapes clients read are returned: ``images[]`` as OpenRouter sends it and ``image``
(the first one, ``{"url", "detail": "auto"}``). The deployment's ``modalities`` and
``image_config`` apply when the request gives none; with neither, a model whose id names it an
image model (``google/gemini-2.5-flash-image``, ``openai/gpt-5-image-mini``) is asked for
``["image", "text"]``, since OpenRouter only returns images when ``modalities`` asks for
them. SSE comment lines (``: OPENROUTER PROCESSING``) never reach the adapter (the SSE parser
drops comments); a mid-stream error chunk ends the stream with an OpenAI error frame.
"""

from __future__ import annotations

import re
from typing import Any

from proxy.config.deployment import Deployment
from proxy.errors import ProxyError, UpstreamError
from proxy.providers.base import ChatResult, Usage
from proxy.providers.openai.chat import OpenAIChat, OpenAIChatStream
from proxy.providers.openrouter.common import (
    PROVIDER,
    attribution_headers,
    chat_url,
    map_error_body,
)
from proxy.schemas import ChatRequest
from proxy.sse import SSEEvent
from proxy.upstream_request import UpstreamRequest, UpstreamResponse

# "image" as a word of the model id: gemini-2.5-flash-image(-preview), gpt-5-image(-mini), ...
IMAGE_MODEL = re.compile(r"(?:^|[/._-])image(?:$|[._:-])", re.IGNORECASE)
IMAGE_AND_TEXT = ["image", "text"]


def add_first_image(message: dict[str, Any]) -> None:
    """Give a message or delta carrying ``images[]`` the single ``image`` field too."""
    images = message.get("images")
    if not isinstance(images, list) or not images or "image" in message:
        return
    first = images[0]
    if isinstance(first, dict) and isinstance(first.get("image_url"), dict):
        url = first["image_url"].get("url")
        if isinstance(url, str):
            message["image"] = {"url": url, "detail": "auto"}


class OpenRouterChatStream(OpenAIChatStream):
    """OpenAI's chunks plus ``delta.image``; an error chunk raises the mapped error."""

    __slots__ = ()

    def feed(self, event: SSEEvent) -> list[dict[str, Any]]:
        chunks = super().feed(event)
        for chunk in chunks:
            error = chunk.get("error")
            if isinstance(error, dict):
                raise map_error_body(200, {}, b"", error=error)
            if error is not None:
                raise map_error_body(200, {}, b"", error={"message": str(error)})
            for choice in chunk.get("choices") or ():
                if isinstance(choice, dict) and isinstance(choice.get("delta"), dict):
                    add_first_image(choice["delta"])
        return chunks


class OpenRouterChat(OpenAIChat):
    provider = PROVIDER

    def url(self, deployment: Deployment) -> str:
        return chat_url(deployment)

    def payload(self, request: ChatRequest, deployment: Deployment) -> dict[str, Any]:
        body = super().payload(request, deployment)
        for key in ("modalities", "image_config"):
            default = deployment.param(key)
            if default is not None and key not in body:
                body[key] = default
        if "modalities" not in body and IMAGE_MODEL.search(deployment.model):
            body["modalities"] = list(IMAGE_AND_TEXT)
        return body

    def build(self, request: ChatRequest, deployment: Deployment) -> UpstreamRequest:
        return UpstreamRequest.post_json(
            self.url(deployment),
            self.payload(request, deployment),
            attribution_headers(deployment),
            stream=request.stream,
        )

    def parse(
        self, response: UpstreamResponse, request: ChatRequest, deployment: Deployment
    ) -> ChatResult:
        body = response.json()  # decoded once: image answers run to megabytes
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            raise map_error_body(502, response.headers, b"", error=body["error"])
        if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
            raise UpstreamError(f"{PROVIDER} answered without a 'choices' list", provider=PROVIDER)
        body["model"] = request.model
        for choice in body["choices"]:
            if isinstance(choice, dict) and isinstance(choice.get("message"), dict):
                add_first_image(choice["message"])
        usage = body.get("usage") if isinstance(body.get("usage"), dict) else None
        return ChatResult(body=body, usage=Usage.of(usage))

    def stream_translator(
        self, request: ChatRequest, deployment: Deployment
    ) -> OpenRouterChatStream:
        return OpenRouterChatStream(request.model)

    def map_error(self, response: UpstreamResponse, deployment: Deployment) -> ProxyError:
        return map_error_body(response.status, response.headers, response.body)
