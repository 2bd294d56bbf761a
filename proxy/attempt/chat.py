"""``/v1/chat/completions``: one attempt, plain or streamed chunk by chunk."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from proxy.attempt.upstream import JSON_ERRORS, Upstream, malformed
from proxy.config import Deployment
from proxy.context import RequestContext
from proxy.errors import InvalidRequestError, ProxyError, UpstreamError
from proxy.pricing.cost import add_stream_cost
from proxy.providers.base import ChatAdapter, ChatResult, merge_chat_results
from proxy.providers.registry import PROVIDERS
from proxy.schemas import ChatRequest
from proxy.sse import DONE_FRAME, frame, iter_events
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
    upstream: Upstream, ctx: RequestContext, request: ChatRequest, deployment: Deployment
) -> dict[str, Any]:
    adapter = chat_adapter(deployment)
    build_all = getattr(adapter, "build_all", None)
    requests: list[UpstreamRequest] = (
        build_all(request, deployment) if build_all else [adapter.build(request, deployment)]
    )
    responses = await upstream.send_all(ctx, deployment, requests, adapter)
    try:
        results: list[ChatResult] = [adapter.parse(r, request, deployment) for r in responses]
        result = results[0] if len(results) == 1 else merge_chat_results(results)
    except JSON_ERRORS as exc:
        raise malformed(deployment.provider, type(exc).__name__) from None
    ctx.usage = result.usage
    for choice in result.body.get("choices", []):
        if isinstance(choice, dict) and isinstance(choice.get("message"), dict):
            ctx.images += count_images(choice["message"])
    return result.body


async def open_stream(
    upstream: Upstream, ctx: RequestContext, request: ChatRequest, deployment: Deployment
) -> AsyncIterator[bytes]:
    adapter = chat_adapter(deployment)
    upstream_request = adapter.build(request, deployment)
    upstream_request.stream = True
    stream = await upstream.open_stream(ctx, deployment, upstream_request, adapter)
    chunks = adapter.stream(iter_events(stream.chunks()), request, deployment)
    # Wait for the first chunk before answering: an error the adapter finds there (a blocked
    # prompt, a broken stream) is still a plain HTTP error, not a 200 with an error event.
    try:
        first = await anext(chunks, None)
    except BaseException as exc:
        await stream.aclose()
        if isinstance(exc, JSON_ERRORS):
            raise malformed(deployment.provider, type(exc).__name__) from None
        raise
    if first is None:  # not one chunk (a server that ignored ``stream``): not a 200
        await stream.aclose()
        raise UpstreamError(
            f"{deployment.provider} ended the stream without a chunk", provider=deployment.provider
        )
    return _relay(stream, _prepend(first, chunks), ctx, request, deployment)


async def _prepend(
    first: dict[str, Any] | None, rest: AsyncIterator[dict[str, Any]]
) -> AsyncIterator[dict[str, Any]]:
    if first is None:
        return
    yield first
    async for chunk in rest:
        yield chunk


async def _relay(
    stream: UpstreamStream,
    chunks: AsyncIterator[dict[str, Any]],
    ctx: RequestContext,
    request: ChatRequest,
    deployment: Deployment,
) -> AsyncIterator[bytes]:
    sent = False  # once a byte went out, a failure can no longer be retried
    try:
        async for chunk in chunks:
            usage = chunk.get("usage")
            if isinstance(usage, dict):
                ctx.usage = usage
                if not request.include_usage and not chunk.get("choices"):
                    continue  # the client did not ask for the usage chunk
                add_stream_cost(ctx, usage)
            if isinstance(chunk.get("error"), dict):
                ctx.status, ctx.error_class = 502, "UpstreamStreamError"
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta") if isinstance(choice, dict) else None
                if isinstance(delta, dict):
                    ctx.images += count_images(delta)
            sent = True
            yield frame(chunk)
        yield DONE_FRAME
    except ProxyError as exc:
        if not sent:
            raise
        ctx.status, ctx.error_class = exc.status, exc.error_class
        yield frame(exc.body())
    except JSON_ERRORS as exc:
        err = malformed(deployment.provider, type(exc).__name__)
        if not sent:
            raise err from None
        ctx.status, ctx.error_class = err.status, err.error_class
        yield frame(err.body())
    finally:
        await stream.aclose()
