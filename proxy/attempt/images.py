"""``/v1/images/generations``: one attempt, plain or streamed; the answer and the relay
every image request shares (``proxy.attempt.edits``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from proxy.attempt.caller import JSON_ERRORS, Caller, ErrorMapper, malformed
from proxy.attempt.relay import StreamRelay
from proxy.config import Deployment
from proxy.context import RequestContext
from proxy.errors import InvalidRequestError, ProxyError, UpstreamError
from proxy.providers.base import (
    ImageAdapter,
    ImageEvent,
    ImageResult,
    StreamTranslator,
    merge_image_results,
)
from proxy.providers.registry import PROVIDERS
from proxy.schemas import ImageRequest
from proxy.sse import frame
from proxy.transport import UpstreamStream
from proxy.upstream_request import UpstreamRequest, UpstreamResponse

R = TypeVar("R")


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
    caller: Caller, ctx: RequestContext, request: ImageRequest, deployment: Deployment
) -> dict[str, Any]:
    adapter = image_adapter(deployment, stream=False)
    await caller.discovery.prepare(deployment, adapter)
    upstream_requests = adapter.build(request, deployment)
    responses = await caller.send_all(ctx, deployment, upstream_requests, adapter)
    responses = await caller.settle(ctx, deployment, responses, adapter)  # tasks to poll
    return images_answer(ctx, deployment, responses, partial_parse(adapter.parse, request))


def partial_parse(
    parse: Callable[[UpstreamResponse, R, Deployment], ImageResult], request: R
) -> Callable[[UpstreamResponse, Deployment], ImageResult]:
    def parse_one(response: UpstreamResponse, deployment: Deployment) -> ImageResult:
        return parse(response, request, deployment)

    return parse_one


def images_answer(
    ctx: RequestContext,
    deployment: Deployment,
    responses: list[UpstreamResponse],
    parse: Callable[[UpstreamResponse, Deployment], ImageResult],
) -> dict[str, Any]:
    """One ``ImagesResponse`` from the upstream answers of any image request (generation,
    edit, variation); never a 200 without an image."""
    try:
        results = [parse(r, deployment) for r in responses]
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
    caller: Caller, ctx: RequestContext, request: ImageRequest, deployment: Deployment
) -> ImageRelay:
    """Open the upstream stream (errors surface here); the router primes the relay."""
    adapter = image_adapter(deployment, stream=True)
    await caller.discovery.prepare(deployment, adapter)
    (upstream_request,) = adapter.build(request, deployment)[:1]
    translator = adapter.stream_translator(request, deployment)
    return await open_relay(caller, ctx, deployment, upstream_request, adapter, translator)


async def open_relay(
    caller: Caller,
    ctx: RequestContext,
    deployment: Deployment,
    upstream_request: UpstreamRequest,
    errors: ErrorMapper,
    translator: StreamTranslator[ImageEvent],
) -> ImageRelay:
    upstream_request.stream = True
    stream = await caller.open_stream(ctx, deployment, upstream_request, errors)
    return ImageRelay(stream, translator, ctx, deployment.provider)


class ImageRelay(StreamRelay[ImageEvent]):
    """``image_generation.*`` events as they arrive; never a 200 stream that silently carries
    no image: it ends with a completed image or an error event."""

    def __init__(
        self,
        stream: UpstreamStream,
        translator: StreamTranslator[ImageEvent],
        ctx: RequestContext,
        provider: str,
    ) -> None:
        super().__init__(stream, translator, ctx, provider)
        self._ended = False  # a completed image or an error event: the stream told its outcome

    def _accept(self, event: ImageEvent) -> None:
        name, payload = event
        if isinstance(payload, dict):
            ctx = self.ctx
            if isinstance(payload.get("error"), dict):
                ctx.status, ctx.error_class = 502, "UpstreamStreamError"
                self._ended = True
            elif name and name.endswith(".completed"):
                ctx.images += 1
                self._ended = True
                if isinstance(payload.get("usage"), dict):
                    ctx.usage = payload["usage"]
        self._pending.append(event)

    def _finish(self) -> None:
        if not self._ended:
            raise UpstreamError(
                f"{self.provider} ended the image stream without a completed image",
                provider=self.provider,
            )

    async def _frame(self, event: ImageEvent) -> bytes:
        name, payload = event
        return frame(payload, name)

    def _error_frame(self, error: ProxyError) -> bytes:
        return frame(error.body(), "error")
