"""Stability AI's own API (``stability/<model>``): ``POST {base}/v2beta/stable-image/<path>``.

Every body is ``multipart/form-data`` (text fields only for a generation), sent with
``Accept: application/json`` so the answer is ``{"image": "<base64>", "finish_reason":
"SUCCESS" | "CONTENT_FILTERED", "seed"}``: one image per call, so ``n`` fans out into ``n``
calls. The model id picks the path, as LiteLLM's ``stability/`` does:

- generations: ``sd3*`` (``sd3.5-large``, ``sd3.5-large-turbo``, ``sd3.5-medium``, ...) ->
  ``generate/sd3`` with ``model`` set to the id; ``stable-image-ultra`` / ``ultra`` ->
  ``generate/ultra``; ``stable-image-core`` / ``core`` -> ``generate/core``.
- edits (``/v1/images/edits`` only): ``inpaint``, ``outpaint``, ``erase``,
  ``search-and-replace``, ``search-and-recolor``, ``remove-background`` (``edit/...``),
  ``sketch``, ``structure``, ``style``, ``style-transfer`` (``control/...``), ``fast``,
  ``conservative`` (``upscale/...``); the path itself (``edit/inpaint``) is accepted too.
  What each reads and refuses is ``proxy.providers.stability.services`` (shared with
  Bedrock's Stability services). The OpenAI mask (transparent = edit) is sent as Stability's
  (white = edit), same size, never resized.

Stability makes aspect ratios, not pixels: ``size`` must reduce exactly to one of its ratios
(``1536x1024`` -> ``3:2``) or it is a 400 listing them; a client that wants the nearest ratio
sends Stability's own ``aspect_ratio``, which wins over ``size``. ``output_format`` is
``png`` (sent when the client names none), ``jpeg`` or ``webp``. Stability's own fields
(``negative_prompt``, ``seed``, ``style_preset``, ``strength``, ``grow_mask``, ...) pass
through; the OpenAI parameters it has no equivalent for are refused with a 400 naming them.
"""

from __future__ import annotations

from typing import Any

import orjson

from proxy.config.deployment import Deployment
from proxy.credentials.base import Credentials, bearer
from proxy.errors import (
    ContentPolicyError,
    InvalidRequestError,
    ProxyError,
    UpstreamError,
    UpstreamQuotaError,
)
from proxy.providers.base import (
    ImageResult,
    NoEditStream,
    NoImageStream,
    join_url,
)
from proxy.providers.image_params import (
    EDIT_PARAMS,
    native_params,
    refuse,
    refuse_unsupported,
)
from proxy.providers.masks import WHITE_EDITS, converted_mask
from proxy.providers.stability import services
from proxy.providers.stability.services import (
    OUTPUT_FORMATS,
    StabilityService,
    check_ratio,
    size_ratio,
    typed_native,
)
from proxy.providers.upstream_errors import map_http_error
from proxy.redact import redact_text
from proxy.schemas import ImageRequest
from proxy.schemas.edits import EditRequest
from proxy.upstream_request import (
    FilePart,
    UpstreamRequest,
    UpstreamResponse,
    fan_out,
    form_fields,
)

PROVIDER = "stability"
LABEL = "Stability AI"
DEFAULT_BASE = "https://api.stability.ai"
HEADERS = {"accept": "application/json"}
SD3 = "generate/sd3"
GENERATORS = {
    "stable-image-ultra": "generate/ultra",
    "ultra": "generate/ultra",
    "stable-image-core": "generate/core",
    "core": "generate/core",
}
SERVED_EDITS = (  # creative upscale has no path: Stability answers it asynchronously
    services.INPAINT,
    services.OUTPAINT,
    services.ERASE,
    services.SEARCH_REPLACE,
    services.SEARCH_RECOLOR,
    services.REMOVE_BACKGROUND,
    services.CONTROL_SKETCH,
    services.CONTROL_STRUCTURE,
    services.STYLE_GUIDE,
    services.STYLE_TRANSFER,
    services.FAST_UPSCALE,
    services.CONSERVATIVE_UPSCALE,
)
# a model id -> its service: the path's last part (LiteLLM's names) or the path itself
EDITORS: dict[str, StabilityService] = {
    name: service
    for service in SERVED_EDITS
    if service.path is not None
    for name in (service.path, service.path.rsplit("/", 1)[-1])
}
KNOWN = (
    "sd3.5-large, sd3.5-large-turbo, sd3.5-medium (any sd3*), stable-image-ultra (ultra), "
    "stable-image-core (core); for edits inpaint, outpaint, erase, search-and-replace, "
    "search-and-recolor, remove-background, sketch, structure, style, style-transfer, fast, "
    "conservative"
)

