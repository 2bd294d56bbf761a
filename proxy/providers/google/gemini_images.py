"""Gemini image models (``gemini-*-image*``) on ``/v1/images/generations``.

Google rejects ``candidateCount > 1`` for image models, so ``n`` fans out into ``n`` parallel
``:generateContent`` calls. ``size`` -> ``imageConfig.aspectRatio`` (nearest supported ratio)
and, on 3.x models, ``imageConfig.imageSize``: the smallest tier whose image at that ratio
covers the request's long side (``2K`` / ``4K``; 1K, the default, is not sent).

Native fields pass through: ``aspectRatio``, ``imageSize``, ``imageConfig`` and
``personGeneration`` into ``imageConfig``; ``seed``, ``temperature``, ``topP``, ``topK``,
``thinkingConfig``, ``responseModalities`` and a ``generationConfig`` object into
``generationConfig``; anything else (``safetySettings``, ``tools``, ``labels``, …) at the top
of the body.
"""

from __future__ import annotations

from typing import Any

from proxy.config.deployment import Deployment
from proxy.errors import InvalidRequestError, UpstreamError
from proxy.providers.base import ImageResult, Usage
from proxy.providers.google.errors import blocked
from proxy.providers.google.image_params import (
    native_params,
    output_compression,
    output_mime,
    refuse_unsupported,
)
from proxy.providers.google.response import (
    camel_keys,
    first_candidate,
    image_usage,
    prompt_block,
)
from proxy.providers.google.settings import endpoint, model_name
from proxy.providers.google.sizes import (
    aspect_ratio,
    gemini_ratios,
    gemini_tier,
    resolution_tier,
)
from proxy.schemas import ImageRequest
from proxy.upstream_request import UpstreamRequest, UpstreamResponse, fan_out

IMAGE_CONFIG_FIELDS = {
    "aspectRatio": "aspectRatio",
    "aspect_ratio": "aspectRatio",
    "imageSize": "imageSize",
    "image_size": "imageSize",
    "personGeneration": "personGeneration",
    "person_generation": "personGeneration",
    "prominentPeople": "prominentPeople",
    "prominent_people": "prominentPeople",
}
GENERATION_FIELDS = {
    "seed": "seed",
    "temperature": "temperature",
    "topP": "topP",
    "top_p": "topP",
    "topK": "topK",
    "top_k": "topK",
    "thinkingConfig": "thinkingConfig",
    "thinking_config": "thinkingConfig",
    "responseModalities": "responseModalities",
    "response_modalities": "responseModalities",
    "candidateCount": "candidateCount",
    "candidate_count": "candidateCount",
}
DEFAULT_MODALITIES = ("TEXT", "IMAGE")
# 3.x image models with one resolution (1K, per LiteLLM's model map; Google's own table for
# them was not found): no imageSize is derived from ``size`` (a native imageSize still passes).
ONE_TIER_MODELS = ("gemini-3.1-flash-lite-image",)


def _dict(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidRequestError(f"'{name}' must be an object.", param=name)
    return dict(value)


def image_config(
    request: ImageRequest, deployment: Deployment, native: dict[str, Any], base: dict[str, Any]
) -> dict[str, Any]:
    """``imageConfig`` from ``size`` and ``output_format`` plus the native fields (which win)."""
    model = deployment.model
    config: dict[str, Any] = {}
    ratio = aspect_ratio(request.size, gemini_ratios(model))
    if ratio:
        config["aspectRatio"] = ratio
    if model_name(model).startswith("gemini-2."):
        if resolution_tier(request.size):
            raise InvalidRequestError(
                f"size {request.size!r} is larger than {model} can make (about 1024 px).",
                param="size",
                code="unsupported_parameter",
            )
    elif model_name(model).startswith(ONE_TIER_MODELS):
        pass  # 1K only: the size's ratio is honoured, its resolution is the model's
    elif tier := gemini_tier(request.size, ratio):
        config["imageSize"] = tier
    mime = output_mime(request, model, ("png", "jpeg"))
    quality = output_compression(request)
    if mime or quality is not None:
        if deployment.provider != "vertex_ai":
            raise InvalidRequestError(
                f"'output_format' / 'output_compression' are not supported by {model} on the "
                "Gemini API (only on Vertex AI).",
                param="output_format" if mime else "output_compression",
                code="unsupported_parameter",
            )
        options: dict[str, Any] = {"mimeType": mime} if mime else {}
        if quality is not None:
            options["compressionQuality"] = quality
        config["imageOutputOptions"] = options
    config.update(base)
    config.update(_dict(native.pop("imageConfig", None), "imageConfig"))
    config.update(_dict(native.pop("image_config", None), "image_config"))
    for key, wire in IMAGE_CONFIG_FIELDS.items():
        if key in native:
            config[wire] = native.pop(key)
    return config


def gemini_image_body(request: ImageRequest, deployment: Deployment) -> dict[str, Any]:
    refuse_unsupported(
        request, deployment.model, size_param="imageSize", safety_param="safetySettings"
    )
    native = native_params(request)
    generation = _dict(native.pop("generationConfig", None), "generationConfig")
    generation.update(_dict(native.pop("generation_config", None), "generation_config"))
    for key, wire in GENERATION_FIELDS.items():
        if key in native:
            generation[wire] = native.pop(key)
    if generation.get("candidateCount", 1) != 1:
        raise InvalidRequestError(
            "Gemini image models make one candidate per call; use 'n' for several images.",
            param="candidateCount",
        )
    generation.pop("candidateCount", None)
    config = image_config(
        request,
        deployment,
        native,
        _dict(generation.pop("imageConfig", None), "generationConfig.imageConfig"),
    )
    if config:
        generation["imageConfig"] = config
    generation.setdefault("responseModalities", list(DEFAULT_MODALITIES))
    return {
        "contents": [{"role": "user", "parts": [{"text": request.prompt}]}],
        "generationConfig": generation,
        **native,
    }


def build_gemini_images(request: ImageRequest, deployment: Deployment) -> list[UpstreamRequest]:
    body = gemini_image_body(request, deployment)
    url = endpoint(deployment, "generateContent")
    return fan_out(UpstreamRequest.post_json(url, body), request.n)


def parse_gemini_images(response: UpstreamResponse, provider: str) -> ImageResult:
    body = camel_keys(response.json())
    if not isinstance(body, dict):
        raise UpstreamError(f"{provider} answered with a non-object", provider=provider)
    block = prompt_block(body)
    if block:
        raise blocked(provider, "the prompt was blocked", *block)
    candidate = first_candidate(body)
    if candidate is None:
        raise blocked(provider, "Gemini returned no candidates", None, None)
    if not candidate.images:
        detail = candidate.finish_message or " ".join(candidate.texts) or None
        raise blocked(provider, "Gemini returned no image", candidate.finish_reason, detail)
    formats = {image.format for image in candidate.images}
    return ImageResult(
        data=[{"b64_json": image.data} for image in candidate.images],
        usage=Usage.of(image_usage(body, images_only=not candidate.texts)),
        extra={"output_format": formats.pop()} if len(formats) == 1 else {},
    )
