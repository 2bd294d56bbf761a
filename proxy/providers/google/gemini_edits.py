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
from proxy.providers.google.gemini_images import gemini_image_body
from proxy.providers.google.settings import endpoint, is_image_model, is_imagen
from proxy.providers.prompt_edits import prompt_edit_as_generation
from proxy.schemas.edits import EditRequest, InputImage
from proxy.upstream_request import UpstreamRequest, fan_out


def gemini_edit_refusal(deployment: Deployment) -> str | None:
    if is_imagen(deployment.model):
        return (
            f"{deployment.model} is an Imagen model; Google shut Imagen down, its edit model "
            "included (Gemini image models edit)"
        )
    if not is_image_model(deployment.model):
        return f"{deployment.model} makes no images (Gemini image models edit)"
    return None


def inline_part(image: InputImage) -> dict[str, dict[str, str]]:
    return {
        "inlineData": {
            "mimeType": image.media_type,
            "data": base64.b64encode(image.data).decode("ascii"),
        }
    }


def build_gemini_edit(request: EditRequest, deployment: Deployment) -> list[UpstreamRequest]:
    generation = prompt_edit_as_generation(request, deployment.model, "Gemini")
    payload = gemini_image_body(generation, deployment)
    (content,) = payload["contents"]
    content["parts"][:0] = [inline_part(image) for image in request.images]
    url = endpoint(deployment, "generateContent")
    return fan_out(UpstreamRequest.post_json(url, payload), request.n)