# OpenAI image parameters with no Stability equivalent: refused, never silently dropped.
UNSUPPORTED = {
    "quality": "Stability has no quality setting; choose the model (ultra, sd3.5-large, core)",
    "background": "Stability makes opaque images (the remove-background model cuts one out)",
    "moderation": "Stability applies its own content moderation",
    "output_compression": "Stability takes no compression level",
    "partial_images": "Stability does not stream images",
    "style": "Stability's own field is 'style_preset'",
}
MODERATION_NAMES = frozenset({"content_moderation"})


def model_id(deployment: Deployment) -> str:
    return deployment.model.strip("/").lower()


def generator_path(deployment: Deployment) -> str | None:
    name = model_id(deployment)
    return SD3 if name.startswith("sd3") else GENERATORS.get(name)


def edit_service(deployment: Deployment) -> StabilityService | None:
    return EDITORS.get(model_id(deployment))


def validate(deployment: Deployment) -> str | None:
    if generator_path(deployment) is None and edit_service(deployment) is None:
        return (
            f"litellm_params.model: {deployment.model!r} is not a Stability AI model this "
            f"proxy knows; known: {KNOWN}"
        )
    return None


def credentials(deployment: Deployment) -> Credentials:
    return bearer(deployment.params.api_key)  # or STABILITY_API_KEY: the loader fills it


def base_url(deployment: Deployment) -> str:
    return deployment.params.api_base or DEFAULT_BASE


def service_url(deployment: Deployment, path: str) -> str:
    return join_url(base_url(deployment), f"v2beta/stable-image/{path}")


def output_format(body: dict[str, Any], label: str, accepted: tuple[str, ...]) -> str:
    value = body.get("output_format")
    if value is None:
        return "png"
    if value not in accepted:
        raise refuse(label, "output_format", value, " or ".join(accepted))
    return str(value)


def parse_answer(response: UpstreamResponse, fmt: str) -> ImageResult:
    """``{"image", "finish_reason", "seed"}``: a filtered image is a content-policy 400."""
    body = response.json()
    if not isinstance(body, dict):
        raise UpstreamError(f"{PROVIDER} answered with no JSON object", provider=PROVIDER)
    reason = body.get("finish_reason")
    if reason == "CONTENT_FILTERED":
        raise ContentPolicyError(
            f"{PROVIDER}: the image was withheld by Stability's content filter "
            "(finish_reason CONTENT_FILTERED).",
            provider=PROVIDER,
        )
    if reason not in (None, "SUCCESS"):
        raise UpstreamError(
            f"{PROVIDER} failed (finish_reason {redact_text(str(reason))[:80]})",
            provider=PROVIDER,
        )
    image = body.get("image")
    if not isinstance(image, str) or not image:
        raise UpstreamError(f"{PROVIDER} answered without an image", provider=PROVIDER)
    return ImageResult(data=[{"b64_json": image}], extra={"output_format": fmt})


def map_stability_error(response: UpstreamResponse) -> ProxyError:
    """``{"id", "name", "errors": [...]}`` -> the gateway's errors; a moderation 403 is a
    content-policy 400, a 402 (no credits left) the operator's quota error."""
    try:
        parsed = orjson.loads(response.body) if response.body else None
    except orjson.JSONDecodeError:
        parsed = None
    name: str | None = None
    message: str | None = None
    if isinstance(parsed, dict):
        name = parsed["name"] if isinstance(parsed.get("name"), str) else None
        errors = parsed.get("errors")
        if isinstance(errors, list) and errors:
            message = redact_text("; ".join(str(e) for e in errors))[:1000]
        elif isinstance(parsed.get("message"), str):
            message = redact_text(parsed["message"])[:1000]
    status = response.status
    if name in MODERATION_NAMES or (status == 403 and "moderation" in (message or "").lower()):
        return ContentPolicyError(f"{PROVIDER}: {message or name}", provider=PROVIDER)
    if status == 402:
        return UpstreamQuotaError(
            f"{PROVIDER}: the account has insufficient credits (402): {message or name}",
            provider=PROVIDER,
        )
    return map_http_error(
        status, response.headers, response.body, PROVIDER, message=message, code=name
    )


