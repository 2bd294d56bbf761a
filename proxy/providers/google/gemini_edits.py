"""Gemini image models (``gemini-*-image*``) on ``/v1/images/edits``: edits by prompt.

Each uploaded image becomes one ``inlineData`` part (its sniffed ``mimeType``, standard
base64), in the client's order, followed by the prompt's ``text`` part, all in one user
content; the rest is the generations body (``gemini_image_body``): ``size`` ->
``imageConfig.aspectRatio`` / ``imageSize``, Google's own fields passed through, ``n`` fanned
out into ``n`` calls (image models refuse ``candidateCount > 1``). The answers parse as
generations do (thought images skipped, input image tokens in the usage).

Gemini has no mask and no edit mode: a ``mask`` (or GPT Image 2.5's ``markup``) is refused
with a 400 before any call, never dropped, as is ``input_fidelity=high``. Imagen (shut down
on 2026-08-17, its edit model with it) and text-only Gemini models cannot edit: their
deployments are refused before any call.
"""

from __future__ import annotations

import base64

from proxy.config.deployment import Deployment
from proxy.errors import InvalidRequestError
from proxy.providers.google.gemini_images import gemini_image_body
from proxy.providers.google.settings import endpoint, is_image_model, is_imagen
from proxy.schemas import ImageRequest
from proxy.schemas.edits import EditRequest, InputImage
from proxy.upstream_request import UpstreamRequest, fan_out

EDIT_ONLY_DEFAULTS = {"input_fidelity": (None, "low")}  # OpenAI's edit fields Gemini lacks


def gemini_edit_refusal(deployment: Deployment) -> str | None:
    if is_imagen(deployment.model):
        return (
            f"{deployment.model} is an Imagen model; Google shut Imagen down, its edit model "
            "included (Gemini image models edit)"
        )
    if not is_image_model(deployment.model):
        return f"{deployment.model} makes no images (Gemini image models edit)"
    return None


def _refuse_overlays(request: EditRequest, model: str) -> None:
    for name, overlay in (("mask", request.mask), ("markup", request.markup)):
        if overlay is not None:
            raise InvalidRequestError(
                f"'{name}' is not supported by {model}: Gemini edits by prompt only (no mask, "
                "no edit mode). Send the edit without it and say in the prompt what to change "
                "and where.",
                param=name,
                code="unsupported_parameter",
            )
    for name, defaults in EDIT_ONLY_DEFAULTS.items():
        value = request.body.get(name)
        if value not in defaults:
            raise InvalidRequestError(
                f"'{name}'={value!r} is not supported by {model}: Gemini has no such setting; "
                "say in the prompt what of the input images to keep.",
                param=name,
                code="unsupported_parameter",
            )


def inline_part(image: InputImage) -> dict[str, dict[str, str]]:
    return {
        "inlineData": {
            "mimeType": image.media_type,
            "data": base64.b64encode(image.data).decode("ascii"),
        }
    }


def as_generation(request: EditRequest) -> ImageRequest:
    """The edit's text fields as a generation request (the edit-only fields left out)."""
    return ImageRequest.from_body(
        {k: v for k, v in request.body.items() if k not in EDIT_ONLY_DEFAULTS}
    )


def build_gemini_edit(request: EditRequest, deployment: Deployment) -> list[UpstreamRequest]:
    _refuse_overlays(request, deployment.model)
    payload = gemini_image_body(as_generation(request), deployment)
    (content,) = payload["contents"]
    content["parts"][:0] = [inline_part(image) for image in request.images]
    url = endpoint(deployment, "generateContent")
    return fan_out(UpstreamRequest.post_json(url, payload), request.n)
