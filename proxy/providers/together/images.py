"""``POST {base}/images/generations`` on Together AI, for generations and for edits.

Together has one image endpoint (JSON, ``Authorization: Bearer``); an edit is a generation
with the input image(s) attached. What the proxy translates:

- ``size`` ``WxH`` becomes ``width`` / ``height`` (the exact numbers: Together publishes no
  per-model size list, so it judges them); ``auto`` leaves Together's default (1024x1024).
  Explicit ``width`` / ``height`` pass, but not together with ``size``.
- ``n`` 1-4 (Together's limit). ``response_format``: ``b64_json`` is Together's ``base64``,
  ``url`` stays ``url``. ``output_format`` ``jpeg`` / ``png`` pass (Together has no webp).
- Together's own fields pass through untouched: ``steps``, ``seed``, ``negative_prompt``,
  ``guidance_scale``, ``disable_safety_checker``, ``image_loras``, ``image_url``,
  ``reference_images``, ...; OpenAI parameters it lacks (``quality``, ``style``,
  ``background``, ``moderation``, ``output_compression``, ``partial_images``,
  ``input_fidelity``) are a 400.
- Edits: the uploads become data URLs. FLUX.1 Kontext takes one image as ``image_url``;
  FLUX.2 [dev] and the Google models take ``reference_images`` only; the other FLUX.2 models
  take one image as ``image_url`` and several as ``reference_images`` (docs.together.ai,
  "reference images"). Other models have no image input: their deployments cannot edit.
  Together has no mask: a mask is a 400.

The answer's ``data[].b64_json`` / ``data[].url`` become OpenAI items. Errors are
OpenAI-shaped (``{"error": {"message", "type", "param", "code"}}``) and map by status; a 402
(no credits) is ``insufficient_quota``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from proxy.config.deployment import Deployment
from proxy.errors import InvalidRequestError, ProxyError, UpstreamError, UpstreamQuotaError
from proxy.providers.base import (
    ImageResult,
    NoEditStream,
    NoImageStream,
    join_url,
)
from proxy.providers.upstream_errors import extract_message, map_http_error
from proxy.schemas import ImageRequest
from proxy.schemas.edits import EditRequest
from proxy.upstream_request import UpstreamRequest, UpstreamResponse

PROVIDER = "together_ai"
DEFAULT_BASE = "https://api.together.xyz/v1"
MAX_N = 4
OUTPUT_FORMATS = ("jpeg", "png")
RESPONSE_FORMATS = {"b64_json": "base64", "url": "url"}
WXH = re.compile(r"([0-9]{1,5})[xX]([0-9]{1,5})")  # ASCII digits only, a sane length

UNSUPPORTED = {
    "quality": "choose the model and 'steps' instead",
    "style": "describe the style in the prompt",
    "background": "Together has no background setting",
    "moderation": "Together's own switch is 'disable_safety_checker'",
    "output_compression": "Together does not take a compression level",
    "partial_images": "Together does not stream images",
    "input_fidelity": "Together has no input fidelity setting",
}
# Read here and translated, or read by the proxy (``user``), never copied as they are.
CONSUMED = ("size", "response_format", "stream", "user")
ITEM_FIELDS = ("url", "b64_json")


def model_id(deployment: Deployment) -> str:
    return deployment.model.lower()


def api_key(deployment: Deployment) -> str | None:
    return deployment.params.api_key  # or TOGETHER_API_KEY...: the loader fills it


def base_url(deployment: Deployment) -> str:
    return deployment.params.api_base or DEFAULT_BASE


def image_input(deployment: Deployment) -> str | None:
    """How the model takes input images: ``image_url`` (one), ``reference_images`` (only),
    ``both`` (one as ``image_url``, several as ``reference_images``) or None (no input)."""
    name = model_id(deployment)
    if "kontext" in name:
        return "image_url"
    if "flux.2-dev" in name or name.startswith("google/") or "gemini" in name:
        return "reference_images"
    if "flux.2" in name:
        return "both"
    return None


def refuse_unsupported(body: Mapping[str, Any]) -> None:
    for name, hint in UNSUPPORTED.items():
        if body.get(name) is not None:
            raise InvalidRequestError(
                f"'{name}' is not supported by Together AI: {hint}.",
                param=name,
                code="unsupported_parameter",
            )


def dimensions(size: str) -> tuple[int, int]:
    match = WXH.fullmatch(size)
    if match is not None and int(match[1]) and int(match[2]):
        return int(match[1]), int(match[2])
    raise InvalidRequestError(
        f"size {size!r} is not WIDTHxHEIGHT (e.g. 1024x768) or 'auto'; Together takes the "
        "width and height in pixels.",
        param="size",
        code="invalid_size",
    )


def payload(
    body: Mapping[str, Any], size: str | None, n: int, deployment: Deployment
) -> dict[str, Any]:
    """The generation body both endpoints start from."""
    refuse_unsupported(body)
    if n > MAX_N:
        raise InvalidRequestError(
            f"'n' must be between 1 and {MAX_N} for Together AI, got {n}.", param="n"
        )
    out = {k: v for k, v in body.items() if k not in ("model", *CONSUMED)}
    out["model"] = deployment.model
    if size is not None and size != "auto":
        if body.get("width") is not None or body.get("height") is not None:
            raise InvalidRequestError(
                "Send either 'size' or 'width' / 'height' to Together AI, not both.",
                param="size",
            )
        out["width"], out["height"] = dimensions(size)
    response_format = body.get("response_format")
    if response_format is not None:
        out["response_format"] = RESPONSE_FORMATS[response_format]
    output_format = body.get("output_format")
    if output_format is not None and output_format not in OUTPUT_FORMATS:
        raise InvalidRequestError(
            f"'output_format' must be 'jpeg' or 'png' for Together AI, got {output_format!r}.",
            param="output_format",
        )
    return out


def parse_images(response: UpstreamResponse) -> ImageResult:
    body = response.json()
    if not isinstance(body, dict) or isinstance(body.get("error"), dict):
        raise UpstreamError(f"{PROVIDER} answered without images", provider=PROVIDER)
    items = body.get("data")
    data = [
        {k: item[k] for k in ITEM_FIELDS if isinstance(item.get(k), str) and item[k]}
        for item in (items if isinstance(items, list) else ())
        if isinstance(item, dict)
    ]
    data = [d for d in data if d]
    if not data:
        raise UpstreamError(f"{PROVIDER} answered without an image", provider=PROVIDER)
    created = body.get("created") if isinstance(body.get("created"), int) else None
    return ImageResult(data=data, created=created)


def map_error(response: UpstreamResponse) -> ProxyError:
    if response.status == 402:
        message, _, _ = extract_message(response.body)
        return UpstreamQuotaError(
            f"{PROVIDER}: the account has insufficient credits (402): {message}",
            provider=PROVIDER,
        )
    return map_http_error(response.status, response.headers, response.body, PROVIDER)


class TogetherImages(NoImageStream, NoEditStream):
    provider = PROVIDER
    # Together's image links (api.together.ai/shrt/...) redirect to its storage: the
    # proxy always asks for the format the client wants, so it never has to download them.
    image_hosts = ("api.together.ai", "api.together.xyz")

    def url(self, deployment: Deployment) -> str:
        return join_url(base_url(deployment), "images/generations")

    def build(self, request: ImageRequest, deployment: Deployment) -> list[UpstreamRequest]:
        body = payload(request.body, request.size, request.n, deployment)
        return [UpstreamRequest.post_json(self.url(deployment), body)]

    def parse(
        self, response: UpstreamResponse, request: ImageRequest, deployment: Deployment
    ) -> ImageResult:
        return parse_images(response)

    # --- edits -------------------------------------------------------------------------

    def edit_refusal(self, deployment: Deployment) -> str | None:
        if image_input(deployment) is None:
            return (
                f"{deployment.model} takes no input image on Together AI (FLUX.1 Kontext, "
                "FLUX.2 and the Google image models do)"
            )
        return None

    def edit_payload(self, request: EditRequest, deployment: Deployment) -> dict[str, Any]:
        if request.mask is not None or request.markup is not None:
            name = "mask" if request.mask is not None else "markup"
            raise InvalidRequestError(
                f"'{name}' is not supported by Together AI: it has no masks; describe the "
                "change in the prompt instead.",
                param=name,
                code="unsupported_parameter",
            )
        for name in ("image_url", "reference_images"):
            if request.body.get(name) is not None:
                raise InvalidRequestError(
                    f"'{name}' cannot be combined with uploaded images on /v1/images/edits.",
                    param=name,
                )
        kind = image_input(deployment)
        images = request.images
        body = payload(request.body, request.size, request.n, deployment)
        if kind == "image_url" and len(images) > 1:
            raise InvalidRequestError(
                f"The model '{deployment.model_name}' edits one image at a time on Together AI "
                f"(FLUX.1 Kontext's image_url); got {len(images)}.",
                param="image",
                code="too_many_images",
            )
        if kind == "reference_images" or (kind == "both" and len(images) > 1):
            body["reference_images"] = [image.data_url for image in images]
        else:
            body["image_url"] = images[0].data_url
        return body

    def build_edit(self, request: EditRequest, deployment: Deployment) -> list[UpstreamRequest]:
        refusal = self.edit_refusal(deployment)
        if refusal is not None:
            raise InvalidRequestError(refusal, param="model")
        body = self.edit_payload(request, deployment)
        return [UpstreamRequest.post_json(self.url(deployment), body)]

    def parse_edit(
        self, response: UpstreamResponse, request: EditRequest, deployment: Deployment
    ) -> ImageResult:
        return parse_images(response)

    def map_error(self, response: UpstreamResponse, deployment: Deployment) -> ProxyError:
        return map_error(response)
