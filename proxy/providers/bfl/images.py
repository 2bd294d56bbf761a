"""``POST {base}/v1/{model}`` on Black Forest Labs, then the task polled to its image.

Generations and edits are one JSON submit per image (``n`` fans out into ``n`` tasks) with
``x-key`` auth; the answer is ``{"id", "polling_url", "cost"?}``. The adapter decides each
poll (``PollingImages.next_poll``); the attempt layer sends and waits. ``GET polling_url``
answers ``status``: ``Pending`` (poll again after ``litellm_params.poll_interval`` seconds,
default 1), ``Ready`` (``result.sample``: a signed URL, valid 10 minutes, needing no key),
``Request Moderated`` / ``Content Moderated`` (a content-policy 400), ``Task not found`` /
``Error`` (an upstream error). Polling URLs are followed only on ``bfl.ai`` and its
subdomains (BFL polls on regional hosts) or on the configured base's own origin: the key
goes nowhere else.

Translation: ``size`` becomes ``width`` / ``height`` or ``aspect_ratio`` by model family
(``models.py``); ``output_format`` is ``png`` (the default here, as OpenAI's) or ``jpeg``;
BFL's own fields (``seed``, ``safety_tolerance``, ``prompt_upsampling``, ``steps``,
``guidance``, ``raw``, ``aspect_ratio``, ``grow_mask``, ``top`` ...) pass through, typed from
form text on edits. OpenAI parameters BFL has no equivalent for are a 400, never dropped.
The image is answered as ``{"url": sample}``; the delivery stage downloads it when the
client asked for ``b64_json``. The submit's ``cost`` (credits, 1 = $0.01) is kept and
reported as ``usage.cost`` (USD), which the price table's ``provider_reported`` prefers.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlsplit

import orjson

from proxy.config.deployment import Deployment
from proxy.errors import (
    ContentPolicyError,
    InvalidRequestError,
    ProxyError,
    UpstreamBadRequestError,
    UpstreamError,
    UpstreamQuotaError,
)
from proxy.providers.base import (
    ImageResult,
    NoEditStream,
    NoImageStream,
    PollAgain,
    Usage,
    join_url,
)
from proxy.providers.bfl.models import Family, aspect_ratio, family, pixel_size
from proxy.providers.masks import WHITE_EDITS, converted_mask
from proxy.providers.upstream_errors import map_http_error
from proxy.redact import redact_text
from proxy.schemas import ImageRequest
from proxy.schemas.edits import EditRequest
from proxy.upstream_request import UpstreamRequest, UpstreamResponse, fan_out

PROVIDER = "black_forest_labs"
DEFAULT_BASE = "https://api.bfl.ai"
BFL_DOMAIN = "bfl.ai"
DEFAULT_POLL_INTERVAL = 1.0
CREDIT_USD = 0.01
OUTPUT_FORMATS = {"png": "png", "jpeg": "jpeg", "jpg": "jpeg"}

UNSUPPORTED = {
    "quality": "choose a model (flux-2-pro, flux-2-max, ...) or, on flux-2-flex, 'steps'",
    "background": "BFL has no transparent-background setting",
    "moderation": "use 'safety_tolerance' (0 strict ... 6 permissive) instead",
    "output_compression": "BFL does not take a compression level",
    "partial_images": "BFL does not stream images",
    "input_fidelity": "BFL has no input fidelity setting",
    "style": "BFL has no style setting; describe the style in the prompt",
}
# Read by the proxy itself, never sent: ``n`` fans out, ``size`` is translated, the delivery
# stage serves ``response_format``, ``user`` is the end-user id for spend tracking.
CONSUMED = ("user", "stream", "n", "size", "response_format")
# Fields the proxy writes from the uploads: a text field of the same name is not a second way
# to send them.
UPLOAD_FIELDS = ("image", "mask", "input_image", *(f"input_image_{i}" for i in range(2, 9)))
# BFL's numeric and boolean fields: multipart form fields arrive as text.
NUMBERS: dict[str, type[int] | type[float]] = {
    "seed": int,
    "safety_tolerance": int,
    "steps": int,
    "guidance": float,
    "grow_mask": int,
    "top": int,
    "bottom": int,
    "left": int,
    "right": int,
    "width": int,
    "height": int,
    "image_prompt_strength": float,
}
BOOLEANS = ("prompt_upsampling", "raw")
READY, PENDING = "Ready", "Pending"
MODERATED = ("Request Moderated", "Content Moderated")


class PollingURLRefusedError(UpstreamError):
    """BFL named a polling URL outside its domain: not followed, and not retried (another
    submit would start, and bill, a second task); the deployment rests."""

    code = "upstream_polling_url_refused"
    retryable = False
    cooldown = True


def api_base(deployment: Deployment) -> str:
    return deployment.params.api_base or DEFAULT_BASE


def api_key(deployment: Deployment) -> str | None:
    return deployment.params.api_key  # or BFL_API_KEY...: the loader fills it


def submit_url(deployment: Deployment) -> str:
    """``{base}/v1/{model}``; a base already ending in ``/v1`` is not doubled."""
    base = api_base(deployment).rstrip("/")
    if not urlsplit(base).path.endswith("/v1"):
        base = join_url(base, "v1")
    return join_url(base, deployment.model.rsplit("/", 1)[-1])


def poll_interval(deployment: Deployment) -> float:
    value = deployment.param("poll_interval")
    return float(value) if value is not None else DEFAULT_POLL_INTERVAL


def validate(deployment: Deployment) -> str | None:
    value = deployment.param("poll_interval")
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 60
    ):
        return "litellm_params.poll_interval: must be a number of seconds from 0 to 60"
    return None


def polling_allowed(url: str, deployment: Deployment) -> bool:
    """Whether the key may follow ``url``: https on ``bfl.ai`` or a subdomain of it, or the
    configured base's own origin (a regional or test host the operator named)."""
    try:
        parts, base = urlsplit(url), urlsplit(api_base(deployment))
        port, base_port = parts.port, base.port
    except ValueError:
        return False
    host = (parts.hostname or "").lower().rstrip(".")
    if parts.username is not None or parts.password is not None or not host:
        return False
    on_bfl = host == BFL_DOMAIN or host.endswith("." + BFL_DOMAIN)
    if on_bfl and parts.scheme == "https" and port in (None, 443):
        return True
    return (parts.scheme, host, port) == (base.scheme, (base.hostname or "").lower(), base_port)


