"""OpenAI masks (alpha 0 = edit) converted to white-edits and black-edits grayscale masks,
checked pixel by pixel: exactly the transparent rectangle the client drew is the edit colour."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from proxy.api.uploads import input_image
from proxy.errors import InvalidRequestError
from proxy.providers.masks import BLACK_EDITS, WHITE_EDITS, MaskConvention, converted_mask
from proxy.schemas.edits import InputImage

W, H = 40, 30
RECT = (5, 7, 17, 20)  # left, top, right (exclusive), bottom (exclusive)


def encoded(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def openai_mask(
    width: int = W, height: int = H, rect: tuple[int, int, int, int] = RECT
) -> InputImage:
    """An opaque red RGBA mask with a fully transparent rectangle, plus half-transparent
    pixels outside it (which OpenAI does not treat as "edit")."""
    image = Image.new("RGBA", (width, height), (200, 10, 10, 255))
    image.paste((0, 0, 0, 0), rect)
    image.putpixel((0, 0), (255, 255, 255, 128))
    image.putpixel((width - 1, height - 1), (0, 0, 0, 1))
    return input_image(encoded(image), "mask", 0)


def first_image(width: int = W, height: int = H) -> InputImage:
    return input_image(encoded(Image.new("RGB", (width, height), (1, 2, 3))), "image", 0)


def inside(x: int, y: int) -> bool:
    left, top, right, bottom = RECT
    return left <= x < right and top <= y < bottom


@pytest.mark.parametrize(
    ("convention", "edit", "keep"), [(WHITE_EDITS, 255, 0), (BLACK_EDITS, 0, 255)]
)
def test_the_transparent_rectangle_is_exactly_the_edit_area(
    convention: MaskConvention, edit: int, keep: int
) -> None:
    out = Image.open(io.BytesIO(converted_mask(openai_mask(), first_image(), convention)))
    assert out.format == "PNG" and out.mode == "L" and out.size == (W, H)
    pixels = out.load()
    assert pixels is not None
    for y in range(H):
        for x in range(W):
            assert pixels[x, y] == (edit if inside(x, y) else keep), (x, y)


def test_a_palette_mask_with_a_transparent_index() -> None:
    image = Image.new("P", (W, H), 1)
    image.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    image.paste(0, RECT)
    data = io.BytesIO()
    image.save(data, format="PNG", transparency=0)
    mask = input_image(data.getvalue(), "mask", 0)
    out = Image.open(io.BytesIO(converted_mask(mask, first_image(), WHITE_EDITS)))
    edited = {(x, y) for y in range(H) for x in range(W) if out.getpixel((x, y)) == 255}
    assert edited == {(x, y) for y in range(H) for x in range(W) if inside(x, y)}


def test_a_mask_of_another_size_is_refused() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        converted_mask(openai_mask(), first_image(W + 1, H), WHITE_EDITS)
    assert caught.value.status == 400 and caught.value.param == "mask"
    assert caught.value.code == "mask_size_mismatch"
    assert f"{W}x{H}" in caught.value.message and f"{W + 1}x{H}" in caught.value.message


def test_a_mask_without_alpha_is_refused() -> None:
    flat = input_image(encoded(Image.new("L", (W, H), 255)), "mask", 0)
    with pytest.raises(InvalidRequestError, match="no alpha channel") as caught:
        converted_mask(flat, first_image(), BLACK_EDITS)
    assert caught.value.param == "mask"


def test_an_unreadable_mask_is_refused() -> None:
    broken = InputImage(data=b"\x89PNG\r\n\x1a\nnot really", media_type="image/png", filename="m")
    with pytest.raises(InvalidRequestError, match="not a readable PNG") as caught:
        converted_mask(broken, first_image(), WHITE_EDITS)
    assert caught.value.status == 400
