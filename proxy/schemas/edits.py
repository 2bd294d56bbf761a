"""Image edits and variations: the requests of ``POST /v1/images/edits`` and
``POST /v1/images/variations``, validated once at the edge.

The api layer reads the images within the upload limits (``proxy.api.uploads``) and hands
them over as ``InputImage`` values; the text fields arrive as a body dict, exactly as for
generations (unknown parameters travel to the provider untouched). ``body`` never holds image
bytes: the pre-call stages, prices and logs read it. Every problem is a 400 naming the
parameter.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from proxy.blob import Blob
from proxy.errors import InvalidRequestError
from proxy.schemas.requests import (
    ImageRequest,
    body_params,
    image_count,
    image_response_format,
    model_name,
    optional_name,
    optional_str,
    refuse_routing_overrides,
)

MAX_EDIT_IMAGES = 16  # OpenAI's limit for GPT image models
EDIT_MEDIA_TYPES = ("image/png", "image/jpeg", "image/webp")
MASK_MEDIA_TYPE = "image/png"

# Form fields are text; these are typed as the JSON body would carry them.
INT_FIELDS = frozenset(
    {"n", "partial_images", "output_compression", "frame_count", "frame_duration_ms"}
)
BOOL_FIELDS = frozenset({"stream", "disable_fallbacks"})


class InputImage:
    """One uploaded image: its bytes (in memory, or still in the upload's temporary file:
    ``proxy.blob``), the type sniffed from them and the size its header declares (None when
    the header does not say)."""

    __slots__ = ("blob", "filename", "height", "media_type", "width")

    def __init__(
        self,
        data: bytes | Blob,
        media_type: str,
        filename: str,
        width: int | None = None,
        height: int | None = None,
    ) -> None:
        self.blob = data if isinstance(data, Blob) else Blob(data)
        self.media_type = media_type
        self.filename = filename
        self.width = width
        self.height = height

    def __repr__(self) -> str:
        return f"InputImage({self.filename!r}, {self.media_type}, {self.size} bytes)"

    @property
    def data(self) -> bytes:
        """The bytes; an upload still in its file is loaded by the attempt stage first."""
        return self.blob.data

    @property
    def size(self) -> int:
        return self.blob.size

    @property
    def data_url(self) -> str:
        """The bytes as a ``data:`` URL (what JSON image APIs take for an upload)."""
        return f"data:{self.media_type};base64,{base64.b64encode(self.data).decode('ascii')}"

    @property
    def extension(self) -> str:
        return {"image/jpeg": "jpg"}.get(self.media_type, self.media_type.rsplit("/", 1)[-1])

    @property
    def dimensions(self) -> str | None:
        if self.width is None or self.height is None:
            return None
        return f"{self.width}x{self.height}"


def form_value(name: str, value: str) -> Any:
    """A multipart text field typed as JSON would carry it (``n=2`` -> 2, ``stream=true`` ->
    True); anything else stays text."""
    if name in INT_FIELDS:
        try:
            return int(value)
        except ValueError:
            raise InvalidRequestError(f"'{name}' must be an integer.", param=name) from None
    if name in BOOL_FIELDS:
        lowered = value.lower()
        if lowered not in ("true", "false"):
            raise InvalidRequestError(f"'{name}' must be true or false.", param=name)
        return lowered == "true"
    return value


def _check_images(images: tuple[InputImage, ...], param: str, most: int) -> None:
    if not images:
        raise InvalidRequestError(f"'{param}' is required: upload an image file.", param=param)
    if len(images) > most:
        raise InvalidRequestError(
            f"'{param}' takes at most {most} image{'s' if most > 1 else ''}, got {len(images)}.",
            param=param,
            code="too_many_images",
        )
    for i, image in enumerate(images):
        if image.media_type not in EDIT_MEDIA_TYPES:
            where = param if len(images) == 1 else f"{param}[{i}]"
            raise InvalidRequestError(
                f"'{where}' must be a PNG, JPEG or WEBP image.",
                param=param,
                code="invalid_image_format",
            )


def _check_overlay(name: str, overlay: InputImage | None, first: InputImage) -> None:
    """A mask (or markup) is a PNG the size of the first image."""
    if overlay is None:
        return
    if overlay.media_type != MASK_MEDIA_TYPE:
        raise InvalidRequestError(f"'{name}' must be a PNG image.", param=name)
    if overlay.dimensions and first.dimensions and overlay.dimensions != first.dimensions:
        raise InvalidRequestError(
            f"'{name}' is {overlay.dimensions} but the first image is {first.dimensions}; "
            "they must be the same size.",
            param=name,
            code="mask_size_mismatch",
        )


@dataclass(slots=True)
class EditRequest:
    """``POST /v1/images/edits``: the generation fields plus the images, the mask (applied
    to the first image) and GPT Image 2.5's ``markup``."""

    body: dict[str, Any]  # the text fields, unknown parameters included; no image bytes
    model: str
    prompt: str
    n: int
    size: str | None
    quality: str | None
    response_format: str | None
    stream: bool
    user: str | None
    images: tuple[InputImage, ...]
    mask: InputImage | None = None
    markup: InputImage | None = None

    @classmethod
    def from_parts(
        cls,
        body: dict[str, Any],
        images: tuple[InputImage, ...],
        mask: InputImage | None = None,
        markup: InputImage | None = None,
    ) -> EditRequest:
        text = ImageRequest.from_body(body)  # model, prompt, n, formats: as for generations
        _check_images(images, "image", MAX_EDIT_IMAGES)
        _check_overlay("mask", mask, images[0])
        _check_overlay("markup", markup, images[0])
        if mask is not None and markup is not None:
            raise InvalidRequestError("'markup' cannot be combined with 'mask'.", param="markup")
        return cls(
            body=text.body,
            model=text.model,
            prompt=text.prompt,
            n=text.n,
            size=text.size,
            quality=text.quality,
            response_format=text.response_format,
            stream=text.stream,
            user=text.user,
            images=images,
            mask=mask,
            markup=markup,
        )

    @property
    def uploads(self) -> tuple[InputImage, ...]:
        """The images, then the mask or markup."""
        return (*self.images, *(o for o in (self.mask, self.markup) if o is not None))

    @property
    def upload_bytes(self) -> int:
        return sum(i.size for i in self.uploads)

    def params(self, *exclude: str) -> dict[str, Any]:
        """The client's text parameters minus ``model`` and anything named."""
        return body_params(self.body, exclude)


@dataclass(slots=True)
class VariationRequest:
    """``POST /v1/images/variations`` (dall-e-2's shape): one image, no prompt."""

    body: dict[str, Any]
    model: str
    n: int
    size: str | None
    response_format: str | None
    user: str | None
    image: InputImage
    prompt: None = None  # nothing for guardrails to read
    quality: None = None
    stream: bool = False

    @classmethod
    def from_parts(cls, body: dict[str, Any], images: tuple[InputImage, ...]) -> VariationRequest:
        refuse_routing_overrides(body)
        model = model_name(body)
        if body.get("stream") not in (None, False):
            raise InvalidRequestError("'stream' is not available for variations.", param="stream")
        _check_images(images, "image", 1)
        return cls(
            body=body,
            model=model,
            n=image_count(body),
            size=optional_str(body, "size"),
            response_format=image_response_format(body),
            user=optional_name(body, "user"),
            image=images[0],
        )

    @property
    def uploads(self) -> tuple[InputImage, ...]:
        return (self.image,)

    @property
    def upload_bytes(self) -> int:
        return self.image.size

    def params(self, *exclude: str) -> dict[str, Any]:
        return body_params(self.body, exclude)