def refuse_unsupported(body: dict[str, Any]) -> None:
    for name, hint in UNSUPPORTED.items():
        if body.get(name) is not None:
            raise InvalidRequestError(
                f"'{name}' is not supported by Black Forest Labs: {hint}.",
                param=name,
                code="unsupported_parameter",
            )


def typed(native: dict[str, Any]) -> dict[str, Any]:
    """BFL's numbers and booleans typed from form text (``"7"`` -> 7, ``"true"`` -> True); a
    400 naming a field that is neither."""
    for name, kind in NUMBERS.items():
        value = native.get(name)
        if isinstance(value, str):
            try:
                native[name] = kind(value)
            except ValueError:
                what = "an integer" if kind is int else "a number"
                raise InvalidRequestError(f"'{name}' must be {what}.", param=name) from None
    for name in BOOLEANS:
        value = native.get(name)
        if isinstance(value, str):
            if value.lower() not in ("true", "false"):
                raise InvalidRequestError(f"'{name}' must be true or false.", param=name)
            native[name] = value.lower() == "true"
    return native


def output_format(body: dict[str, Any]) -> str:
    value = body.get("output_format")
    if value is None:
        return "png"
    if isinstance(value, str) and value.lower() in OUTPUT_FORMATS:
        return OUTPUT_FORMATS[value.lower()]
    raise InvalidRequestError(
        f"'output_format' {value!r} is not supported by Black Forest Labs: use 'png' or "
        "'jpeg' (BFL makes no webp).",
        param="output_format",
        code="unsupported_parameter",
    )


def apply_size(body: dict[str, Any], size: str | None, fam: Family, deployment: Deployment) -> None:
    """``size`` into the family's own fields, unless the client already set those."""
    if size is None or size == "auto":
        return
    model = deployment.model
    if fam.sizing == "none":
        raise InvalidRequestError(
            f"'size' is not supported by Black Forest Labs model {model!r}: the output takes "
            "the input image's size (Expand: grow it with top, bottom, left, right).",
            param="size",
            code="unsupported_parameter",
        )
    own = ("width", "height") if fam.sizing == "pixels" else ("aspect_ratio",)
    if any(body.get(k) is not None for k in own):
        raise InvalidRequestError(
            f"Give either 'size' or {' / '.join(repr(k) for k in own)}, not both.", param="size"
        )
    if fam.sizing == "pixels":
        body["width"], body["height"] = pixel_size(size, model, fam.grid)
    else:
        body["aspect_ratio"] = aspect_ratio(size, model)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def error_text(body: bytes) -> tuple[str, str | None]:
    """(message, param) of a BFL error body: FastAPI's ``{"detail": "..."}`` or
    ``{"detail": [{"loc", "msg"}]}``, or ``{"error", "message"}``; redacted."""
    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return redact_text(body.decode("utf-8", "replace").strip()), None
    if not isinstance(parsed, dict):
        return "", None
    detail, param = parsed.get("detail"), None
    parts: list[str] = []
    if isinstance(detail, str):
        parts.append(detail)
    elif isinstance(detail, list):
        for item in detail[:5]:
            if not isinstance(item, dict):
                continue
            loc = [str(x) for x in item.get("loc") or () if x != "body"]
            if loc and param is None:
                param = loc[-1][:64]
            parts.append(f"{'.'.join(loc) or 'body'}: {item.get('msg', 'invalid')}")
    for name in ("error", "message"):
        if isinstance(parsed.get(name), str) and parsed[name] not in parts:
            parts.append(parsed[name])
    return redact_text("; ".join(parts)), param


