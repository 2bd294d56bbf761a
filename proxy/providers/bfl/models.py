"""What each Black Forest Labs model reads: how ``size`` translates, and whether and how it
edits.

BFL's endpoints are named after the model (``/v1/flux-2-pro``); their request bodies differ
by family (docs.bfl.ai, ``https://api.bfl.ai/openapi.json``):

- FLUX.2 (``flux-2-pro``, ``-max``, ``-flex``, ``-klein-4b``, ``-klein-9b``): ``width`` /
  ``height``, multiples of 16, at least 64, at most 4 MP; edits with ``input_image``,
  ``input_image_2`` ... (8 images; klein 4). FLUX1.1 [pro]: ``width`` / ``height`` too, on
  FLUX.1's stricter grid (multiples of 32, 256 to 1440 a side; BFL's FLUX1.1 reference as
  copied by third parties).
- Kontext (``flux-kontext-pro``, ``-max``) and FLUX1.1 [pro] Ultra: ``aspect_ratio``.
  Kontext edits one ``input_image``; Ultra and FLUX1.1 [pro] do not edit.
- Fill (``flux-pro-1.0-fill``): ``image`` + ``mask`` (white = fill); Expand
  (``flux-pro-1.0-expand``): ``image`` + ``top`` / ``bottom`` / ``left`` / ``right``. Both
  only edit.

An unknown id is placed by its name (``fill``, ``expand``, ``kontext``, ``ultra``, ``flux-2``),
else treated like FLUX1.1 [pro]: generation with ``width`` / ``height``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from proxy.errors import InvalidRequestError

Sizing = Literal["pixels", "ratio", "none"]
EditKind = Literal["references", "fill", "expand"]

MULTIPLE = 16
MIN_SIDE = 64
MAX_PIXELS = 4 * 1024 * 1024  # "4 MP": 2048x2048
# The exact ratios accepted for ``aspect_ratio`` models (BFL's range is 21:9 to 9:21; the
# proxy translates only these, so what the client gets is what it asked for).
RATIOS = ("21:9", "16:9", "3:2", "4:3", "5:4", "1:1", "4:5", "3:4", "2:3", "9:16", "9:21")


@dataclass(frozen=True, slots=True)
class Grid:
    """The ``width`` / ``height`` a model accepts."""

    multiple: int = MULTIPLE
    min_side: int = MIN_SIDE
    max_side: int | None = None
    max_pixels: int | None = MAX_PIXELS

    def problem(self, width: int, height: int) -> str | None:
        if width % self.multiple or height % self.multiple:
            return f"width and height must be multiples of {self.multiple}"
        if min(width, height) < self.min_side:
            return f"width and height must be at least {self.min_side}"
        if self.max_side is not None and max(width, height) > self.max_side:
            return f"width and height must be at most {self.max_side}"
        if self.max_pixels is not None and width * height > self.max_pixels:
            return "width x height must be at most 4 megapixels (e.g. 2048x2048)"
        return None


FLUX2_GRID = Grid()
FLUX1_GRID = Grid(multiple=32, min_side=256, max_side=1440, max_pixels=None)


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    sizing: Sizing
    edit: EditKind | None  # None: cannot edit
    max_images: int = 1  # edit inputs
    generates: bool = True
    grid: Grid = FLUX2_GRID

    @property
    def takes_mask(self) -> bool:
        return self.edit == "fill"


FLUX2 = Family("FLUX.2", "pixels", "references", 8)
KLEIN = Family("FLUX.2 [klein]", "pixels", "references", 4)
FLUX11 = Family("FLUX1.1 [pro]", "pixels", None, 0, grid=FLUX1_GRID)
ULTRA = Family("FLUX1.1 [pro] Ultra", "ratio", None, 0)
KONTEXT = Family("FLUX.1 Kontext", "ratio", "references", 1)
FILL = Family("FLUX.1 Fill [pro]", "none", "fill", 1, generates=False)
EXPAND = Family("FLUX.1 Expand [pro]", "none", "expand", 1, generates=False)


def family(model: str) -> Family:
    name = model.rsplit("/", 1)[-1].lower()
    if "fill" in name:
        return FILL
    if "expand" in name:
        return EXPAND
    if "kontext" in name:
        return KONTEXT
    if "ultra" in name:
        return ULTRA
    if name.startswith("flux-2"):
        return KLEIN if "klein" in name else FLUX2
    return FLUX11


def _dimensions(size: str) -> tuple[int, int] | None:
    w, sep, h = size.lower().partition("x")
    if not sep or not w.isdigit() or not h.isdigit():
        return None
    return int(w), int(h)


def pixel_size(size: str, model: str, grid: Grid = FLUX2_GRID) -> tuple[int, int]:
    """``WxH`` as ``(width, height)`` within the model's grid; a 400 naming the rule broken."""
    dims = _dimensions(size)
    if dims is None:
        raise InvalidRequestError(
            f"size {size!r} is not WIDTHxHEIGHT (e.g. 1024x768) for Black Forest Labs model "
            f"{model!r}.",
            param="size",
            code="invalid_size",
        )
    width, height = dims
    rule = grid.problem(width, height)
    if rule is None:
        return width, height
    raise InvalidRequestError(
        f"size {size!r} is not supported by Black Forest Labs model {model!r}: {rule}.",
        param="size",
        code="invalid_size",
    )


def aspect_ratio(size: str, model: str) -> str:
    """``WxH`` (or ``W:H``) as one of ``RATIOS``, exactly; a 400 listing them otherwise."""
    ratio: str | None = None
    dims = _dimensions(size)
    if dims is not None and all(dims):
        d = math.gcd(*dims)
        ratio = f"{dims[0] // d}:{dims[1] // d}"
    elif size.count(":") == 1:
        ratio = size
    if ratio in RATIOS:
        return ratio
    raise InvalidRequestError(
        f"size {size!r} is not supported by Black Forest Labs model {model!r}, which takes an "
        f"aspect ratio: give a size of exactly one of {', '.join(RATIOS)} "
        "(e.g. 1024x1024, 1536x1024, 1920x1080).",
        param="size",
        code="invalid_size",
    )
