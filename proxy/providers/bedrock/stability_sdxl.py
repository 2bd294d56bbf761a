"""Stability SDXL 1.0 on Bedrock (``stability.stable-diffusion-xl-v1``).

Body ``{"text_prompts": [{"text", "weight"}], "width", "height", ...}``, answer
``{"artifacts": [{"base64", "seed", "finishReason"}]}``. Bedrock makes one image per call
(``samples`` must be 1, and is sent as 1), so ``n`` fans out into ``n`` parallel
invocations. ``size`` must be one of SDXL's nine sizes; native fields (``cfg_scale``,
``steps``, ``seed``, ``sampler``, ``style_preset``, ``clip_guidance_preset``, ``extras``…)
pass through; ``negative_prompt`` becomes a negative-weight text prompt.
"""

from __future__ import annotations

from typing import Any

from proxy.errors import ContentPolicyError, UpstreamError
from proxy.providers.base import ImageResult
from proxy.providers.bedrock.params import check_common, single_quality
from proxy.providers.image_params import (
    native_params,
    parse_size,
    refuse,
)
from proxy.schemas import ImageRequest

SIZES = (
    (1024, 1024),
    (1152, 896),
    (1216, 832),
    (1344, 768),
    (1536, 640),
    (640, 1536),
    (768, 1344),
    (832, 1216),
    (896, 1152),
)
ACCEPTED_SIZES = ", ".join(f"{w}x{h}" for w, h in SIZES)


class StabilitySDXL:
    label = "Stability SDXL"
    fan_out = True

    def bodies(self, request: ImageRequest) -> list[dict[str, Any]]:
        check_common(request, self.label)
        single_quality(request, self.label)
        native = native_params(request)
        prompts: list[Any] = [{"text": request.prompt, "weight": 1.0}]
        negative = native.pop("negative_prompt", None)
        if negative is not None:
            if not isinstance(negative, str):
                raise refuse(self.label, "negative_prompt", negative, "a string")
            prompts.append({"text": negative, "weight": -1.0})
        extra_prompts = native.pop("text_prompts", None)
        if extra_prompts is not None:
            if not isinstance(extra_prompts, list):
                raise refuse(self.label, "text_prompts", "…", "a list of {text, weight}")
            prompts.extend(extra_prompts)
        body: dict[str, Any] = {"text_prompts": prompts}
        size = parse_size(self.label, request.size, ACCEPTED_SIZES)
        if size is not None:
            if size not in SIZES:
                raise refuse(self.label, "size", request.size, ACCEPTED_SIZES)
            body["width"], body["height"] = size
        samples = native.pop("samples", 1)
        if samples != 1:
            raise refuse(self.label, "samples", samples, "1 image per call (use n for more)")
        body["samples"] = 1
        body.update(native)
        return [body for _ in range(request.n)]

    def parse(self, payload: Any, request: ImageRequest) -> ImageResult:
        if not isinstance(payload, dict) or not isinstance(payload.get("artifacts"), list):
            raise UpstreamError(
                "bedrock: Stability SDXL answered without 'artifacts'", provider="bedrock"
            )
        data: list[dict[str, Any]] = []
        filtered = errors = 0
        for artifact in payload["artifacts"]:
            if not isinstance(artifact, dict):
                continue
            reason = artifact.get("finishReason")
            if reason == "CONTENT_FILTERED":
                filtered += 1  # the blurred placeholder is never returned as an image
            elif reason not in (None, "SUCCESS") or not artifact.get("base64"):
                errors += 1
            else:
                data.append({"b64_json": artifact["base64"]})
        if not data and filtered:
            raise ContentPolicyError(
                "bedrock: Stability SDXL filtered the generated image (CONTENT_FILTERED).",
                provider="bedrock",
            )
        if not data:
            raise UpstreamError(
                f"bedrock: Stability SDXL returned no image ({errors} errors)", provider="bedrock"
            )
        return ImageResult(data=data, extra={"output_format": "png"})