def moderation_reasons(body: dict[str, Any]) -> str:
    details = body.get("details")
    if isinstance(details, dict):
        reasons = [
            str(r)
            for v in details.values()
            for r in (v if isinstance(v, list) else [v])
            if isinstance(r, str | int | float)
        ]
        if reasons:
            return redact_text(", ".join(reasons[:8]))
    return ""


class BlackForestLabsImages(NoImageStream, NoEditStream):
    """Generations and edits (``ImageEditor``) on BFL, polled (``PollingImages``)."""

    provider = PROVIDER
    image_hosts = (BFL_DOMAIN,)  # result.sample: delivery-eu1.bfl.ai, delivery-us1.bfl.ai, ...

    # --- generations ------------------------------------------------------------------

    def payload(self, request: ImageRequest, deployment: Deployment) -> dict[str, Any]:
        fam = family(deployment.model)
        if not fam.generates:
            raise InvalidRequestError(
                f"The model '{request.model}' ({fam.name}) only edits images: use "
                "/v1/images/edits with an image.",
                param="model",
                code="unsupported_model",
            )
        refuse_unsupported(request.body)
        body = typed(request.params(*CONSUMED))
        body["output_format"] = output_format(body)
        apply_size(body, request.size, fam, deployment)
        return body

    def build(self, request: ImageRequest, deployment: Deployment) -> list[UpstreamRequest]:
        payload = self.payload(request, deployment)
        url = submit_url(deployment)
        return fan_out(UpstreamRequest.post_json(url, payload), request.n)

    def parse(
        self, response: UpstreamResponse, request: ImageRequest, deployment: Deployment
    ) -> ImageResult:
        return self.result(response)

    # --- edits ------------------------------------------------------------------------

    def edit_refusal(self, deployment: Deployment) -> str | None:
        fam = family(deployment.model)
        if fam.edit is None:
            return (
                f"{deployment.model} ({fam.name}) only generates images (BFL edits with "
                "FLUX.2, Kontext, Fill and Expand)"
            )
        return None

    def edit_payload(self, request: EditRequest, deployment: Deployment) -> dict[str, Any]:
        fam = family(deployment.model)
        model = deployment.model
        refuse_unsupported(request.body)
        if request.markup is not None:
            raise InvalidRequestError(
                "'markup' is not supported by Black Forest Labs.", param="markup"
            )
        if request.mask is not None and not fam.takes_mask:
            raise InvalidRequestError(
                f"'mask' is not supported by Black Forest Labs model {model!r} ({fam.name}): "
                "describe the change in the prompt, or use flux-pro-1.0-fill for masked edits.",
                param="mask",
                code="unsupported_parameter",
            )
        if len(request.images) > fam.max_images:
            most = fam.max_images
            raise InvalidRequestError(
                f"Black Forest Labs model {model!r} ({fam.name}) takes at most {most} "
                f"image{'s' if most > 1 else ''}, got {len(request.images)}.",
                param="image",
                code="too_many_images",
            )
        body = typed(request.params(*CONSUMED, *UPLOAD_FIELDS))
        body["output_format"] = output_format(body)
        apply_size(body, request.size, fam, deployment)
        first = request.images[0]
        if fam.edit == "references":
            for i, image in enumerate(request.images):
                body["input_image" if i == 0 else f"input_image_{i + 1}"] = b64(image.data)
        else:
            body["image"] = b64(first.data)
            if request.mask is not None:
                body["mask"] = b64(converted_mask(request.mask, first, WHITE_EDITS))
        return body

    def build_edit(self, request: EditRequest, deployment: Deployment) -> list[UpstreamRequest]:
        payload = self.edit_payload(request, deployment)
        url = submit_url(deployment)
        return fan_out(UpstreamRequest.post_json(url, payload), request.n)

    def parse_edit(
        self, response: UpstreamResponse, request: EditRequest, deployment: Deployment
    ) -> ImageResult:
        return self.result(response)

    # --- the task ---------------------------------------------------------------------

    def next_poll(
        self, response: UpstreamResponse, memo: dict[str, Any], deployment: Deployment
    ) -> PollAgain | UpstreamResponse:
        body = response.json()
        if not isinstance(body, dict):
            raise UpstreamError(f"{PROVIDER} answered without a JSON object", provider=PROVIDER)
        if "polling_url" not in memo:  # the submit's answer
            url = body.get("polling_url")
            if not isinstance(url, str) or not url:
                raise UpstreamError(
                    f"{PROVIDER} accepted the task but gave no polling_url", provider=PROVIDER
                )
            if not polling_allowed(url, deployment):
                host = redact_text(urlsplit(url).hostname or "?", 100)
                raise PollingURLRefusedError(
                    f"{PROVIDER}: refused to poll a task on host {host!r} (only bfl.ai, its "
                    "subdomains and the configured api_base are followed).",
                    provider=PROVIDER,
                )
            cost = body.get("cost")
            memo = {"polling_url": url}
            if isinstance(cost, int | float) and not isinstance(cost, bool) and cost >= 0:
                memo["cost"] = cost
            return self.poll(memo, deployment)
        status = body.get("status")
        if status == PENDING:
            return self.poll(memo, deployment)
        if status == READY:
            result = body.get("result")
            sample = result.get("sample") if isinstance(result, dict) else None
            if not isinstance(sample, str) or not sample:
                raise UpstreamError(
                    f"{PROVIDER} said Ready without result.sample", provider=PROVIDER
                )
            final: dict[str, Any] = {"sample": sample}
            cost = memo.get("cost", body.get("cost"))  # the submit's, else the result's
            if isinstance(cost, int | float) and not isinstance(cost, bool) and cost >= 0:
                final["cost"] = cost
            return UpstreamResponse(200, {}, orjson.dumps(final))
        if status in MODERATED:
            reasons = moderation_reasons(body)
            what = "the request" if status == MODERATED[0] else "the generated image"
            raise ContentPolicyError(
                f"{PROVIDER}: {what} was flagged by Black Forest Labs' moderation"
                + (f" ({reasons})." if reasons else "."),
                provider=PROVIDER,
            )
        text = body.get("error") or body.get("details")
        detail = f": {redact_text(str(text), 300)}" if text else ""
        if status == "Task not found":
            raise UpstreamError(f"{PROVIDER}: the task was not found{detail}", provider=PROVIDER)
        if status == "Error":
            raise UpstreamError(f"{PROVIDER}: the task failed{detail}", provider=PROVIDER)
        shown = redact_text(str(status), 60)
        raise UpstreamError(f"{PROVIDER}: unknown task status {shown!r}", provider=PROVIDER)

    def poll(self, memo: dict[str, Any], deployment: Deployment) -> PollAgain:
        request = UpstreamRequest("GET", memo["polling_url"], {"accept": "application/json"})
        return PollAgain(request, poll_interval(deployment), memo)

    def result(self, response: UpstreamResponse) -> ImageResult:
        """The task's image, from the answer ``next_poll`` made of ``Ready`` (a raw
        ``Ready`` body is read too)."""
        body = response.json()
        if not isinstance(body, dict):
            raise UpstreamError(f"{PROVIDER} answered without a JSON object", provider=PROVIDER)
        result = body.get("result")
        sample = body.get("sample") or (result.get("sample") if isinstance(result, dict) else None)
        if not isinstance(sample, str) or not sample:
            return ImageResult(data=[])
        cost = body.get("cost")
        usage = None
        if isinstance(cost, int | float) and not isinstance(cost, bool):
            usage = Usage.of({"cost": round(cost * CREDIT_USD, 6)})
        return ImageResult(data=[{"url": sample}], usage=usage)

    def map_error(self, response: UpstreamResponse, deployment: Deployment) -> ProxyError:
        message, param = error_text(response.body)
        status = response.status
        if status == 402:
            return UpstreamQuotaError(
                f"{PROVIDER}: the account is out of credits (402)"
                + (f": {message}" if message else ""),
                provider=PROVIDER,
            )
        if status in (400, 422):
            return UpstreamBadRequestError(
                f"{PROVIDER}: {message or f'HTTP {status}'}",
                provider=PROVIDER,
                status=400,
                param=param,
            )
        return map_http_error(
            status, response.headers, response.body, PROVIDER, message=message or None
        )
