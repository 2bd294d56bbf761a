"""POST /v1/images/edits and /v1/images/variations (also without /v1, and Azure-style)."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response

from proxy.api.azure_paths import AZURE_PREFIX
from proxy.api.endpoint import read_body, run
from proxy.api.images import finish
from proxy.api.routes import MODEL_ERRORS, Operation, route
from proxy.api.uploads import (
    Upload,
    UploadFiles,
    UploadLimits,
    read_json_edit,
    read_multipart,
)
from proxy.context import RequestContext
from proxy.errors import InvalidRequestError
from proxy.pipeline import Pipeline
from proxy.schemas.edits import MAX_EDIT_IMAGES, EditRequest, VariationRequest
from proxy.schemas.wire import (
    ImageEditJSONRequest,
    ImageEditRequest,
    ImagesResponse,
    ImageStreamEvent,
    ImageVariationRequest,
)


def _limits(pipeline: Pipeline, images: int) -> UploadLimits:
    config = pipeline.config
    return UploadLimits(config.max_image_upload_bytes, config.max_image_request_bytes, images)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _with_path_model(request: Request, upload: Upload) -> Upload:
    """On the Azure-style path the deployment in the path is the model."""
    deployment = request.path_params.get("deployment")
    if isinstance(deployment, str):
        upload.fields["model"] = deployment
    return upload


async def read_edit(request: Request, pipeline: Pipeline, files: UploadFiles) -> EditRequest:
    limits = _limits(pipeline, MAX_EDIT_IMAGES)
    media_type = _media_type(request)
    if media_type == "multipart/form-data":
        upload = await read_multipart(request, limits, files)
    elif media_type == "application/json":
        raw = await read_body(request, limits.total)
        upload = await read_json_edit(raw, request.app.services.delivery, limits)
    else:
        raise InvalidRequestError(
            "Image edits take a multipart/form-data body (what the OpenAI SDKs send) or a "
            "JSON body with 'images': [{\"image_url\": ...}].",
            code="unsupported_media_type",
        )
    upload = _with_path_model(request, upload)
    return EditRequest.from_parts(
        upload.fields,
        tuple(upload.images),
        mask=upload.overlays.get("mask"),
        markup=upload.overlays.get("markup"),
    )


async def read_variation(
    request: Request, pipeline: Pipeline, files: UploadFiles
) -> VariationRequest:
    if _media_type(request) != "multipart/form-data":
        raise InvalidRequestError(
            "Image variations take a multipart/form-data body with one 'image' file.",
            code="unsupported_media_type",
        )
    upload = await read_multipart(request, _limits(pipeline, 1), files)
    upload = _with_path_model(request, upload)
    if upload.overlays:
        name = next(iter(upload.overlays))
        raise InvalidRequestError(f"'{name}' is not a parameter of variations.", param=name)
    return VariationRequest.from_parts(upload.fields, tuple(upload.images))


async def create_edit(request: Request) -> Response:
    router = request.app.services.pipeline.router
    # given back once the upstream has the body (streams included)
    files = UploadFiles(request.app.services.upload_memory)
    try:
        read = functools.partial(read_edit, files=files)
        return await run(
            request, "image_edits", read, router.edit_images, router.stream_edits, finish
        )
    finally:
        files.close()


async def create_variation(request: Request) -> Response:
    router = request.app.services.pipeline.router

    async def never_streamed(ctx: RequestContext, _: VariationRequest) -> AsyncIterator[bytes]:
        # VariationRequest.from_parts refuses ``stream``: never called
        raise InvalidRequestError("'stream' is not available for variations.", param="stream")

    files = UploadFiles(request.app.services.upload_memory)
    try:
        read = functools.partial(read_variation, files=files)
        return await run(
            request, "image_variations", read, router.vary_images, never_streamed, finish
        )
    finally:
        files.close()


EDIT_PATHS = ("/v1/images/edits", "/images/edits", f"{AZURE_PREFIX}/images/edits")
VARIATION_PATHS = ("/v1/images/variations", "/images/variations")
EDIT = Operation(
    summary="Edit images",
    tag="images",
    body=ImageEditRequest,
    body_media_type="multipart/form-data",
    other_bodies=(("application/json", ImageEditJSONRequest),),
    response=ImagesResponse,
    events=ImageStreamEvent,
    errors=MODEL_ERRORS,
    description="OpenAI's `images.edit`: multipart/form-data with `image` (or `image[]` "
    "repeated, up to 16), optional `mask` (a PNG the size of the first image, transparent "
    'where to edit), or a JSON body whose `images` are `{"image_url": <data: URL>}`. '
    "Each image at most `general_settings.max_image_upload_mb` (50 MB), the body at most "
    "`max_image_request_size_mb` (100 MB). With `stream: true` the answer is server-sent "
    "events (`image_edit.partial_image`, `image_edit.completed`).",
)
VARY = Operation(
    summary="Create image variations",
    tag="images",
    body=ImageVariationRequest,
    body_media_type="multipart/form-data",
    response=ImagesResponse,
    errors=MODEL_ERRORS,
    description="OpenAI's `images.create_variation` (dall-e-2's shape): one `image`, no "
    "prompt; served by OpenAI-compatible servers that still have it and by the mock.",
)
routes = [route(path, create_edit, "POST", doc=EDIT) for path in EDIT_PATHS] + [
    route(path, create_variation, "POST", doc=VARY) for path in VARIATION_PATHS
]
