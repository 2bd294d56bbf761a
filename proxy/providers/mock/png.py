"""Deterministic placeholder PNGs: a colour from the prompt, a darker band, exact size."""

from __future__ import annotations

import hashlib
import struct
import zlib
from functools import lru_cache

MAX_SIDE = 4096


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def colour_for(prompt: str, index: int) -> tuple[int, int, int]:
    digest = hashlib.sha256(f"{index}:{prompt}".encode()).digest()
    return digest[0], digest[1], digest[2]


@lru_cache(maxsize=64)
def render_png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A ``width`` x ``height`` RGB PNG: flat ``rgb`` with a darker horizontal band."""
    r, g, b = rgb
    plain = b"\x00" + bytes((r, g, b)) * width
    dark = b"\x00" + bytes((r // 2, g // 2, b // 2)) * width
    band_top, band_bottom = height * 2 // 5, height * 3 // 5
    raw = b"".join(dark if band_top <= y < band_bottom else plain for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 6))
        + _chunk(b"IEND", b"")
    )


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) read from a PNG header."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    width, height = struct.unpack(">II", data[16:24])
    return width, height
