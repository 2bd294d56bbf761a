"""OpenAI edit masks turned into the masks other providers read.

An OpenAI mask is a PNG the size of the first image whose fully transparent pixels
(alpha 0) mark the area to edit; every other pixel is kept (OpenAI gives partial alpha no
meaning of its own, so 1-254 count as "keep", which also suits the upstreams that take pure
black and white only). Upstreams read a grayscale mask instead:

- ``WHITE_EDITS``: 255 where the client's mask is transparent, 0 elsewhere (Stability, also
  on Bedrock; Black Forest Labs Fill; Recraft);
- ``BLACK_EDITS``: 0 where transparent, 255 elsewhere (Bedrock Amazon inpainting).

The result is a mode-``L`` PNG of the same size, never resized: a mask whose size differs
from the image it applies to is a 400 before any upstream call. Decoding is Pillow's; it is
CPU work, so adapters that convert masks are built in a worker thread
(``proxy.attempt.edits.built_edit``). Pillow is imported on the first mask (2 MiB a process
that never converts one does not hold).
"""

from __future__ import annotations

import io
import warnings
from enum import Enum
from typing import TYPE_CHECKING

from proxy.errors import InvalidRequestError
from proxy.schemas.edits import InputImage

if TYPE_CHECKING:
    from PIL import Image


class MaskConvention(Enum):
    WHITE_EDITS = 255  # the value written where the client's mask is transparent
    BLACK_EDITS = 0


WHITE_EDITS = MaskConvention.WHITE_EDITS
BLACK_EDITS = MaskConvention.BLACK_EDITS


def _refused(message: str, code: str = "invalid_mask") -> InvalidRequestError:
    return InvalidRequestError(message, param="mask", code=code)


def _alpha(mask: InputImage) -> Image.Image:
    """The mask's alpha channel (mode ``L``); a 400 when it has none or cannot be read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(mask.data))
            opened.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _refused("'mask' has too many pixels to be decoded.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise _refused("'mask' is not a readable PNG image.") from None
    if opened.format != "PNG":
        raise _refused("'mask' must be a PNG image.")
    image: Image.Image = opened
    if "A" not in image.getbands() and "transparency" not in image.info:
        raise _refused(
            "'mask' has no alpha channel: an OpenAI mask marks the area to edit with fully "
            "transparent pixels (alpha 0)."
        )
    if image.mode != "RGBA" and "A" not in image.getbands():
        image = image.convert("RGBA")  # palette or grayscale with a tRNS chunk
    return image.getchannel("A")


def converted_mask(mask: InputImage, image: InputImage, convention: MaskConvention) -> bytes:
    """``mask`` (OpenAI's: alpha 0 = edit) as a grayscale PNG in ``convention``, checked to
    be the size of ``image`` (the first image, the one it applies to)."""
    alpha = _alpha(mask)
    width, height = alpha.size
    if (
        image.width is not None
        and image.height is not None
        and ((image.width, image.height) != (width, height))
    ):
        raise _refused(
            f"'mask' is {width}x{height} but the first image is {image.width}x{image.height}; "
            "they must be the same size.",
            code="mask_size_mismatch",
        )
    edit, keep = convention.value, 255 - convention.value
    lookup = [edit] + [keep] * 255  # alpha 0 -> edit, 1..255 -> keep
    out = alpha.point(lookup)
    buffer = io.BytesIO()
    out.save(buffer, format="PNG")
    return buffer.getvalue()
