"""``/images/edits`` for OpenAI-compatible upstreams (OpenAI, Azure, compatible servers).

The client's multipart form is rebuilt, never forwarded raw: the text fields it sent (unknown
ones included) as form fields, ``model`` set to the deployment's model id, then the images,
the mask once and GPT Image 2.5's ``markup``:

- GPT image models (``gpt-image-2`` and successors): one image as ``image``, several as
  repeated ``image[]`` parts (what the OpenAI SDKs send; OpenAI refuses ``image[0]``-style
  keys), up to 16; the mask applies to the first. They always answer base64 and reject
  ``response_format``, so it is not sent. ``stream`` relays ``image_edit.partial_image`` /
  ``image_edit.completed`` events as they arrive.
- any other model id (dall-e-2's shape, still served by compatible servers such as LocalAI or
  vLLM-Omni): one square PNG as ``image`` (+ ``mask``), ``response_format`` kept. Several
  images are refused with a 400 rather than silently cut to one.
- ``dall-e-3`` never edited: its deployments are refused before any call.

Masks keep OpenAI's convention (transparent = edit): every upstream here reads it that way.
"""

from __future__ import annotations

from typing import Any

from proxy.config.deployment import Deployment
from proxy.errors import InvalidRequestError
from proxy.providers.base import ImageResult, join_url
from proxy.providers.openai.gpt_image_2 import check_options
from proxy.providers.openai.images import (
    OpenAIImages,
    OpenAIImageStream,
    serves_gpt_image,
    serves_gpt_image_2,
)
from proxy.schemas.edits import EditRequest, InputImage
from proxy.upstream_request import FilePart, UpstreamRequest, UpstreamResponse, form_fields

NEVER_EDITS = ("dall-e-3",)


def model_id(deployment: Deployment) -> str:
    return deployment.model.rsplit("/", 1)[-1].lower()


def file_part(name: str, image: InputImage) -> FilePart:
    """The upload as it came: sent from its temporary file when it is still there."""
    return FilePart(name, image.filename, image.media_type, image.blob)


class OpenAIImageEdits(OpenAIImages):
    supports_edit_stream = True

    def edit_refusal(self, deployment: Deployment) -> str | None:
        if model_id(deployment).startswith(NEVER_EDITS):
            return f"{deployment.model} has no image edits (GPT image models do)"
        return None

    def forwards_uploads(self, deployment: Deployment) -> bool:
        return True  # the OpenAI shape: the files as they came, the mask as OpenAI reads it

    def edit_url(self, deployment: Deployment) -> str:
        return join_url(self.base_url(deployment), "images/edits")

    def edit_fields(self, request: EditRequest, deployment: Deployment) -> dict[str, Any]:
        fields = {"model": deployment.model, **request.params()}
        if serves_gpt_image_2(deployment):
            check_options(fields)  # a 400 naming the rule, before any call
        if serves_gpt_image(deployment):
            fields.pop("response_format", None)  # always base64; the delivery stage converts
        return fields

    def edit_files(self, request: EditRequest, deployment: Deployment) -> list[FilePart]:
        images = request.images
        if len(images) > 1 and not serves_gpt_image(deployment):
            raise InvalidRequestError(
                f"The model '{deployment.model_name}' edits one image at a time "
                f"(dall-e-2's shape); got {len(images)}.",
                param="image",
                code="too_many_images",
            )
        name = "image" if len(images) == 1 else "image[]"
        parts = [file_part(name, image) for image in images]
        if request.mask is not None:
            parts.append(file_part("mask", request.mask))
        if request.markup is not None:
            parts.append(file_part("markup", request.markup))
        return parts

    def build_edit(self, request: EditRequest, deployment: Deployment) -> list[UpstreamRequest]:
        return [
            UpstreamRequest.post_multipart(
                self.edit_url(deployment),
                form_fields(self.edit_fields(request, deployment)),
                self.edit_files(request, deployment),
                stream=request.stream,
            )
        ]

    def parse_edit(
        self, response: UpstreamResponse, request: EditRequest, deployment: Deployment
    ) -> ImageResult:
        return self.images_response(response)

    def edit_stream_translator(
        self, request: EditRequest, deployment: Deployment
    ) -> OpenAIImageStream:
        return OpenAIImageStream()
