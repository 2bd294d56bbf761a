"""``POST {base}/images/generations`` and ``POST {base}/images/edits`` on xAI.

Both are JSON (``Authorization: Bearer``). What the proxy translates:

- ``size`` becomes ``aspect_ratio`` + ``resolution`` (``proxy.providers.xai.sizes``); a size
  xAI cannot produce is a 400, ``size`` itself is never sent (xAI refuses it). ``auto`` means
  "xAI's default" and is left out. ``aspect_ratio`` / ``resolution`` sent by the client are
  checked against xAI's lists and pass; together with ``size`` they are a 400.
- ``quality`` goes only to the models that take it (``grok-imagine-image-2.0``: ``low``,
  ``medium``, ``high``; xAI says the others ignore it, so there it is a 400, never a silent
  drop). ``auto`` is left out.
- OpenAI parameters xAI does not have (``background``, ``moderation``, ``output_format``,
  ``output_compression``, ``partial_images``, ``style``, ``input_fidelity``) are refused
  with a 400.
- Edits: the SDK's multipart upload becomes ``image: {"url": "data:..."}`` (one image) or
  ``images: [{"url": ...}, ...]`` (two or three; xAI's limit). xAI's mask field has no
  documented meaning, so a mask is refused: xAI edits by prompt. A one-image edit keeps the
  input's aspect ratio (xAI), so ``size`` is refused there; with several images ``size``
  translates as for generations.

The answer keeps ``url`` / ``b64_json`` / ``revised_prompt`` per item (``mime_type`` is not
an OpenAI field). ``usage.cost_in_usd_ticks`` (10^10 ticks = 1 USD) becomes ``usage.cost`` in
USD, which the price table's ``provider_reported`` entries bill exactly.

Errors are flat ``{"code": "<status text>", "error": "<message>"}``; a wrong key is an HTTP
400 saying "Incorrect API key", handled as the 401 it is (the proxy's credentials, not the
caller's request).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from proxy.config.deployment import Deployment
from proxy.errors import ContentPolicyError, InvalidRequestError, ProxyError, UpstreamError
from proxy.providers.base import (
    ImageResult,
    NoEditStream,
    NoImageStream,
    Usage,
    join_url,
)
from proxy.providers.upstream_errors import extract_message, map_http_error
from proxy.providers.xai.sizes import ASPECT_RATIOS, RESOLUTIONS, translate
from proxy.schemas import ImageRequest
from proxy.schemas.edits import EditRequest, InputImage
from proxy.upstream_request import UpstreamRequest, UpstreamResponse

PROVIDER = "xai"
DEFAULT_BASE = "https://api.x.ai/v1"
MAX_EDIT_IMAGES = 3
TICKS_PER_USD = 10_000_000_000
QUALITY_MODELS = ("grok-imagine-image-2.0",)
QUALITIES = ("low", "medium", "high")

UNSUPPORTED = {
    "background": "xAI has no background setting",
    "moderation": "xAI has no moderation setting",
    "output_format": "xAI chooses the image format itself (its answer names it)",
    "output_compression": "xAI does not take a compression level",
    "partial_images": "xAI does not stream images",
    "style": "xAI refuses 'style'; describe the style in the prompt",
    "input_fidelity": "xAI has no input fidelity setting",
}
# Read here and translated, or read by the proxy, never copied as they are.
CONSUMED = ("size", "quality", "stream", "aspect_ratio", "resolution")
ITEM_FIELDS = ("url", "b64_json", "revised_prompt")


def model_id(deployment: Deployment) -> str:
    return deployment.model.lower()


def api_key(deployment: Deployment) -> str | None:
    return deployment.params.api_key  # or XAI_API_KEY: the loader fills it (registry)


def base_url(deployment: Deployment) -> str:
    return deployment.params.api_base or DEFAULT_BASE


def refuse_unsupported(body: Mapping[str, Any]) -> None:
    for name, hint in UNSUPPORTED.items():
        if body.get(name) is not None:
            raise InvalidRequestError(
                f"'{name}' is not supported by xAI: {hint}.",
                param=name,
                code="unsupported_parameter",
            )


def shape(body: Mapping[str, Any], size: str | None) -> dict[str, str]:
    """``aspect_ratio`` / ``resolution`` from the client's ``size`` or its own fields."""
    ratio, resolution = body.get("aspect_ratio"), body.get("resolution")
    if size is not None and size != "auto":
        if ratio is not None or resolution is not None:
            raise InvalidRequestError(
                "Send either 'size' or 'aspect_ratio' / 'resolution' to xAI, not both.",
                param="size",
            )
        ratio, resolution = translate(size)
    out: dict[str, str] = {}
    if ratio is not None:
        if ratio not in ASPECT_RATIOS:
            raise InvalidRequestError(
                f"'aspect_ratio' must be one of {', '.join(ASPECT_RATIOS)} for xAI, got {ratio!r}.",
                param="aspect_ratio",
            )
        out["aspect_ratio"] = ratio
    if resolution is not None:
        value = resolution.lower() if isinstance(resolution, str) else resolution
        if value not in RESOLUTIONS:
            raise InvalidRequestError(
                f"'resolution' must be one of {', '.join(RESOLUTIONS)} for xAI, "
                f"got {resolution!r}.",
                param="resolution",
            )
        out["resolution"] = value
    return out


