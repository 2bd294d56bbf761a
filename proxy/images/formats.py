"""Image bytes and the shapes they travel in: magic-byte sniffing and data URIs, and the one
check every image the proxy takes in passes, downloaded or carried in a ``data:`` URI
(``check_image``, ``image_of_data_uri``).
"""

from __future__ import annotations

import base64
import binascii
import re
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


def too_large(max_bytes: int) -> ImageRejected:
    return ImageRejected(f"image larger than the {max_bytes} byte limit")


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
