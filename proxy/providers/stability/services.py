"""Stability AI's image services as data, wherever they are served (Stability's own API,
Bedrock): the aspect ratios its generators make, and what each edit service reads of an
``/v1/images/edits`` request.

What a service cannot honour is a 400 before any call: another number of images than it
reads, a mask where it takes none, a missing ``search_prompt`` / ``select_prompt``, an
outpaint with no side to grow, a ``size`` other than the input's (services that make a size
of their own: ``auto`` only), ``input_fidelity=high``. How a body is written (JSON with
base64 on Bedrock, multipart on Stability's API) is the serving adapter's.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd
from typing import Any

from proxy.errors import InvalidRequestError
from proxy.providers.image_params import EDIT_PARAMS, native_params, parse_size, refuse
from proxy.schemas.edits import EditRequest

ASPECT_RATIOS = ("16:9", "1:1", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21")
RATIO_SIZES = (
    "a size whose ratio is one of "
    + ", ".join(ASPECT_RATIOS)
    + " (e.g. 1024x1024, 1536x1024, 1024x1536), or the native aspect_ratio"
)
OUTPUT_FORMATS = ("png", "jpeg", "webp")
SIDES = ("left", "right", "up", "down")
# Stability's numeric fields: multipart form fields arrive as text; checked to be numbers
# (Bedrock's JSON schema wants them typed).
NUMBERS: dict[str, type[int] | type[float]] = {
    "seed": int,
    "grow_mask": int,
    **dict.fromkeys(SIDES, int),
    "creativity": float,
    "control_strength": float,
    "fidelity": float,
    "style_strength": float,
    "composition_fidelity": float,
    "change_strength": float,
}


def ratio_of(width: int, height: int) -> str:
    d = gcd(width, height)
    return f"{width // d}:{height // d}"


def check_ratio(label: str, ratio: Any) -> str:
    """A native ``aspect_ratio``, checked to be one Stability makes."""
    if ratio not in ASPECT_RATIOS:
        raise refuse(label, "aspect_ratio", ratio, ", ".join(ASPECT_RATIOS))
    return str(ratio)


def size_ratio(label: str, size: str | None) -> str | None:
    """The aspect ratio an OpenAI ``size`` reduces to exactly (``1536x1024`` -> ``3:2``);
    None for no size / ``auto``; a 400 listing the ratios for any other shape (never a
    silently different one)."""
    parsed = parse_size(label, size, RATIO_SIZES)
    if parsed is None:
        return None
    ratio = ratio_of(*parsed)
    if ratio not in ASPECT_RATIOS:
        raise refuse(label, "size", size, RATIO_SIZES)
    return ratio


def typed_native(request: EditRequest) -> dict[str, Any]:
    """The client's Stability fields, numbers typed (``"7"`` -> 7); a 400 naming a field
    whose text is not a number."""
    native = native_params(request, EDIT_PARAMS)
    for name, kind in NUMBERS.items():
        value = native.get(name)
        if isinstance(value, str):
            try:
                native[name] = kind(value)
            except ValueError:
                raise InvalidRequestError(
                    f"'{name}' must be {'an integer' if kind is int else 'a number'}.",
                    param=name,
                ) from None
    return native


@dataclass(frozen=True, slots=True)
class StabilityService:
    """One Stability image service that edits: what it reads of the request. ``path`` is
    its place under ``/v2beta/stable-image/`` on Stability's own API (None: not served there
    synchronously)."""

    label: str
    takes_prompt: bool
    takes_mask: bool
    path: str | None = None
    required: tuple[str, ...] = ()  # native fields it cannot do without
    grows: bool = False  # outpaint: needs a side to grow
    keeps_size: bool = True  # else its output size is its own: only size=auto
    images: tuple[str, ...] = ("image",)  # the body fields of the uploaded images, in order
    output_formats: tuple[str, ...] = OUTPUT_FORMATS
    transparent: bool = False  # remove background: the output's background is transparent

    def check(self, request: EditRequest, native: dict[str, Any]) -> None:
        """The 400s of this service's own rules (the OpenAI parameters are the serving
        adapter's to check)."""
        if len(request.images) != len(self.images):
            wanted = (
                "one image"
                if len(self.images) == 1
                else f"{len(self.images)} images ({', then '.join(self.images)})"
            )
            raise refuse(self.label, "image", f"{len(request.images)} images", wanted)
        if request.mask is not None and not self.takes_mask:
            raise InvalidRequestError(
                f"{self.label} takes no mask (the service finds the area itself); send the "
                "edit without 'mask', or use an inpaint or erase model.",
                param="mask",
                code="unsupported_parameter",
            )
        if request.body.get("input_fidelity") not in (None, "low"):
            raise refuse(self.label, "input_fidelity", request.body["input_fidelity"], "low")
        for name in self.required:
            if not native.get(name):
                raise InvalidRequestError(
                    f"{self.label} needs '{name}' (send it as an extra form field).",
                    param=name,
                )
        if self.grows and not any(native.get(side) for side in SIDES):
            raise InvalidRequestError(
                f"{self.label} needs at least one of {', '.join(SIDES)} (pixels to add).",
                param="left",
            )
        self._check_size(request)

    def _check_size(self, request: EditRequest) -> None:
        first = request.images[0]
        if not self.keeps_size:
            accepted = "auto (the service decides the output size)"
            if parse_size(self.label, request.size, accepted) is not None:
                raise refuse(self.label, "size", request.size, accepted)
            return
        accepted = f"auto or the input's size{f' ({first.dimensions})' if first.dimensions else ''}"
        size = parse_size(self.label, request.size, accepted)
        if size is not None and size != (first.width, first.height):
            raise refuse(self.label, "size", request.size, accepted)


