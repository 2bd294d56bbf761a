"""``/v1/images/generations``: one attempt, plain or streamed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from proxy.attempt.upstream import JSON_ERRORS, Upstream, malformed
from proxy.config import Deployment
from proxy.context import RequestContext
from proxy.errors import InvalidRequestError, ProxyError, UpstreamError
from proxy.providers.base import ImageAdapter, merge_image_results
from proxy.providers.registry import PROVIDERS
from proxy.schemas import ImageRequest
from proxy.sse import frame, iter_events
from proxy.transport import UpstreamStream


def image_adapter(deployment: Deployment, *, stream: bool) -> ImageAdapter:
    adapter = PROVIDERS[deployment.provider].images
    if adapter is None:
        raise InvalidRequestError(
            f"The model '{deployment.model_name}' does not support image generation.",
            param="model",
        )
    if stream and not adapter.supports_stream:
        raise InvalidRequestError(
            f"The model '{deployment.model_name}' does not support streaming image generation.",
            param="stream",
        )
    return adapter


async def generate(
    upstream: Upstream, ctx: RequestContext, request: ImageRequest, deployment: Deployment
) -> dict[str, Any]:
    adapter = image_adapter(deployment, stream=False)
    responses = await upstream.send_all(
        ctx, deployment, adapter.build(request, deployment), adapter
    )
    try:
        results = [adapter.parse(r, request, deployment) for r in responses]
    except JSON_ERRORS as exc:
        raise malformed(deployment.provider, type(exc).__name__) from None
    body = merge_image_results(results)
    if not body["data"]:
        raise UpstreamError(
            f"{deployment.provider} returned no images", provider=deployment.provider
        )
    ctx.images = len(body["data"])
    ctx.usage = body.get("usage")
    return body


async def open_stream(
    upstream: Upstream, ctx: RequestContext, request: ImageRequest, deployment: Deployment
) -> AsyncIterator[bytes]:
    """Open the upstream stream (errors surface here, before any byte is sent)."""
    adapter = image_adapter(deployment, stream=True)
    (upstream_request,) = adapter.build(request, deployment)[:1]
    upstream_request.stream = True
    stream = await upstream.open_stream(ctx, deployment, upstream_request, adapter)
    return _relay(stream, adapter, ctx, request, deployment)


async def _relay(
    stream: UpstreamStream,
    adapter: Any,
    ctx: RequestContext,
    request: ImageRequest,
    deployment: Deployment,
) -> AsyncIterator[bytes]:
    sent = False  # once a byte went out, a failure can no longer be retried
    ended = False  # a completed image or an error event: the stream told its outcome
    try:
        async for name, payload in adapter.stream(
            iter_events(stream.chunks()), request, deployment
        ):
            if isinstance(payload, dict):
                if isinstance(payload.get("error"), dict):
                    ctx.status, ctx.error_class = 502, "UpstreamStreamError"
                    ended = True
                elif name and name.endswith(".completed"):
                    ctx.images += 1
                    ended = True
                    if isinstance(payload.get("usage"), dict):
                        ctx.usage = payload["usage"]
            sent = True
            yield frame(payload, name)
        if not ended:  # never a 200 stream that silently carries no image
            raise UpstreamError(
                f"{deployment.provider} ended the image stream without a completed image",
                provider=deployment.provider,
            )
    except ProxyError as exc:
        if not sent:
            raise
        ctx.status, ctx.error_class = exc.status, exc.error_class
        yield frame(exc.body(), "error")
    except JSON_ERRORS as exc:
        err = malformed(deployment.provider, type(exc).__name__)
        if not sent:
            raise err from None
        ctx.status, ctx.error_class = err.status, err.error_class
        yield frame(err.body(), "error")
    finally:
        await stream.aclose()
