"""OpenAI ``size`` -> xAI ``aspect_ratio`` + ``resolution``.

xAI refuses ``size`` ("Argument not supported: size"); it takes an aspect ratio and a
resolution tier (``1k`` / ``2k``) instead. The ratios are xAI's REST reference
(docs.x.ai image generation; also its mirrors). The pixel sizes of the 1k tier come from a
third-party model page (runware.ai ``xai-grok-imagine-image``, 2026): xAI's ``16:9`` at 1k
is 1408x768, so a ratio label is a shape, not an exact pixel ratio. The 2k tier's sizes are
not published; 2k is taken as twice the 1k sides, which the square case (2048x2048)
matches. **[2k sizes unconfirmed]**

A size is accepted when it is one of the 1k outputs (or 2048x2048), or when its width:height
reduces exactly to one of xAI's ratios (1280x720 and 1920x1080 are both 16:9): the shape is
kept, and the tier is the smallest whose output is at least that large. Anything else is a
400 listing the ratios: the proxy never changes the shape of what was asked.
"""

from __future__ import annotations

import re
from fractions import Fraction

from proxy.errors import InvalidRequestError

# xAI's aspect ratios, with the 1k tier's output size (width, height).
ONE_K: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "3:4": (896, 1280),
    "4:3": (1280, 896),
    "9:16": (768, 1408),
    "16:9": (1408, 768),
    "2:3": (864, 1296),
    "3:2": (1296, 864),
    "9:19.5": (576, 1248),
    "19.5:9": (1248, 576),
    "9:20": (576, 1280),
    "20:9": (1280, 576),
    "1:2": (704, 1408),
    "2:1": (1408, 704),
}
ASPECT_RATIOS = (*ONE_K, "auto")
RESOLUTIONS = ("1k", "2k")
WXH = re.compile(r"([0-9]{1,5})[xX]([0-9]{1,5})")  # ASCII digits only, a sane length


def _ratio(label: str) -> Fraction:
    w, _, h = label.partition(":")
    return Fraction(w) / Fraction(h)


BY_RATIO = {_ratio(label): label for label in ONE_K}
EXACT = {f"{w}x{h}": (label, "1k") for label, (w, h) in ONE_K.items()}
EXACT["2048x2048"] = ("1:1", "2k")


def accepted_sizes() -> str:
    examples = ", ".join([*EXACT, "1280x720", "1920x1080"])
    return (
        f"a size whose width:height is one of xAI's ratios ({', '.join(ONE_K)}), e.g. "
        f"{examples}; or 'auto'. Or send 'aspect_ratio' and 'resolution' (1k, 2k) instead"
    )


def refuse(size: str, why: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"size {size!r} {why}. xAI takes {accepted_sizes()}.",
        param="size",
        code="invalid_size",
    )


def translate(size: str) -> tuple[str, str | None]:
    """``(aspect_ratio, resolution or None)`` for an OpenAI ``size`` other than ``auto``;
    ``InvalidRequestError`` when xAI cannot produce that shape."""
    if size in EXACT:
        return EXACT[size]
    if size in ONE_K:  # a ratio given as the size
        return size, None
    match = WXH.fullmatch(size)
    if match is None or not int(match[1]) or not int(match[2]):
        raise refuse(size, "is not WIDTHxHEIGHT")
    width, height = int(match[1]), int(match[2])
    label = BY_RATIO.get(Fraction(width, height))
    if label is None:
        raise refuse(size, "has an aspect ratio xAI does not produce")
    base_w, base_h = ONE_K[label]
    if width <= base_w and height <= base_h:
        return label, "1k"
    if width <= 2 * base_w and height <= 2 * base_h:
        return label, "2k"
    raise refuse(size, f"is larger than xAI's 2k output for {label}")