def _remaking(
    label: str, path: str | None, *, prompt: bool = True, images: tuple[str, ...] = ("image",)
) -> StabilityService:
    """A service that makes a new image of its own size from the input, with no mask."""
    return StabilityService(
        label, prompt, takes_mask=False, path=path, keeps_size=False, images=images
    )


INPAINT = StabilityService("Stability Inpaint", True, takes_mask=True, path="edit/inpaint")
OUTPAINT = StabilityService(
    "Stability Outpaint", True, takes_mask=False, path="edit/outpaint", grows=True, keeps_size=False
)
ERASE = StabilityService("Stability Erase Object", False, takes_mask=True, path="edit/erase")
SEARCH_REPLACE = StabilityService(
    "Stability Search and Replace",
    True,
    takes_mask=False,
    path="edit/search-and-replace",
    required=("search_prompt",),
)
SEARCH_RECOLOR = StabilityService(
    "Stability Search and Recolor",
    True,
    takes_mask=False,
    path="edit/search-and-recolor",
    required=("select_prompt",),
)
REMOVE_BACKGROUND = StabilityService(
    "Stability Remove Background",
    False,
    takes_mask=False,
    path="edit/remove-background",
    output_formats=("png", "webp"),
    transparent=True,
)
CONTROL_SKETCH = _remaking("Stability Control Sketch", "control/sketch")
CONTROL_STRUCTURE = _remaking("Stability Control Structure", "control/structure")
STYLE_GUIDE = _remaking("Stability Style Guide", "control/style")
STYLE_TRANSFER = _remaking(
    "Stability Style Transfer", "control/style-transfer", images=("init_image", "style_image")
)
FAST_UPSCALE = _remaking("Stability Fast Upscale", "upscale/fast", prompt=False)
CONSERVATIVE_UPSCALE = _remaking("Stability Conservative Upscale", "upscale/conservative")
# Stability's own API answers a creative upscale with a generation id to poll: Bedrock only.
CREATIVE_UPSCALE = _remaking("Stability Creative Upscale", None)
