"""Stability AI Image Services on Bedrock (``/v1/images/edits``): inpaint, outpaint, erase
object, search and replace, search and recolor, remove background, control sketch and
structure, style guide, style transfer, and the fast / conservative / creative upscales.

Each takes Stability's own JSON on ``/model/{id}/invoke``: ``image`` (the uploaded image,
base64; style transfer reads two, ``init_image`` then ``style_image``), ``prompt`` where the
service has one, ``mask`` (inpaint and erase: the OpenAI mask converted to Stability's
white = edit, base64 PNG) and the service's native fields as the client sent them
(``negative_prompt``, ``seed``, ``grow_mask``, ``style_preset``, ``search_prompt``,
``select_prompt``, ``left``/``right``/``up``/``down``, ``creativity``, ``control_strength``,
...; numbers typed from form text); ``output_format`` travels as sent. The answer is
Stability's ``{"images", "seeds", "finish_reasons"}``. One image per call: ``n`` fans out.

What a service cannot honour is a 400 before any call: another number of images than it
reads, a mask where it takes none, a missing ``search_prompt`` / ``select_prompt``, an
outpaint with no side to grow, a ``size`` other than the input's (services that make a size
of their own: ``auto`` only), ``input_fidelity=high``. Erase, remove background and fast
upscale take no prompt: the client's prompt (which the OpenAI SDK requires) is read by the
guardrails and not sent. On ``/v1/images/generations`` these models are a 400 pointing at the
edits endpoint.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from proxy.errors import InvalidRequestError
from proxy.providers.base import ImageResult
from proxy.providers.bedrock.params import (
    EDIT_PARAMS,
    check_common,
    native_params,
    parse_size,
    refuse,
    single_quality,
)
from proxy.providers.bedrock.stability_v3 import parse_stability
from proxy.providers.masks import WHITE_EDITS, converted_mask
from proxy.schemas import ImageRequest
from proxy.schemas.edits import EditRequest

OUTPUT_FORMATS = ("png", "jpeg", "webp")
SIDES = ("left", "right", "up", "down")
# Stability's numeric fields: multipart form fields arrive as text, Bedrock's JSON schema
# wants numbers.
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
class StabilityEdit:
    """One Stability Image Service that edits: what it reads of the request."""

    label: str
    takes_prompt: bool
    takes_mask: bool
    required: tuple[str, ...] = ()  # native fields it cannot do without
    grows: bool = False  # outpaint: needs a side to grow
    keeps_size: bool = True  # else its output size is its own: only size=auto
    images: tuple[str, ...] = ("image",)  # the body fields of the uploaded images, in order
    output_formats: tuple[str, ...] = OUTPUT_FORMATS
    transparent: bool = False  # remove background: the output's background is transparent
    fan_out = True

    def bodies(self, request: ImageRequest) -> list[dict[str, Any]]:
        raise InvalidRequestError(
            f"{self.label} edits an image: call /v1/images/edits with the image to edit.",
            param="model",
            code="unsupported_model",
        )

    def parse(self, payload: Any, request: ImageRequest | EditRequest) -> ImageResult:
        return parse_stability(payload, request.body.get("output_format"))

    def edit_bodies(self, request: EditRequest) -> list[dict[str, Any]]:
        native = typed_native(request)
        self._check(request, native)
        first = request.images[0]
        body: dict[str, Any] = {
            name: base64.b64encode(image.data).decode("ascii")
            for name, image in zip(self.images, request.images, strict=True)
        }
        if self.takes_prompt:
            body["prompt"] = request.prompt
        if request.mask is not None:
            mask = converted_mask(request.mask, first, WHITE_EDITS)
            body["mask"] = base64.b64encode(mask).decode("ascii")
        body.update(native)
        output_format = request.body.get("output_format")
        if output_format is not None:
            body["output_format"] = output_format
        return [body for _ in range(request.n)]

    def _check(self, request: EditRequest, native: dict[str, Any]) -> None:
        check_common(
            request, self.label, output_formats=self.output_formats, transparent=self.transparent
        )
        single_quality(request, self.label)
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


INPAINT = StabilityEdit("Stability Inpaint", takes_prompt=True, takes_mask=True)
OUTPAINT = StabilityEdit(
    "Stability Outpaint", takes_prompt=True, takes_mask=False, grows=True, keeps_size=False
)
ERASE = StabilityEdit("Stability Erase Object", takes_prompt=False, takes_mask=True)
SEARCH_REPLACE = StabilityEdit(
    "Stability Search and Replace", takes_prompt=True, takes_mask=False, required=("search_prompt",)
)
SEARCH_RECOLOR = StabilityEdit(
    "Stability Search and Recolor", takes_prompt=True, takes_mask=False, required=("select_prompt",)
)
REMOVE_BACKGROUND = StabilityEdit(
    "Stability Remove Background",
    takes_prompt=False,
    takes_mask=False,
    output_formats=("png", "webp"),
    transparent=True,
)


def remaking(
    label: str, *, prompt: bool = True, images: tuple[str, ...] = ("image",)
) -> StabilityEdit:
    """A service that makes a new image of its own size from the input, with no mask."""
    return StabilityEdit(label, prompt, takes_mask=False, keeps_size=False, images=images)


CONTROL_SKETCH = remaking("Stability Control Sketch")
CONTROL_STRUCTURE = remaking("Stability Control Structure")
STYLE_GUIDE = remaking("Stability Style Guide")
STYLE_TRANSFER = remaking("Stability Style Transfer", images=("init_image", "style_image"))
FAST_UPSCALE = remaking("Stability Fast Upscale", prompt=False)
CONSERVATIVE_UPSCALE = remaking("Stability Conservative Upscale")
CREATIVE_UPSCALE = remaking("Stability Creative Upscale")
