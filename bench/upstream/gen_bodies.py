#!/usr/bin/env python3
"""Write the generated upstream answers into upstream/bodies/ (deterministic, seeded):

- images-large.json: an OpenAI images answer whose b64_json is a real 640x600 noise PNG
  (~1.5 MB of base64), as in ../shared/bench/upstream/gen-large-body.py;
- image-stream.sse: a GPT-image stream with one ``image_generation.completed`` event carrying
  a ~4 MB base64 PNG and its usage;
- chat-stream.sse: a chat.completion.chunk stream (20 content deltas, finish, usage, [DONE]).
"""

from __future__ import annotations

import base64
import json
import os
import random
import struct
import zlib

BODIES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bodies")


def noise_png(width: int, height: int, seed: int) -> bytes:
    rng = random.Random(seed)
    rows = b"".join(b"\x00" + rng.randbytes(width * 3) for _ in range(height))

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows, 1))
        + chunk(b"IEND", b"")
    )


def dumps(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))


def large_image() -> str:
    png = noise_png(640, 600, 42)
    body = {"created": 1700000000, "data": [{"b64_json": base64.b64encode(png).decode(),
                                             "revised_prompt": "a cat"}]}
    return dumps(body)


def image_stream() -> str:
    png = noise_png(1000, 1000, 7)  # ~3 MB raw -> ~4 MB base64
    event = {
        "type": "image_generation.completed",
        "b64_json": base64.b64encode(png).decode(),
        "created_at": 1700000000,
        "size": "1024x1024",
        "quality": "high",
        "background": "opaque",
        "output_format": "png",
        "usage": {"total_tokens": 4176, "input_tokens": 16, "output_tokens": 4160,
                  "input_tokens_details": {"text_tokens": 16, "image_tokens": 0}},
    }
    return f"event: image_generation.completed\ndata: {dumps(event)}\n\n"


def chat_stream() -> str:
    base = {"id": "chatcmpl-bench0002", "object": "chat.completion.chunk", "created": 1700000000,
            "model": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_bench"}
    out = []
    words = ("Hello! This is a canned streamed benchmark reply from the fake upstream, "
             "sent as twenty small deltas.").split()
    first = {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                  "finish_reason": None}]}
    out.append(first)
    for w in words[:20]:
        out.append({**base, "choices": [{"index": 0, "delta": {"content": w + " "},
                                         "finish_reason": None}]})
    out.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    out.append({**base, "choices": [],
                "usage": {"prompt_tokens": 9, "completion_tokens": 20, "total_tokens": 29}})
    return "".join(f"data: {dumps(c)}\n\n" for c in out) + "data: [DONE]\n\n"


def main() -> None:
    os.makedirs(BODIES, exist_ok=True)
    for name, make in (("images-large.json", large_image), ("image-stream.sse", image_stream),
                       ("chat-stream.sse", chat_stream)):
        path = os.path.join(BODIES, name)
        if os.path.exists(path):
            continue
        with open(path + ".tmp", "w") as f:
            f.write(make())
        os.replace(path + ".tmp", path)
        print(f"wrote {path}: {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
