"""OpenAI ``size`` (``WxH``) -> Google's aspect ratio and resolution tier.

Google takes ratios, not pixels. A size maps to the nearest ratio the model family supports
(by distance in log space, so 2:1 is as far from 1:1 as 1:2); a non-square size never becomes
a square. The ratio sets are data, per family.

The Gemini 3.x image models' tier (``imageSize``) is the smallest whose image at that ratio
is at least as long as the request's long side: 2048x1152 is 16:9, whose 1K image is
1376x768, so it asks for 2K (2752x1536); past 4K's long side, 4K. 1K is the model's default
and is not sent.
"""

from __future__ import annotations

import math

from proxy.errors import InvalidRequestError
from proxy.providers.google.settings import model_name

IMAGEN_RATIOS = ("1:1", "3:4", "4:3", "9:16", "16:9")
GEMINI_25_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
GEMINI_RATIOS = (*GEMINI_25_RATIOS, "1:4", "4:1", "1:8", "8:1")

# Imagen and Gemini 2.x (one size only: the refusal past it): resolution tiers by the
# geometric mean of the sides (1792x1024 stays 1K, 2048x2048 needs 2K).
TIER_1K = 1536
TIER_2K = 3072

# Gemini 3.x image models: the 1K image's pixels per ratio (ai.google.dev image-generation
# guide, as LiteLLM's GEMINI_IMAGE_SIZE_TO_ASPECT_RATIO copies it); 2K doubles both sides,
# 4K quadruples them.
GEMINI_1K = {
    "1:1": (1024, 1024),
    "2:3": (848, 1264),
    "3:2": (1264, 848),
    "3:4": (896, 1200),
    "4:3": (1200, 896),
    "4:5": (928, 1152),
    "5:4": (1152, 928),
    "9:16": (768, 1376),
    "16:9": (1376, 768),
    "21:9": (1584, 672),
    "1:4": (512, 2048),
    "4:1": (2048, 512),
    "1:8": (384, 3072),
    "8:1": (3072, 384),
}
GEMINI_TIERS = (("1K", 1), ("2K", 2), ("4K", 4))


def gemini_ratios(model: str) -> tuple[str, ...]:
    return GEMINI_25_RATIOS if model_name(model).startswith("gemini-2.") else GEMINI_RATIOS


def parse_size(size: str) -> tuple[int, int]:
    width, sep, height = size.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit() or not int(width) or not int(height):
        raise InvalidRequestError(
            f"'size' must be WIDTHxHEIGHT (e.g. 1024x1024) or 'auto', got {size!r}.", param="size"
        )
    return int(width), int(height)


def _ratio_value(ratio: str) -> float:
    w, _, h = ratio.partition(":")
    return float(w) / float(h)


def nearest_ratio(width: int, height: int, supported: tuple[str, ...]) -> str:
    target = math.log(width / height)
    return min(supported, key=lambda r: abs(math.log(_ratio_value(r)) - target))


def aspect_ratio(size: str | None, supported: tuple[str, ...]) -> str | None:
    """The ratio for ``size``; ``None`` for no size or ``auto`` (the model's default)."""
    if size is None or size == "auto":
        return None
    width, height = parse_size(size)
    return nearest_ratio(width, height, supported)


def resolution_tier(size: str | None) -> str | None:
    """``2K`` / ``4K`` when the size needs more than the default 1K output; else ``None``."""
    if size is None or size == "auto":
        return None
    width, height = parse_size(size)
    side = math.sqrt(width * height)
    if side <= TIER_1K:
        return None
    return "2K" if side <= TIER_2K else "4K"


def gemini_tier(size: str | None, ratio: str | None) -> str | None:
    """``2K`` / ``4K`` for a Gemini 3.x image model when the 1K image at ``ratio`` is
    shorter on its long side than ``size``; ``None`` (the default 1K) otherwise."""
    if size is None or size == "auto" or ratio is None:
        return None
    width, height = parse_size(size)
    one_k = GEMINI_1K.get(ratio)
    if one_k is None:
        return resolution_tier(size)
    wanted, long_1k = max(width, height), max(one_k)
    for name, scale in GEMINI_TIERS:
        if long_1k * scale >= wanted:
            return None if name == "1K" else name
    return GEMINI_TIERS[-1][0]