def quality(body: Mapping[str, Any], deployment: Deployment) -> dict[str, str]:
    value = body.get("quality")
    if value is None or value == "auto":
        return {}
    if model_id(deployment) not in QUALITY_MODELS:
        raise InvalidRequestError(
            f"'quality' is not supported by xAI model {deployment.model!r} (only "
            f"{', '.join(QUALITY_MODELS)} takes it); choose a model instead.",
            param="quality",
            code="unsupported_parameter",
        )
    if value not in QUALITIES:
        raise InvalidRequestError(
            f"'quality' must be one of {', '.join(QUALITIES)} for xAI, got {value!r}.",
            param="quality",
        )
    return {"quality": value}


def data_url(image: InputImage) -> dict[str, str]:
    return {"url": image.data_url}


def images_usage(usage: Any) -> dict[str, Any] | None:
    """xAI's usage -> ``{"cost": <USD>}``, or None without a cost."""
    if not isinstance(usage, dict):
        return None
    ticks = usage.get("cost_in_usd_ticks")
    if isinstance(ticks, bool) or not isinstance(ticks, int) or ticks < 0:
        return None
    return {"cost": ticks / TICKS_PER_USD}


def parse_images(response: UpstreamResponse) -> ImageResult:
    body = response.json()
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise UpstreamError(f"{PROVIDER} answered without a 'data' list", provider=PROVIDER)
    data = []
    for item in body["data"]:
        if not isinstance(item, dict):
            continue
        kept = {k: item[k] for k in ITEM_FIELDS if isinstance(item.get(k), str) and item[k]}
        if "url" in kept or "b64_json" in kept:
            data.append(kept)
    if not data:
        reason = body.get("block_reason")
        if isinstance(reason, str) and reason:
            raise ContentPolicyError(f"{PROVIDER}: the request was blocked ({reason})")
        raise UpstreamError(f"{PROVIDER} answered without an image", provider=PROVIDER)
    created = body.get("created") if isinstance(body.get("created"), int) else None
    usage = images_usage(body.get("usage"))
    return ImageResult(data=data, usage=Usage.of(usage), created=created)


def map_error(response: UpstreamResponse) -> ProxyError:
    message, _, _ = extract_message(response.body)
    status = response.status
    lowered = message.lower()
    if status == 400 and ("incorrect api key" in lowered or "invalid api key" in lowered):
        status = 401  # xAI answers a wrong key with a 400
    elif status == 400 and "moderation" in lowered:
        return ContentPolicyError(f"{PROVIDER}: {message}", provider=PROVIDER)
    return map_http_error(status, response.headers, response.body, PROVIDER)


class XAIImages(NoImageStream, NoEditStream):
    provider = PROVIDER
    image_hosts = ("imgen.x.ai",)  # xAI's temporary image URLs

    # --- generations -------------------------------------------------------------------

    def payload(self, request: ImageRequest, deployment: Deployment) -> dict[str, Any]:
        refuse_unsupported(request.body)
        body = request.params(*CONSUMED)
        body["model"] = deployment.model
        body.update(shape(request.body, request.size))
        body.update(quality(request.body, deployment))
        return body

    def build(self, request: ImageRequest, deployment: Deployment) -> list[UpstreamRequest]:
        url = join_url(base_url(deployment), "images/generations")
        return [UpstreamRequest.post_json(url, self.payload(request, deployment))]

    def parse(
        self, response: UpstreamResponse, request: ImageRequest, deployment: Deployment
    ) -> ImageResult:
        return parse_images(response)

    # --- edits -------------------------------------------------------------------------

    def edit_refusal(self, deployment: Deployment) -> str | None:
        return None

    def edit_payload(self, request: EditRequest, deployment: Deployment) -> dict[str, Any]:
        refuse_unsupported(request.body)
        if request.mask is not None:
            raise InvalidRequestError(
                "'mask' is not supported by xAI: xAI edits by prompt; describe the change "
                "in the prompt instead.",
                param="mask",
                code="unsupported_parameter",
            )
        if request.markup is not None:
            raise InvalidRequestError(
                "'markup' is not supported by xAI.", param="markup", code="unsupported_parameter"
            )
        images = request.images
        if len(images) > MAX_EDIT_IMAGES:
            raise InvalidRequestError(
                f"xAI edits at most {MAX_EDIT_IMAGES} images at a time, got {len(images)}.",
                param="image",
                code="too_many_images",
            )
        body = request.params(*CONSUMED)
        body["model"] = deployment.model
        if len(images) == 1:
            if request.size not in (None, "auto") or request.body.get("aspect_ratio") is not None:
                raise InvalidRequestError(
                    "xAI keeps the input image's aspect ratio when it edits one image: leave "
                    "'size' out (or send several images to choose a ratio).",
                    param="size",
                )
            body.update(shape({"resolution": request.body.get("resolution")}, None))
            body["image"] = data_url(images[0])
        else:
            body.update(shape(request.body, request.size))
            body["images"] = [data_url(image) for image in images]
        body.update(quality(request.body, deployment))
        return body

    def build_edit(self, request: EditRequest, deployment: Deployment) -> list[UpstreamRequest]:
        url = join_url(base_url(deployment), "images/edits")
        return [UpstreamRequest.post_json(url, self.edit_payload(request, deployment))]

    def parse_edit(
        self, response: UpstreamResponse, request: EditRequest, deployment: Deployment
    ) -> ImageResult:
        return parse_images(response)

    def map_error(self, response: UpstreamResponse, deployment: Deployment) -> ProxyError:
        return map_error(response)
