"""``data:`` URI images for the checks every image passes (``proxy.images.formats``): a good
one, and bad ones with the reason each is refused for under a 4096-byte limit."""

from __future__ import annotations

import base64

from proxy.providers.mock.png import render_png

PNG = render_png(8, 4, (10, 20, 30))
LIMIT = 4096
BIG = PNG + bytes(5000)
PAGE = b"<html>error</html>"
IMAGE_TYPES = "(PNG, JPEG, WEBP, GIF or AVIF)"
NOT_AN_IMAGE = f"the bytes are not an image {IMAGE_TYPES}"
TOO_LARGE = "image larger than the 4096 byte limit"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


GOOD = f"data:image/png;base64,{b64(PNG)}"
BAD = {
    "not an image type": (
        f"data:text/plain;base64,{b64(PNG)}",
        f"the media type text/plain is not an image type {IMAGE_TYPES}",
    ),
    "too big": (f"data:image/png;base64,{b64(BIG)}", TOO_LARGE),
    "bytes not of the declared type": (
        f"data:image/jpeg;base64,{b64(PNG)}",
        "the bytes are image/png, not the declared image/jpeg",
    ),
    "not an image at all": (f"data:image/png;base64,{b64(PAGE)}", NOT_AN_IMAGE),
    "malformed base64": (
        "data:image/png;base64,iVBORw0KGgo@@@@",
        "the data: URI is not valid base64",
    ),
}
