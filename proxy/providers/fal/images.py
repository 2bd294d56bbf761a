"""fal.ai (``fal_ai/<app id>``, e.g. ``fal_ai/fal-ai/flux/schnell``): synchronous runs,
``POST {base}/{app id}`` with the app's own input JSON and ``Authorization: Key <key>``.

Generations send ``prompt``, ``num_images`` (``n``, 1-4), ``image_size`` ``{"width",
"height"}`` (from ``size``; ``auto`` leaves the app's default; the app's own ``image_size``, a
preset such as ``landscape_16_9`` or an object, wins) and ``output_format`` (``jpeg`` /
``png``); the app's other fields (``num_inference_steps``, ``seed``, ``guidance_scale``,
``enable_safety_checker``, ``sync_mode``, ...) pass through. The OpenAI parameters fal's image
apps have no equivalent for are refused with a 400 naming them.

The answer ``{"images": [{"url", "width", "height", "content_type"}], "has_nsfw_concepts":
[...], "seed", ...}`` becomes ``url`` items: CDN URLs (``fal.media``) that the delivery stage
downloads when the client asks for ``b64_json``, or, with ``sync_mode``, ``data:`` URIs it
decodes. An image fal flagged in ``has_nsfw_concepts`` (its safety checker blacks it out) is
dropped; when every image was flagged the answer is a 400 ``content_policy_violation``.

Edits (``/v1/images/edits``) go to the edit app: the app id as configured when one of its
segments names an edit app (``.../edit``, ``qwen-image-edit``, ``kontext``, ``fill``), else
``{app id}/edit`` (LiteLLM's convention: ``fal-ai/nano-banana`` -> ``fal-ai/nano-banana/edit``).
The images travel as data URLs: Kontext apps take one ``image_url``; Fill apps ``image_url`` and
``mask_url`` (the OpenAI mask converted to white = edit, as FLUX Fill reads it); every other edit
app (FLUX.2, Nano Banana, GPT Image, Seedream, ...) ``image_urls``, a list even for one image.
A mask for an app that takes none is a 400.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

from proxy.config.deployment import Deployment
from proxy.credentials.base import Credentials, HeaderKey, NoCredentials
from proxy.errors import ContentPolicyError, InvalidRequestError, ProxyError, UpstreamError
from proxy.providers.base import (
    ImageResult,
    NoEditStream,
    NoImageStream,
    join_url,
)
from proxy.providers.image_params import (
    EDIT_PARAMS,
    native_params,
    parse_size,
    refuse,
    refuse_unsupported,
)
from proxy.providers.masks import WHITE_EDITS, converted_mask
from proxy.providers.upstream_errors import map_http_error
from proxy.redact import redact_text
from proxy.schemas import ImageRequest
from proxy.schemas.edits import EditRequest
from proxy.upstream_request import UpstreamRequest, UpstreamResponse

PROVIDER = "fal_ai"
LABEL = "fal.ai"
DEFAULT_BASE = "https://fal.run"
KEY_PAIR_ENVS = ("FAL_KEY_ID", "FAL_KEY_SECRET")  # fal-client's other form: id:secret
ENVIRONMENT = KEY_PAIR_ENVS  # FAL_AI_API_KEY / FAL_KEY / FAL_AI_API_BASE: the registry
MAX_N = 4
OUTPUT_FORMATS = ("jpeg", "png")
SIZES = "WIDTHxHEIGHT in pixels (e.g. 1024x768), auto, or the app's own image_size"

UNSUPPORTED = {
    "quality": "fal's image apps take no OpenAI quality; pick the app (e.g. flux-pro) instead",
    "background": "fal's FLUX apps make opaque images",
    "moderation": "use the app's own 'enable_safety_checker' / 'safety_tolerance'",
    "output_compression": "fal's image apps take no compression level",
    "partial_images": "fal's synchronous runs do not stream images",
    "style": "fal's image apps take no OpenAI style; describe it in the prompt",
    "input_fidelity": "fal's edit apps take no input fidelity setting",
}
EDIT_APP_MARKERS = ("edit", "kontext", "fill")


def app_id(deployment: Deployment) -> str:
    return deployment.model.strip("/")


def validate(deployment: Deployment) -> str | None:
    if "/" not in app_id(deployment):
        return (
            f"litellm_params.model: fal_ai/{deployment.model} is not a fal app id; write "
            "fal_ai/<owner>/<app>, e.g. fal_ai/fal-ai/flux/schnell"
        )
    if deployment.available and not api_key(deployment) and not deployment.params.api_base:
        return "litellm_params.api_key: required for fal_ai (or set FAL_AI_API_KEY / FAL_KEY)"
    return None


def api_key(deployment: Deployment) -> str | None:
    """``api_key``, else ``FAL_AI_API_KEY``, else ``FAL_KEY``, else ``FAL_KEY_ID:FAL_KEY_SECRET``
    (fal-client's order after LiteLLM's name)."""
    key = deployment.params.api_key  # or FAL_AI_API_KEY / FAL_KEY: the loader fills it
    if key:
        return key
    key_id, secret = (deployment.env(name) for name in KEY_PAIR_ENVS)
    return f"{key_id}:{secret}" if key_id and secret else None


def credentials(deployment: Deployment) -> Credentials:
    key = api_key(deployment)
    return HeaderKey("authorization", f"Key {key}") if key else NoCredentials()


def base_url(deployment: Deployment) -> str:
    return deployment.params.api_base or DEFAULT_BASE


def edit_app(deployment: Deployment) -> str:
    """The app an edit goes to: as configured when it already is an edit app, else
    ``{app}/edit``."""
    app = app_id(deployment)
    segments = app.lower().split("/")
    if any(marker in segment for segment in segments for marker in EDIT_APP_MARKERS):
        return app
    return f"{app}/edit"


def common_fields(request: ImageRequest | EditRequest) -> dict[str, Any]:
    """What generations and edits share: the app's own fields, ``num_images``,
    ``image_size`` and ``output_format``."""
    refuse_unsupported(request.body, UNSUPPORTED, LABEL)
    if request.n > MAX_N:
        raise InvalidRequestError(
            f"'n' must be between 1 and {MAX_N} for {LABEL}, got {request.n}.", param="n"
        )
    fields = native_params(request, EDIT_PARAMS)
    fields["num_images"] = request.n
    size = parse_size(LABEL, request.size, SIZES)
    if size is not None and fields.get("image_size") is None:
        fields["image_size"] = {"width": size[0], "height": size[1]}
    output_format = request.body.get("output_format")
    if output_format is not None:
        if output_format not in OUTPUT_FORMATS:
            raise refuse(LABEL, "output_format", output_format, " or ".join(OUTPUT_FORMATS))
        fields["output_format"] = output_format
    return fields


def png_data_url(data: bytes) -> str:
    return f"data:image/png;base64,{base64.b64encode(data).decode('ascii')}"


def image_fields(request: EditRequest, app: str) -> dict[str, Any]:
    """The images (and mask) as the edit app reads them."""
    name = app.lower()
    single = "kontext" in name or "fill" in name
    if request.mask is not None and "fill" not in name:
        raise InvalidRequestError(
            f"The fal app {app} takes no mask (it edits by prompt); send the edit without "
            "'mask', or use a FLUX Fill app (e.g. fal-ai/flux-pro/v1/fill).",
            param="mask",
            code="unsupported_parameter",
        )
    if single and len(request.images) > 1:
        raise InvalidRequestError(
            f"The fal app {app} edits one image at a time; got {len(request.images)}.",
            param="image",
            code="too_many_images",
        )
    if not single:
        return {"image_urls": [image.data_url for image in request.images]}
    fields: dict[str, Any] = {"image_url": request.images[0].data_url}
    if "fill" in name:
        if request.mask is None:
            raise InvalidRequestError(
                f"The fal app {app} fills a masked area: send a 'mask' (transparent where to "
                "paint).",
                param="mask",
            )
        mask = converted_mask(request.mask, request.images[0], WHITE_EDITS)
        fields["mask_url"] = png_data_url(mask)
    return fields


def parse_answer(response: UpstreamResponse) -> ImageResult:
    body = response.json()
    if not isinstance(body, dict) or not isinstance(body.get("images"), list):
        raise UpstreamError(f"{PROVIDER} answered without an 'images' list", provider=PROVIDER)
    flags = body.get("has_nsfw_concepts")
    flagged = flags if isinstance(flags, list) else []
    data: list[dict[str, Any]] = []
    dropped = 0
    for i, image in enumerate(body["images"]):
        url = image.get("url") if isinstance(image, dict) else image
        if not isinstance(url, str) or not url.startswith(("https://", "http://", "data:")):
            continue
        if i < len(flagged) and flagged[i] is True:
            dropped += 1
            continue
        data.append({"url": url})
    if not data:
        if dropped:
            raise ContentPolicyError(
                f"{PROVIDER}: every image was flagged by fal's safety checker (has_nsfw_concepts).",
                provider=PROVIDER,
            )
        raise UpstreamError(f"{PROVIDER} returned no image", provider=PROVIDER)
    return ImageResult(data=data)


def _detail_text(item: Any) -> str:
    """``loc: msg`` of one ``detail`` item; its ``input`` (perhaps an image) is never read."""
    if not isinstance(item, dict):
        return str(item)
    loc = item.get("loc")
    where = ".".join(str(p) for p in loc if p != "body") if isinstance(loc, list) else ""
    message = str(item.get("msg") or item.get("type") or "")
    return f"{where}: {message}" if where else message


def map_fal_error(response: UpstreamResponse) -> ProxyError:
    """``{"detail": [{"loc", "msg", "type"}]}`` (422) or ``{"detail": "..."}`` (401, 404);
    a ``content_policy_violation`` item is a content-policy 400."""
    try:
        parsed = orjson.loads(response.body) if response.body else None
    except orjson.JSONDecodeError:
        parsed = None
    detail = parsed.get("detail") if isinstance(parsed, dict) else None
    message: str | None = None
    code: str | None = None
    if isinstance(detail, list) and detail:
        message = redact_text("; ".join(_detail_text(d) for d in detail[:5]))[:1000]
        types = [d.get("type") for d in detail if isinstance(d, dict)]
        if "content_policy_violation" in types:
            return ContentPolicyError(f"{PROVIDER}: {message}", provider=PROVIDER)
        code = next((t for t in types if isinstance(t, str)), None)
    elif isinstance(detail, str):
        message = redact_text(detail)[:1000]
    return map_http_error(
        response.status, response.headers, response.body, PROVIDER, message=message, code=code
    )


class FalImages(NoImageStream, NoEditStream):
    provider = PROVIDER
    # fal's CDN (fal.media, v3.fal.media, v3b.fal.media, ...): where b64_json is downloaded from
    image_hosts = ("fal.media",)

    def build(self, request: ImageRequest, deployment: Deployment) -> list[UpstreamRequest]:
        payload = {"prompt": request.prompt, **common_fields(request)}
        url = join_url(base_url(deployment), app_id(deployment))
        return [UpstreamRequest.post_json(url, payload)]

    def parse(
        self, response: UpstreamResponse, request: ImageRequest, deployment: Deployment
    ) -> ImageResult:
        return parse_answer(response)

    def edit_refusal(self, deployment: Deployment) -> str | None:
        return None  # any app may be an edit app; fal answers 404 for one that is not

    def build_edit(self, request: EditRequest, deployment: Deployment) -> list[UpstreamRequest]:
        app = edit_app(deployment)
        payload = {
            "prompt": request.prompt,
            **common_fields(request),
            **image_fields(request, app),
        }
        return [UpstreamRequest.post_json(join_url(base_url(deployment), app), payload)]

    def parse_edit(
        self, response: UpstreamResponse, request: EditRequest, deployment: Deployment
    ) -> ImageResult:
        return parse_answer(response)

    def map_error(self, response: UpstreamResponse, deployment: Deployment) -> ProxyError:
        return map_fal_error(response)
