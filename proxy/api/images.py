"""POST /v1/images/generations (and /images/generations)."""

from __future__ import annotations

from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response

from proxy.api.azure_paths import AZURE_PREFIX, model_from_path
from proxy.api.endpoint import json_request, run
from proxy.api.routes import MODEL_ERRORS, Operation, route
from proxy.context import RequestContext
from proxy.images.gallery_keeper import GalleryKeeper
from proxy.images.responses import deliver_images, to_deliver
from proxy.providers.registry import PROVIDERS
from proxy.schemas import ImageRequest
from proxy.schemas.edits import EditRequest
from proxy.schemas.wire import ImageGenerationRequest, ImagesResponse, ImageStreamEvent


class ImageAnswerRequest(Protocol):
    """Any image request (generation, edit, variation): what the delivery step reads."""

    @property
    def response_format(self) -> str | None: ...


def public_base(request: Request) -> str:
    configured = request.app.services.pipeline.config.general.public_base_url
    return str(configured or request.base_url).rstrip("/")


async def finish(
    request: Request, ctx: RequestContext, image_request: ImageAnswerRequest, body: dict[str, Any]
) -> dict[str, Any]:
    """Give the client the ``response_format`` it asked for (download or store); a provider's
    ``data:`` URIs are checked and become base64 whatever was asked. With the gallery on, the
    base64 images are noted on the request for its post-call stage to keep."""
    gallery: GalleryKeeper | None = request.app.services.gallery
    prompt = image_request.prompt if isinstance(image_request, ImageRequest | EditRequest) else None
    if gallery is not None:  # the gallery is on: its post-call stage keeps the images
        gallery.hold(ctx, prompt, body)  # before delivery turns them into links
    if not to_deliver(body, image_request.response_format):
        return body
    provider = ctx.provider or "provider"
    spec = PROVIDERS.get(provider)
    delivered = await deliver_images(
        body,
        image_request.response_format,
        request.app.services.delivery,
        provider=provider,
        hosts=spec.images.image_hosts if spec is not None and spec.images else (),
        request_base=public_base(request),
    )
    if gallery is not None:  # the provider's links, downloaded as base64
        gallery.hold(ctx, prompt, delivered)
    return delivered


async def create_image(request: Request) -> Response:
    read = json_request(model_from_path(request, ImageRequest.from_body))
    router = request.app.services.pipeline.router
    return await run(request, "images", read, router.generate_images, router.stream_images, finish)


PATHS = ("/v1/images/generations", "/images/generations", f"{AZURE_PREFIX}/images/generations")
GENERATE = Operation(
    summary="Create images",
    tag="images",
    body=ImageGenerationRequest,
    response=ImagesResponse,
    events=ImageStreamEvent,
    errors=MODEL_ERRORS,
    description="OpenAI's `images.generate`. With `stream: true` the answer is server-sent "
    "events. On the Azure-style path the deployment in the path is the model.",
)
routes = [route(path, create_image, "POST", doc=GENERATE) for path in PATHS]
# Exact paths the front door (proxy.server.front) hands straight to the handler.
direct = [(path, create_image) for path in PATHS if "{" not in path]
