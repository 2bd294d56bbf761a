"""``/v1/chat/completions``: one attempt, plain or streamed chunk by chunk."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

from proxy.attempt.caller import JSON_ERRORS, Caller, malformed
from proxy.attempt.relay import StreamRelay
from proxy.config import Deployment
from proxy.context import RequestContext, chat_completion_id
from proxy.errors import InvalidRequestError, ProxyError, UpstreamError
from proxy.pricing.cost import add_stream_cost
from proxy.providers.base import (
    ChatAdapter,
    ChatChunk,
    ChatResult,
    FanOutChat,
    StreamTranslator,
    capable,
    merge_chat_results,
)
from proxy.providers.registry import PROVIDERS
from proxy.schemas import ChatRequest
from proxy.sse import DONE_FRAME, frame
from proxy.transport import UpstreamStream
from proxy.upstream_request import UpstreamRequest


def chat_adapter(deployment: Deployment) -> ChatAdapter:
    adapter = PROVIDERS[deployment.provider].chat
    if adapter is None:
        raise InvalidRequestError(
            f"The model '{deployment.model_name}' does not support chat completions.",
            param="model",
        )
    return adapter


def count_images(message: dict[str, Any]) -> int:
    images = message.get("images")
    if isinstance(images, list) and images:
        return len(images)
    return 1 if message.get("image") else 0


async def complete(
    caller: Caller, ctx: RequestContext, request: ChatRequest, deployment: Deployment
) -> dict[str, Any]:
    adapter = chat_adapter(deployment)
    requests: list[UpstreamRequest] = (
        cast(FanOutChat, adapter).build_all(request, deployment)
        if capable(adapter, FanOutChat)
        else [adapter.build(request, deployment)]
    )
    responses = await caller.send_all(ctx, deployment, requests, adapter)
    try:
        results: list[ChatResult] = [adapter.parse(r, request, deployment) for r in responses]
        result = results[0] if len(results) == 1 else merge_chat_results(results)
    except JSON_ERRORS as exc:
        raise malformed(deployment.provider, type(exc).__name__) from None
    ctx.usage = result.usage.raw if result.usage is not None else None
    result.body["id"] = chat_completion_id(ctx.request_id)
    for choice in result.body.get("choices", []):
        if isinstance(choice, dict) and isinstance(choice.get("message"), dict):
            ctx.images += count_images(choice["message"])
    return result.body


async def open_stream(
    caller: Caller,
    ctx: RequestContext,
    request: ChatRequest,
    price: Price | None,
    deployment: Deployment,
) -> ChatRelay:
    """Open the upstream stream (errors surface here); the router primes the relay."""
    adapter = chat_adapter(deployment)
    upstream_request = adapter.build(request, deployment)
    upstream_request.stream = True
    translator = adapter.stream_translator(request, deployment)
    stream = await caller.open_stream(ctx, deployment, upstream_request, adapter)
    return ChatRelay(stream, translator, ctx, request, deployment.provider, price)


Price = Callable[[RequestContext], None]
ChunkRewriter = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class ChatRelay(StreamRelay[ChatChunk]):
    """``chat.completion.chunk`` frames, then ``data: [DONE]``.

    The first chunk is awaited before answering: an error the adapter finds there (a
    blocked prompt, a broken stream) is still a plain HTTP error, not a 200 with an error
    event; a stream without a single chunk (a server that ignored ``stream``) is not a 200.
    """

    def __init__(
        self,
        stream: UpstreamStream,
        translator: StreamTranslator[ChatChunk],
        ctx: RequestContext,
        request: ChatRequest,
        provider: str,
        price: Price | None = None,  # puts the cost into the final usage chunk
    ) -> None:
        super().__init__(stream, translator, ctx, provider)
        self._include_usage = request.include_usage
        self._price = price
        self._translated = False
        self._rewrite: ChunkRewriter | None = None
        self._id = chat_completion_id(ctx.request_id)

    def rewrite_with(self, rewrite: ChunkRewriter) -> None:
        """Pass every chunk through ``rewrite`` before it is framed (chat images as links,
        ``proxy.images``): the chunk is serialised once, after the rewrite."""
        self._rewrite = rewrite

    def _accept(self, chunk: ChatChunk) -> None:
        self._translated = True
        ctx = self.ctx
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            ctx.usage = usage
            if not self._include_usage and not chunk.get("choices"):
                return  # the client did not ask for the usage chunk
            if self._price is not None:
                add_stream_cost(ctx, usage, self._price)
        if isinstance(chunk.get("error"), dict):
            ctx.status, ctx.error_class = 502, "UpstreamStreamError"
        elif "id" in chunk:
            chunk["id"] = self._id
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if isinstance(delta, dict):
                ctx.images += count_images(delta)
        self._pending.append(chunk)

    def _finish(self) -> None:
        if not self._translated:
            raise UpstreamError(
                f"{self.provider} ended the stream without a chunk", provider=self.provider
            )
        self._pending.append(DONE_FRAME)

    async def _frame(self, chunk: ChatChunk) -> bytes:
        if self._rewrite is not None:
            chunk = await self._rewrite(chunk)
        return frame(chunk)

    def _error_frame(self, error: ProxyError) -> bytes:
        return frame(error.body())
