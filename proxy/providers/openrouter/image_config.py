"""OpenAI ``size`` / ``quality`` -> OpenRouter ``image_config`` (``aspect_ratio``, ``image_size``).

- ``size`` ``WxH`` becomes the nearest aspect ratio the model supports, but only when it is
  within 5% of the requested shape (every OpenAI size is: 1792x1024 -> 16:9 is 1.6% off);
  a shape no ratio matches is refused with the list, never replaced by a square. A ``w:h``
  string is taken as the ratio itself; ``auto`` leaves the choice to the model.
- ``quality`` picks the resolution tier: ``low``/``standard`` -> 1K, ``medium`` -> 2K,
  ``high``/``hd`` -> 4K, ``auto`` -> the model's default. An explicit ``image_size`` (top
  level or inside ``image_config``) is used as given.
- Explicit ``aspect_ratio`` / ``image_size`` that contradict ``size`` / ``quality`` are a 400.
"""

from __future__ import annotations

import math
from typing import Any

from proxy.errors import InvalidRequestError

ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
# gemini-3.1-flash-image-preview also takes these (OpenRouter image-generation guide).
EXTRA_RATIOS = {"gemini-3.1-flash-image": ("1:4", "4:1", "1:8", "8:1")}
QUALITY_TO_IMAGE_SIZE: dict[str, str | None] = {
    "auto": None,
    "low": "1K",
    "standard": "1K",
    "medium": "2K",
    "high": "4K",
    "hd": "4K",
}
MAX_RATIO_ERROR = 0.05  # relative distance between the requested shape and the ratio used


def ratios_for(model: str) -> tuple[str, ...]:
    name = model.lower()
    extra = tuple(r for key, rs in EXTRA_RATIOS.items() if key in name for r in rs)
    return ASPECT_RATIOS + extra


def _ratio_value(ratio: str) -> float:
    w, _, h = ratio.partition(":")
    return int(w) / int(h)


def parse_size(size: str) -> tuple[int, int] | None:
    w, sep, h = size.lower().partition("x")
    if not sep or not w.isdigit() or not h.isdigit() or int(w) == 0 or int(h) == 0:
        return None
    return int(w), int(h)


def aspect_ratio_for(size: str, model: str) -> str | None:
    """The ``image_config.aspect_ratio`` for an OpenAI ``size`` (``None`` for ``auto``)."""
    ratios = ratios_for(model)
    if size == "auto":
        return None
    if size in ratios:
        return size
    dims = parse_size(size)
    if dims is None:
        raise InvalidRequestError(
            f"size {size!r} is not a WIDTHxHEIGHT size or one of the aspect ratios "
            f"{', '.join(ratios)}.",
            param="size",
            code="invalid_size",
        )
    wanted = math.log(dims[0] / dims[1])
    best = min(ratios, key=lambda r: abs(math.log(_ratio_value(r)) - wanted))
    if abs(math.log(_ratio_value(best)) - wanted) > math.log1p(MAX_RATIO_ERROR):
        raise InvalidRequestError(
            f"size {size!r} has no matching aspect ratio on OpenRouter model {model!r}; "
            f"the nearest, {best}, would change the image's shape. Use a size with one of "
            f"the ratios {', '.join(ratios)} (or pass 'aspect_ratio').",
            param="size",
            code="invalid_size",
        )
    return best


def image_size_for(quality: str) -> str | None:
    if quality not in QUALITY_TO_IMAGE_SIZE:
        raise InvalidRequestError(
            f"quality {quality!r} is not supported for OpenRouter models; use one of "
            f"{', '.join(QUALITY_TO_IMAGE_SIZE)} (or pass 'image_size': '1K', '2K', '4K').",
            param="quality",
        )
    return QUALITY_TO_IMAGE_SIZE[quality]


def _set(config: dict[str, Any], key: str, value: Any, source: str) -> None:
    current = config.get(key)
    if current is not None and current != value:
        raise InvalidRequestError(
            f"'{source}' asks for {key} {value!r} but {key} {current!r} was also given.",
            param=source,
        )
    config[key] = value


def build_image_config(
    body: dict[str, Any], model: str, defaults: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The ``image_config`` for a request body (OpenAI images fields + OpenRouter extras).

    ``defaults`` (the deployment's ``image_config``) apply where the request says nothing.
    """
    given = body.get("image_config")
    if given is not None and not isinstance(given, dict):
        raise InvalidRequestError("'image_config' must be an object.", param="image_config")
    config: dict[str, Any] = dict(given or {})
    for key in ("aspect_ratio", "image_size"):
        value = body.get(key)
        if value is not None:
            if not isinstance(value, str):
                raise InvalidRequestError(f"'{key}' must be a string.", param=key)
            _set(config, key, value, key)
    size = body.get("size")
    if isinstance(size, str):
        ratio = aspect_ratio_for(size, model)
        if ratio is not None:
            _set(config, "aspect_ratio", ratio, "size")
    quality = body.get("quality")
    if isinstance(quality, str):
        tier = image_size_for(quality)
        if tier is not None:
            _set(config, "image_size", tier, "quality")
    for key, value in (defaults or {}).items():
        config.setdefault(key, value)
    return config
