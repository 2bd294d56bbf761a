"""Image bytes and the shapes they travel in: magic-byte sniffing and data URIs, and the one
check every image the proxy takes in passes, downloaded or carried in a ``data:`` URI
(``check_image``, ``image_of_data_uri``).
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ImageType:
    mime: str
    extension: str


PNG = ImageType("image/png", "png")
JPEG = ImageType("image/jpeg", "jpg")
WEBP = ImageType("image/webp", "webp")
GIF = ImageType("image/gif", "gif")
AVIF = ImageType("image/avif", "avif")
UNKNOWN = ImageType("application/octet-stream", "bin")
BY_EXTENSION = {t.extension: t for t in (PNG, JPEG, WEBP, GIF, AVIF, UNKNOWN)}
IMAGE_TYPES = (PNG, JPEG, WEBP, GIF, AVIF)
BY_MEDIA_TYPE = {t.mime: t for t in IMAGE_TYPES} | {"image/jpg": JPEG}  # a common misspelling
NAMES = "PNG, JPEG, WEBP, GIF or AVIF"

_DATA_URI = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^;,]*)*?);base64,", re.I)


def sniff_image(data: bytes) -> ImageType | None:
    """The image type from the first bytes, or None when they are not a known image."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if len(data) >= 12 and data[4:8] == b"ftyp" and data[8:12] in (b"avif", b"avis"):
        return AVIF
    return None


class ImageRejected(Exception):
    """Not an image the proxy takes; ``str()`` says why and is safe to show (no payload)."""


class ImageTooLarge(ImageRejected):
    """An image over the size limit (a 413 where the client sent it)."""


def too_large(max_bytes: int) -> ImageTooLarge:
    return ImageTooLarge(f"image larger than the {max_bytes} byte limit")


def check_image(data: bytes, max_bytes: int, declared: ImageType | None = None) -> ImageType:
    """The rule for image bytes from anywhere: at most ``max_bytes``, bytes of a known image
    type (sniffed, whatever the sender said), and of the ``declared`` type when one is.

    The downloader declares nothing (an HTTP content type is not kept: the bytes decide);
    a ``data:`` URI declares its type, which travels on with it."""
    if len(data) > max_bytes:
        raise too_large(max_bytes)
    kind = sniff_image(data)
    if kind is None:
        raise ImageRejected(f"the bytes are not an image ({NAMES})")
    if declared is not None and kind is not declared:
        raise ImageRejected(f"the bytes are {kind.mime}, not the declared {declared.mime}")
    return kind


def image_of_data_uri(uri: str, max_bytes: int) -> bytes:
    """The image in a base64 ``data:`` URI, checked as a download is (``check_image``).

    As a download's ``content-length`` is read before its body, the declared media type must
    be an image type and the size the base64 text implies must fit (with room for line
    breaks) before anything is decoded; then the bytes themselves are checked."""
    m = _DATA_URI.match(uri)
    if m is None:
        raise ImageRejected("the data: URI is not base64 (data:<media type>;base64,<data>)")
    media_type = (m["mime"] or "").lower()
    declared = BY_MEDIA_TYPE.get(media_type)
    if declared is None:
        raise ImageRejected(
            f"the media type {media_type or '(none)'} is not an image type ({NAMES})"
        )
    payload = uri[m.end() :]
    if len(payload) // 4 * 3 > max_bytes + max_bytes // 16 + 3:
        raise too_large(max_bytes)
    data = decode_b64(payload)
    if data is None:
        raise ImageRejected("the data: URI is not valid base64")
    check_image(data, max_bytes, declared)
    return data


_JPEG_SOF = frozenset(
    {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
)


def image_dimensions(data: bytes) -> tuple[int, int] | None:
    """(width, height) read from the header of a PNG, JPEG, WEBP or GIF (nothing decoded),
    or None when the header does not say."""
    kind = sniff_image(data)
    try:
        if kind is PNG and data[12:16] == b"IHDR":
            width, height = struct.unpack(">II", data[16:24])
            return width, height
        if kind is GIF:
            width, height = struct.unpack("<HH", data[6:10])
            return width, height
        if kind is WEBP:
            return _webp_dimensions(data)
        if kind is JPEG:
            return _jpeg_dimensions(data)
    except struct.error:  # a header cut short
        return None
    return None


def _webp_dimensions(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    if chunk == b"VP8L" and data[20:21] == b"\x2f":
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    return None


def _jpeg_dimensions(data: bytes) -> tuple[int, int] | None:
    """The frame header's size: segments are walked by their lengths from the SOI marker."""
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD9)):  # markers without a length
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in _JPEG_SOF:
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        if marker == 0xDA:  # scan data: no frame header before it
            return None
        i += 2 + length
    return None


def is_data_uri(value: str) -> bool:
    return value[:5].lower() == "data:"


def decode_b64(value: str) -> bytes | None:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        pass
    try:  # some servers wrap base64 in lines
        return base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def encode_b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def data_uri(data: bytes) -> str:
    kind = sniff_image(data) or PNG
    return f"data:{kind.mime};base64,{encode_b64(data)}"
