"""Amazon Titan Image Generator v1 / v2 and Nova Canvas on Bedrock (one envelope).

Body ``{"taskType": "TEXT_IMAGE", "textToImageParams": {...}, "imageGenerationConfig":
{"numberOfImages", "width", "height", "quality", "cfgScale", "seed"}}``, answer
``{"images": [b64, ...], "error"?: "..."}``. ``n`` is ``numberOfImages`` (1-5, one call);
``size`` is ``width``/``height`` (Titan: its fixed size table; Nova: 320-4096 px, multiples of
16, aspect between 1:4 and 4:1, under 4,194,304 pixels); ``quality`` maps onto the two tiers
(``standard``/``low``/``medium`` -> ``standard``, ``hd``/``high``/``premium`` -> ``premium``).

Native fields pass through: ``textToImageParams`` / ``imageGenerationConfig`` objects are
merged into the body (a value that contradicts an OpenAI parameter is refused), and the flat
spellings ``negativeText`` / ``negative_prompt``, ``seed``, ``cfgScale`` / ``cfg_scale``,
``conditionImage``, ``controlMode``, ``controlStrength`` and (Nova) ``style`` land in their
nested places. Any other field goes to the top level of the body as sent.
"""

from __future__ import annotations

from typing import Any

from proxy.errors import ContentPolicyError, UpstreamError
from proxy.providers.base import ImageResult
from proxy.providers.bedrock.errors import is_content_filtered
from proxy.providers.bedrock.params import check_common
from proxy.providers.image_params import (
    n_was_sent,
    native_params,
    parse_size,
    refuse,
)
from proxy.redact import redact_text
from proxy.schemas import ImageRequest

MAX_IMAGES = 5
QUALITY = {
    "standard": "standard",
    "low": "standard",
    "medium": "standard",
    "premium": "premium",
    "hd": "premium",
    "high": "premium",
}
ACCEPTED_QUALITY = "auto, standard, low, medium (-> standard), premium, hd, high (-> premium)"
NOVA_STYLES = (
    "3D_ANIMATED_FAMILY_FILM",
    "DESIGN_SKETCH",
    "FLAT_VECTOR_ILLUSTRATION",
    "GRAPHIC_NOVEL_ILLUSTRATION",
    "MAXIMALISM",
    "MIDCENTURY_RETRO",
    "PHOTOREALISM",
    "SOFT_DIGITAL_PAINTING",
)
# Titan Image Generator's size table (AWS "Amazon Titan Image Generator G1" parameters page).
TITAN_SIZES = (
    (1024, 1024),
    (768, 768),
    (512, 512),
    (768, 1152),
    (384, 576),
    (1152, 768),
    (576, 384),
    (768, 1280),
    (384, 640),
    (1280, 768),
    (640, 384),
    (896, 1152),
    (448, 576),
    (1152, 896),
    (576, 448),
    (768, 1408),
    (384, 704),
    (1408, 768),
    (704, 384),
    (640, 1408),
    (320, 704),
    (1408, 640),
    (704, 320),
    (1152, 640),
    (1173, 640),
)
NOVA_SIZE_RULES = (
    "width and height 320-4096 px in multiples of 16, aspect ratio between 1:4 and 4:1, "
    "fewer than 4,194,304 pixels (e.g. 1024x1024, 1280x720, 2048x1024)"
)
TEXT_FIELDS = {
    "negativeText": "negativeText",
    "negative_prompt": "negativeText",
    "conditionImage": "conditionImage",
    "controlMode": "controlMode",
    "controlStrength": "controlStrength",
}
CONFIG_FIELDS = {"seed": "seed", "cfgScale": "cfgScale", "cfg_scale": "cfgScale"}


def nova_size_ok(width: int, height: int) -> bool:
    return (
        320 <= width <= 4096
        and 320 <= height <= 4096
        and width % 16 == 0
        and height % 16 == 0
        and width * 4 >= height
        and height * 4 >= width
        and width * height < 4_194_304
    )


