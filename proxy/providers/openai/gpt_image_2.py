"""``gpt-image-2`` and its successors (``gpt-image-2-2026-04-21``, ``gpt-image-2.5``, …):
the request checks OpenAI states, made before any upstream call (generations and edits,
OpenAI and Azure alike).

``size`` is ``auto`` or any ``WIDTHxHEIGHT`` meeting every rule of OpenAI's image-generation
guide (gpt-image-2 sizes): the longest edge at most 3840 px; both edges multiples of 16 px;
the long edge at most 3 times the short one; 655,360 to 8,294,400 pixels in all (3840x2160 is
the largest 16:9). Sizes above 2560x1440 are "experimental" there, a caveat and not a
rejection, so they pass. A valid size goes upstream exactly as sent.

The other options pass through unchanged once their values are ones the model takes:
``quality`` (low/medium/high/auto), ``background`` (transparent/opaque/auto), ``moderation``
(low/auto), ``output_format`` (png/jpeg/webp) and ``output_compression`` (0-100, only with
jpeg or webp output).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from proxy.errors import InvalidRequestError

_GPT_IMAGE_2 = re.compile(r"^gpt-image-2(?:$|[.-])")

MAX_EDGE = 3840
EDGE_MULTIPLE = 16
MAX_RATIO = 3
MIN_PIXELS = 655_360
MAX_PIXELS = 8_294_400  # 3840 x 2160

CHOICES: dict[str, tuple[str, ...]] = {
    "quality": ("low", "medium", "high", "auto"),
    "background": ("transparent", "opaque", "auto"),
    "moderation": ("low", "auto"),
    "output_format": ("png", "jpeg", "webp"),
}
COMPRESSED_FORMATS = ("jpeg", "webp")


def is_gpt_image_2(model: str) -> bool:
    """``gpt-image-2`` or a successor (``gpt-image-2-…``, ``gpt-image-2.5``), any prefix."""
    return bool(_GPT_IMAGE_2.match(model.rsplit("/", 1)[-1].lower()))


def _size_error(size: str, rule: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"size {size!r} is not valid for gpt-image-2: {rule}. Use 'auto' or a WIDTHxHEIGHT "
        "such as 1024x1024, 1536x1024, 2048x1152 or 3840x2160.",
        param="size",
        code="invalid_size",
    )


def check_size(size: Any) -> None:
    """A 400 naming the first rule ``size`` breaks; nothing for a valid size or none."""
    if size is None or size == "auto":
        return
    if not isinstance(size, str):
        raise InvalidRequestError("'size' must be a string.", param="size")
    width_text, sep, height_text = size.partition("x")
    if not (sep and width_text.isdigit() and height_text.isdigit()):
        raise _size_error(size, "it must be 'auto' or WIDTHxHEIGHT in pixels")
    width, height = int(width_text), int(height_text)
    long_edge, short_edge = max(width, height), min(width, height)
    if short_edge == 0:
        raise _size_error(size, "both edges must be at least 16 px")
    if long_edge > MAX_EDGE:
        raise _size_error(size, f"the longest edge must be at most {MAX_EDGE} px")
    if width % EDGE_MULTIPLE or height % EDGE_MULTIPLE:
        raise _size_error(size, f"both edges must be multiples of {EDGE_MULTIPLE} px")
    if long_edge > MAX_RATIO * short_edge:
        raise _size_error(size, "the aspect ratio must be between 1:3 and 3:1")
    pixels = width * height
    if not MIN_PIXELS <= pixels <= MAX_PIXELS:
        raise _size_error(
            size,
            f"the image must have {MIN_PIXELS:,} to {MAX_PIXELS:,} pixels (3840x2160), "
            f"not {pixels:,}",
        )


def check_options(params: Mapping[str, Any]) -> None:
    """``size`` and the GPT image options of a gpt-image-2 request (``params``: the client's
    fields, as JSON or the typed multipart form carries them)."""
    check_size(params.get("size"))
    for name, allowed in CHOICES.items():
        value = params.get(name)
        if value is not None and value not in allowed:
            raise InvalidRequestError(
                f"'{name}' must be one of {', '.join(allowed)} for gpt-image-2, got {value!r}.",
                param=name,
            )
    compression = params.get("output_compression")
    if compression is None:
        return
    if isinstance(compression, bool) or not isinstance(compression, int):
        raise InvalidRequestError(
            "'output_compression' must be an integer from 0 to 100.", param="output_compression"
        )
    if not 0 <= compression <= 100:
        raise InvalidRequestError(
            f"'output_compression' must be from 0 to 100, got {compression}.",
            param="output_compression",
        )
    fmt = params.get("output_format")
    if fmt not in COMPRESSED_FORMATS:
        shown = repr(fmt) if fmt is not None else "png (the default)"
        raise InvalidRequestError(
            f"'output_compression' applies only to output_format 'jpeg' or 'webp', not {shown}.",
            param="output_compression",
        )
