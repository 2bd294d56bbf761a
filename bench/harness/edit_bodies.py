"""Multipart request bodies for the edit cases, written once per run (4 MB images are not kept
in the repository): what ``client.images.edit(...)`` of the OpenAI SDK sends.

An image is 1024 x 1024 RGBA noise saved as PNG (noise does not compress: about 4.2 MB), so
the proxy carries the bytes a real photo edit carries.
"""

from __future__ import annotations

import io
import os
import random

BOUNDARY = "bench-edit-boundary-7d1f3c"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def noise_png(seed: int, side: int = 1024) -> bytes:
    from PIL import Image

    rng = random.Random(seed)
    image = Image.frombytes("RGBA", (side, side), rng.randbytes(side * side * 4))
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def multipart(fields: dict[str, str], images: list[bytes], key: str) -> bytes:
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    for i, data in enumerate(images):
        head = (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{key}"; '
            f'filename="image-{i}.png"\r\nContent-Type: image/png\r\n\r\n'
        )
        parts.append(head.encode() + data + b"\r\n")
    parts.append(f"--{BOUNDARY}--\r\n".encode())
    return b"".join(parts)


def write(directory: str) -> dict[str, str]:
    """The edit bodies under ``directory``: file name -> path."""
    os.makedirs(directory, exist_ok=True)
    fields = {"model": "bench-edit", "prompt": "make the sky green", "size": "1024x1024"}
    bodies = {
        "edit-4mb.multipart": multipart(fields, [noise_png(1)], "image"),
        "edit-4x4mb.multipart": multipart(fields, [noise_png(i) for i in range(4)], "image[]"),
    }
    paths = {}
    for name, body in bodies.items():
        path = paths[name] = os.path.join(directory, name)
        if not os.path.exists(path) or os.path.getsize(path) != len(body):
            with open(path, "wb") as f:
                f.write(body)
    return paths