class AmazonCanvas:
    """Titan Image Generator (``nova=False``) or Nova Canvas (``nova=True``)."""

    fan_out = False

    def __init__(self, *, nova: bool) -> None:
        self.nova = nova
        self.label = "Amazon Nova Canvas" if nova else "Amazon Titan Image Generator"

    def _merge(self, target: dict[str, Any], key: str, value: Any, param: str) -> None:
        if key in target and target[key] != value:
            agreeing = f"a value that agrees with {key}={target[key]!r}"
            raise refuse(self.label, param, value, agreeing)
        target[key] = value

    def bodies(self, request: ImageRequest) -> list[dict[str, Any]]:
        check_common(request, self.label, style_handled=True)
        native = native_params(request)
        task = native.pop("taskType", "TEXT_IMAGE")
        if task != "TEXT_IMAGE":
            raise refuse(self.label, "taskType", task, "TEXT_IMAGE on /images/generations")
        text_params = native.pop("textToImageParams", None) or {}
        config = native.pop("imageGenerationConfig", None) or {}
        if not isinstance(text_params, dict):
            raise refuse(self.label, "textToImageParams", "…", "an object")
        if not isinstance(config, dict):
            raise refuse(self.label, "imageGenerationConfig", "…", "an object")
        text_params, config = dict(text_params), dict(config)
        self._merge(text_params, "text", request.prompt, "prompt")
        for flat, nested in TEXT_FIELDS.items():
            if flat in native:
                self._merge(text_params, nested, native.pop(flat), flat)
        for flat, nested in CONFIG_FIELDS.items():
            if flat in native:
                self._merge(config, nested, native.pop(flat), flat)
        style = request.body.get("style")
        if style is not None:
            if not self.nova or style not in NOVA_STYLES:
                accepted = ", ".join(NOVA_STYLES) if self.nova else "no style"
                raise refuse(self.label, "style", style, accepted)
            self._merge(text_params, "style", style, "style")
        self._map_n(request, config)
        self._map_size(request, config)
        self._map_quality(request, config)
        body: dict[str, Any] = {
            "taskType": "TEXT_IMAGE",
            "textToImageParams": text_params,
            "imageGenerationConfig": config,
        }
        body.update(native)
        return [body]

    def _map_n(self, request: ImageRequest, config: dict[str, Any]) -> None:
        if not n_was_sent(request):
            config.setdefault("numberOfImages", 1)
            return
        if request.n > MAX_IMAGES:
            raise refuse(self.label, "n", request.n, f"1 to {MAX_IMAGES} images per request")
        self._merge(config, "numberOfImages", request.n, "n")

    def _map_size(self, request: ImageRequest, config: dict[str, Any]) -> None:
        accepted = NOVA_SIZE_RULES if self.nova else ", ".join(f"{w}x{h}" for w, h in TITAN_SIZES)
        size = parse_size(self.label, request.size, accepted)
        if size is None:
            return
        ok = nova_size_ok(*size) if self.nova else size in TITAN_SIZES
        if not ok:
            raise refuse(self.label, "size", request.size, accepted)
        self._merge(config, "width", size[0], "size")
        self._merge(config, "height", size[1], "size")

    def _map_quality(self, request: ImageRequest, config: dict[str, Any]) -> None:
        if request.quality in (None, "auto"):
            return
        mapped = QUALITY.get(request.quality)
        if mapped is None:
            raise refuse(self.label, "quality", request.quality, ACCEPTED_QUALITY)
        self._merge(config, "quality", mapped, "quality")

    def parse(self, payload: Any, request: ImageRequest) -> ImageResult:
        if not isinstance(payload, dict):
            raise UpstreamError(
                f"bedrock: {self.label} answered with no JSON object", provider="bedrock"
            )
        images = payload.get("images")
        data = (
            [{"b64_json": b64} for b64 in images if isinstance(b64, str) and b64]
            if isinstance(images, list)
            else []
        )
        error = redact_text(payload["error"]) if isinstance(payload.get("error"), str) else ""
        if not data and error:
            if is_content_filtered(error):
                raise ContentPolicyError(f"bedrock: {error}", provider="bedrock")
            raise UpstreamError(f"bedrock: {self.label} failed: {error}", provider="bedrock")
        if not data:
            raise UpstreamError(f"bedrock: {self.label} returned no image", provider="bedrock")
        return ImageResult(data=data, extra={"output_format": "png"})
