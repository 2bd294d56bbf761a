"""Imagen (``imagen-*``, ``imagegeneration@*``) through ``:predict``.

``n`` -> ``parameters.sampleCount`` (at most 4 per call; larger ``n`` fans out), ``size`` ->
the nearest supported ``aspectRatio`` (and ``sampleImageSize: 2K`` past about 1536x1536 pixels),
``output_format`` / ``output_compression`` -> ``outputOptions``. Google's own parameters
(``negativePrompt``, ``personGeneration``, ``seed``, ``safetySetting``, ``sampleImageSize``,
``aspectRatio``, …) pass through into ``parameters`` and win over the translated ones.
"""

from __future__ import annotations

from typing import Any

from proxy.config.deployment import Deployment
from proxy.errors import InvalidRequestError, UpstreamError
from proxy.providers.base import ImageResult
from proxy.providers.google.errors import blocked
from proxy.providers.google.image_params import (
    native_params,
    output_compression,
    output_mime,
    refuse_unsupported,
)
from proxy.providers.google.response import camel_keys, standard_b64
from proxy.providers.google.settings import endpoint
from proxy.providers.google.sizes import IMAGEN_RATIOS, aspect_ratio, resolution_tier
from proxy.schemas import ImageRequest
from proxy.upstream_request import UpstreamRequest, UpstreamResponse

MAX_SAMPLES = 4
TOP_LEVEL = ("labels",)  # Vertex request fields outside ``parameters``


def sample_counts(n: int) -> list[int]:
    counts = [MAX_SAMPLES] * (n // MAX_SAMPLES)
    if n % MAX_SAMPLES:
        counts.append(n % MAX_SAMPLES)
    return counts


def imagen_parameters(request: ImageRequest, deployment: Deployment) -> dict[str, Any]:
    model = deployment.model
    refuse_unsupported(request, model, size_param="sampleImageSize", safety_param="safetySetting")
    parameters: dict[str, Any] = {}
    ratio = aspect_ratio(request.size, IMAGEN_RATIOS)
    if ratio:
        parameters["aspectRatio"] = ratio
    tier = resolution_tier(request.size)
    if tier == "4K":
        raise InvalidRequestError(
            f"size {request.size!r} is larger than {model} can make (at most 2K).",
            param="size",
            code="unsupported_parameter",
        )
    if tier:
        parameters["sampleImageSize"] = tier
    options: dict[str, Any] = {}
    mime = output_mime(request, model, ("png", "jpeg"))
    if mime:
        options["mimeType"] = mime
    quality = output_compression(request)
    if quality is not None:
        options["compressionQuality"] = quality
    if options:
        parameters["outputOptions"] = options
    native = native_params(request)
    nested = native.pop("parameters", None)
    if isinstance(nested, dict):
        native.update(nested)
    for key in TOP_LEVEL:
        native.pop(key, None)
    parameters.update(native)
    return parameters


def build_imagen(request: ImageRequest, deployment: Deployment) -> list[UpstreamRequest]:
    parameters = imagen_parameters(request, deployment)
    top = {k: request.body[k] for k in TOP_LEVEL if k in request.body}
    url = endpoint(deployment, "predict")
    if "sampleCount" in parameters:  # the caller chose the count natively: one call
        counts = [int(parameters.pop("sampleCount"))]
    else:
        counts = sample_counts(request.n)
    return [
        UpstreamRequest.post_json(
            url,
            {
                "instances": [{"prompt": request.prompt}],
                "parameters": {"sampleCount": count, **parameters},
                **top,
            },
        )
        for count in counts
    ]


def parse_imagen(response: UpstreamResponse, provider: str) -> ImageResult:
    body = camel_keys(response.json())
    if not isinstance(body, dict):
        raise UpstreamError(f"{provider} answered with a non-object", provider=provider)
    predictions = body.get("predictions")
    data: list[dict[str, Any]] = []
    reasons: list[str] = []
    formats: set[str] = set()
    for item in predictions if isinstance(predictions, list) else ():
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("bytesBase64Encoded"), str):
            entry: dict[str, Any] = {"b64_json": standard_b64(item["bytesBase64Encoded"])}
        elif isinstance(item.get("gcsUri"), str):
            entry = {"url": item["gcsUri"]}
        else:
            if item.get("raiFilteredReason"):
                reasons.append(str(item["raiFilteredReason"]))
            continue
        if isinstance(item.get("prompt"), str):
            entry["revised_prompt"] = item["prompt"]
        formats.add(str(item.get("mimeType") or "image/png").rpartition("/")[2])
        data.append(entry)
    if not data:
        raise blocked(
            provider,
            "Imagen returned no image",
            "raiFilteredReason" if reasons else None,
            "; ".join(reasons) or "every generated image was filtered out",
        )
    extra = {"output_format": formats.pop()} if len(formats) == 1 else {}
    return ImageResult(data=data, extra=extra)
