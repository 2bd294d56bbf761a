"""OpenAI ``size`` (``WxH``) -> Google's aspect ratio and resolution tier.

Google takes ratios, not pixels. A size maps to the nearest ratio the model family supports
(by distance in log space, so 2:1 is as far from 1:1 as 1:2); a non-square size never becomes
a square. The ratio sets are data, per family.
"""

from __future__ import annotations

import math

from proxy.errors import InvalidRequestError
from proxy.providers.google.settings import model_name

IMAGEN_RATIOS = ("1:1", "3:4", "4:3", "9:16", "16:9")
GEMINI_25_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
GEMINI_RATIOS = (*GEMINI_25_RATIOS, "1:4", "4:1", "1:8", "8:1")

# Resolution tiers by the geometric mean of the sides (so 1792x1024 stays 1K, as the
# dall-e-3 sizes are meant, and 2048x2048 needs 2K).
TIER_1K = 1536
TIER_2K = 3072


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
