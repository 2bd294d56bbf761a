"""``/v1/images/edits`` and ``/v1/images/variations``: one attempt against one deployment,
through the adapter's edit or variation capability (``ImageEditor``, ``ImageVariator``).

The router asks ``EDITS`` / ``VARIATIONS`` which deployments of a group can serve the
request before it chooses one, so a deployment (or a fallback group) that cannot edit is
never called: a group left with none answers a 400 naming the model and why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from proxy.attempt.caller import Caller
from proxy.attempt.images import ImageRelay, images_answer, open_relay, partial_parse
from proxy.config import Deployment
from proxy.context import RequestContext
from proxy.errors import InvalidRequestError
from proxy.providers.base import ImageEditor, ImageVariator, UploadForwarder, capable
from proxy.providers.registry import PROVIDERS, edit_refusal, variation_refusal
from proxy.schemas.edits import EditRequest, VariationRequest
from proxy.upstream_request import UpstreamRequest

# Uploads larger than this are encoded for the upstream (base64 in JSON, multipart bodies:
# copies of every image) in a worker thread, so the event loop never waits on them. An edit
# with a mask is always built there: adapters may decode and convert it
# (``proxy.providers.masks``). An adapter that forwards the uploads as they are builds on
# the loop: it copies nothing.
BUILD_IN_THREAD = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Capability:
    """What a deployment must be able to do for a kind of request."""

    action: str  # "edit images"
    refusal: Callable[[Deployment], str | None]
    instead: str  # what a refused client can do

    def serving(self, name: str, deployments: Sequence[Deployment]) -> list[Deployment]:
        """The deployments of group ``name`` that can serve; a 400 when none can."""
        able = [d for d in deployments if self.refusal(d) is None]
        if not able:
            reasons = "; ".join(sorted({r for d in deployments if (r := self.refusal(d))}))
            raise InvalidRequestError(
                f"The model '{name}' cannot {self.action}: {reasons}. {self.instead}",
                param="model",
                code="unsupported_model",
            )
        return able


EDITS = Capability(
    "edit images",
    edit_refusal,
    "Use a model served by a provider that edits (OpenAI or Azure GPT image models, Gemini "
    "image models on the Gemini API or Vertex AI, Stability's edit models on Bedrock or its "
    "own API, Black Forest Labs, xAI, Recraft, OpenRouter image models, fal.ai edit apps, "
    "Together AI's Kontext and FLUX.2, an OpenAI-compatible server, the mock), or "
    "/v1/images/generations.",
)
VARIATIONS = Capability(
    "make image variations",
    variation_refusal,
    "Ask /v1/images/edits for a variation with a prompt, or use Recraft or an "
    "OpenAI-compatible server that serves /v1/images/variations.",
)


async def forwards(
    adapter: object, request: EditRequest | VariationRequest, deployment: Deployment
) -> bool:
    """Whether ``adapter`` sends the uploads as they are; if not, they are loaded first."""
    if capable(adapter, UploadForwarder) and cast(UploadForwarder, adapter).forwards_uploads(
        deployment
    ):
        return True
    for upload in request.uploads:
        await upload.blob.load()
    return False


async def built_edit(
    adapter: ImageEditor, request: EditRequest, deployment: Deployment
) -> list[UpstreamRequest]:
    if await forwards(adapter, request, deployment):
        return adapter.build_edit(request, deployment)
    if request.upload_bytes > BUILD_IN_THREAD or request.mask is not None:
        return await asyncio.to_thread(adapter.build_edit, request, deployment)
    return adapter.build_edit(request, deployment)


def editor(deployment: Deployment, *, stream: bool) -> ImageEditor:
    images = PROVIDERS[deployment.provider].images
    refusal = edit_refusal(deployment)
    if refusal is not None or not capable(images, ImageEditor):
        raise InvalidRequestError(
            f"The model '{deployment.model_name}' cannot edit images: {refusal}.", param="model"
        )
    adapter = cast(ImageEditor, images)
    if stream and not adapter.supports_edit_stream:
        raise InvalidRequestError(
            f"The model '{deployment.model_name}' does not support streaming image edits.",
            param="stream",
        )
    return adapter


def variator(deployment: Deployment) -> ImageVariator:
    adapter = PROVIDERS[deployment.provider].images
    refusal = variation_refusal(deployment)
    if refusal is not None or not capable(adapter, ImageVariator):
        raise InvalidRequestError(
            f"The model '{deployment.model_name}' cannot make image variations: {refusal}.",
            param="model",
        )
    return cast(ImageVariator, adapter)


async def edit(
    caller: Caller, ctx: RequestContext, request: EditRequest, deployment: Deployment
) -> dict[str, Any]:
    adapter = editor(deployment, stream=False)
    ctx.input_images, ctx.input_bytes = len(request.images), request.upload_bytes
    await caller.discovery.prepare(deployment, adapter)
    upstream_requests = await built_edit(adapter, request, deployment)
    responses = await caller.send_all(ctx, deployment, upstream_requests, adapter)
    responses = await caller.settle(ctx, deployment, responses, adapter)  # tasks to poll
    return images_answer(ctx, deployment, responses, partial_parse(adapter.parse_edit, request))


async def open_edit_stream(
    caller: Caller, ctx: RequestContext, request: EditRequest, deployment: Deployment
) -> ImageRelay:
    """Open the upstream edit stream (errors surface here); the router primes the relay."""
    adapter = editor(deployment, stream=True)
    ctx.input_images, ctx.input_bytes = len(request.images), request.upload_bytes
    await caller.discovery.prepare(deployment, adapter)
    (upstream_request,) = (await built_edit(adapter, request, deployment))[:1]
    translator = adapter.edit_stream_translator(request, deployment)
    return await open_relay(caller, ctx, deployment, upstream_request, adapter, translator)


async def vary(
    caller: Caller, ctx: RequestContext, request: VariationRequest, deployment: Deployment
) -> dict[str, Any]:
    adapter = variator(deployment)
    ctx.input_images, ctx.input_bytes = 1, request.upload_bytes
    if await forwards(adapter, request, deployment) or request.upload_bytes <= BUILD_IN_THREAD:
        upstream_requests = adapter.build_variation(request, deployment)
    else:
        upstream_requests = await asyncio.to_thread(adapter.build_variation, request, deployment)
    responses = await caller.send_all(ctx, deployment, upstream_requests, adapter)
    parse = partial_parse(adapter.parse_variation, request)
    return images_answer(ctx, deployment, responses, parse)