class StabilityImages(NoImageStream, NoEditStream):
    provider = PROVIDER
    image_hosts = ()  # base64 only

    # --- /v1/images/generations -------------------------------------------------------

    def generation_fields(self, request: ImageRequest, deployment: Deployment) -> dict[str, Any]:
        path = generator_path(deployment)
        if path is None:
            raise InvalidRequestError(
                f"The model '{deployment.model_name}' ({LABEL} {deployment.model}) edits an "
                "image: call /v1/images/edits with the image to edit.",
                param="model",
                code="unsupported_model",
            )
        refuse_unsupported(request.body, UNSUPPORTED, LABEL)
        native = native_params(request, EDIT_PARAMS)
        fields: dict[str, Any] = {"prompt": request.prompt}
        if path == SD3 and model_id(deployment) != "sd3":  # bare sd3: Stability's default
            fields["model"] = deployment.model
        if native.get("aspect_ratio") is not None:
            check_ratio(LABEL, native["aspect_ratio"])  # the client's own choice wins
        else:
            ratio = size_ratio(LABEL, request.size)
            if ratio is not None:
                fields["aspect_ratio"] = ratio
        fields.update(native)
        fields["output_format"] = output_format(request.body, LABEL, OUTPUT_FORMATS)
        return fields

    def build(self, request: ImageRequest, deployment: Deployment) -> list[UpstreamRequest]:
        fields = self.generation_fields(request, deployment)
        url = service_url(deployment, generator_path(deployment) or SD3)
        call = UpstreamRequest.post_multipart(url, form_fields(fields), [], HEADERS)
        return fan_out(call, request.n)

    def parse(
        self, response: UpstreamResponse, request: ImageRequest, deployment: Deployment
    ) -> ImageResult:
        return parse_answer(response, str(request.body.get("output_format") or "png"))

    # --- /v1/images/edits -------------------------------------------------------------

    def edit_refusal(self, deployment: Deployment) -> str | None:
        if edit_service(deployment) is not None:
            return None
        return (
            f"stability/{deployment.model} generates images; the edit models are inpaint, "
            "outpaint, erase, search-and-replace, search-and-recolor, remove-background, "
            "sketch, structure, style, style-transfer, fast and conservative"
        )

    def editing(self, deployment: Deployment) -> StabilityService:
        service = edit_service(deployment)
        if service is None or service.path is None:  # the attempt stage asks edit_refusal first
            raise UpstreamError(f"{PROVIDER}: {deployment.model!r} cannot edit", provider=PROVIDER)
        return service

    def edit_parts(
        self, request: EditRequest, service: StabilityService
    ) -> tuple[dict[str, Any], list[FilePart]]:
        refuse_unsupported(request.body, UNSUPPORTED, LABEL)
        native = typed_native(request)
        service.check(request, native)
        fields: dict[str, Any] = {"prompt": request.prompt} if service.takes_prompt else {}
        fields.update(native)
        fields["output_format"] = output_format(request.body, service.label, service.output_formats)
        files = [
            FilePart(name, f"{name}.{image.extension}", image.media_type, image.data)
            for name, image in zip(service.images, request.images, strict=True)
        ]
        if request.mask is not None:
            mask = converted_mask(request.mask, request.images[0], WHITE_EDITS)
            files.append(FilePart("mask", "mask.png", "image/png", mask))
        return fields, files

    def build_edit(self, request: EditRequest, deployment: Deployment) -> list[UpstreamRequest]:
        service = self.editing(deployment)
        fields, files = self.edit_parts(request, service)
        url = service_url(deployment, str(service.path))
        call = UpstreamRequest.post_multipart(url, form_fields(fields), files, HEADERS)
        return fan_out(call, request.n)

    def parse_edit(
        self, response: UpstreamResponse, request: EditRequest, deployment: Deployment
    ) -> ImageResult:
        return parse_answer(response, str(request.body.get("output_format") or "png"))

    def map_error(self, response: UpstreamResponse, deployment: Deployment) -> ProxyError:
        return map_stability_error(response)
