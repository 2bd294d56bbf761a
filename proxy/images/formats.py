"""Image bytes and the shapes they travel in: magic-byte sniffing and data URIs."""

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


def is_data_uri(value: str) -> bool:
    return value[:5].lower() == "data:"


def decode_data_uri(value: str) -> bytes | None:
    """The bytes of a base64 ``data:`` URI, or None when it is not one."""
    m = _DATA_URI.match(value)
    if not m:
        return None
    return decode_b64(value[m.end() :])


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
