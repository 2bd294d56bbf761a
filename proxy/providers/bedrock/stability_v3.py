"""Stability SD3 / SD3.5 / Stable Image Core / Stable Image Ultra on Bedrock.

Body ``{"prompt", "aspect_ratio", "output_format", "negative_prompt", "seed", "mode", ...}``,
answer ``{"images": [b64], "seeds": [...], "finish_reasons": [null | "Filter reason: …"]}``
(HTTP 200 even when filtered). These models take an aspect ratio, not pixels, and make one
image per call: ``size`` must reduce exactly to one of their ratios (``1536x1024`` -> ``3:2``)
and ``n`` fans out into ``n`` parallel invocations.
"""

from __future__ import annotations

from typing import Any

from proxy.errors import ContentPolicyError, UpstreamError
from proxy.providers.base import ImageResult
from proxy.providers.bedrock.params import check_common, single_quality
from proxy.providers.image_params import native_params, refuse
from proxy.providers.stability.services import check_ratio, size_ratio
from proxy.redact import redact_text
from proxy.schemas import ImageRequest

OUTPUT_FORMATS = ("png", "jpeg")


class StabilityV3:
    label = "Stability SD3 / Stable Image"
    fan_out = True

    def bodies(self, request: ImageRequest) -> list[dict[str, Any]]:
        check_common(request, self.label, output_formats=OUTPUT_FORMATS)
        single_quality(request, self.label)
        native = native_params(request)
        body: dict[str, Any] = {"prompt": request.prompt}
        native_ratio = native.get("aspect_ratio")
        if native_ratio is not None:
            check_ratio(self.label, native_ratio)
        ratio = size_ratio(self.label, request.size)
        if ratio is not None:
            if native_ratio is not None and native_ratio != ratio:
                raise refuse(
                    self.label,
                    "aspect_ratio",
                    native_ratio,
                    f"a ratio that agrees with size={request.size!r} ({ratio})",
                )
            body["aspect_ratio"] = ratio
        output_format = request.body.get("output_format")
        if output_format is not None:
            body["output_format"] = output_format
        body.update(native)
        return [body for _ in range(request.n)]

    def parse(self, payload: Any, request: ImageRequest) -> ImageResult:
        return parse_stability(payload, request.body.get("output_format"))


def parse_stability(payload: Any, output_format: Any) -> ImageResult:
    """A Stability answer on Bedrock (``{"images", "seeds", "finish_reasons"}``, HTTP 200
    even when filtered): a filter reason is a content-policy refusal, any other reason a
    failure, the images ``b64_json`` items."""
    if not isinstance(payload, dict):
        raise UpstreamError("bedrock: Stability answered with no JSON object", provider="bedrock")
    reasons = payload.get("finish_reasons") or []
    problems = (
        [redact_text(str(r)) for r in reasons if r is not None] if isinstance(reasons, list) else []
    )
    filtered = [str(r) for r in problems if "filter" in str(r).lower()]
    if filtered:
        raise ContentPolicyError(
            f"bedrock: Stability refused the request ({filtered[0]}).", provider="bedrock"
        )
    if problems:
        raise UpstreamError(f"bedrock: Stability failed ({problems[0]})", provider="bedrock")
    images = payload.get("images")
    if not isinstance(images, list) or not images:
        raise UpstreamError("bedrock: Stability returned no image", provider="bedrock")
    data = [{"b64_json": b64} for b64 in images if isinstance(b64, str) and b64]
    return ImageResult(data=data, extra={"output_format": str(output_format or "png").lower()})
