"""The mock "upstream": an httpx handler that answers like an OpenAI server.

The app serves it with an in-process ``MockTransport`` for the ``mock://`` scheme, so mock
requests go through the same adapter, credentials, cost and logging path as real ones.
Rendering runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import base64
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson

from proxy.providers.mock.png import MAX_SIDE, colour_for, render_png
from proxy.sse import DONE_FRAME, frame

MOCK_TEXT = "This is a placeholder image from the image-proxy mock provider."
CHAT_IMAGE_SIDE = 256
_SIZE = re.compile(r"^(\d{1,5})x(\d{1,5})$")


def _error(status: int, message: str, param: str | None = None) -> httpx.Response:
    body = {
        "error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}
    }
    return httpx.Response(status, json=body)


def parse_size(size: Any) -> tuple[int, int] | None:
    if size in (None, "auto"):
        return 1024, 1024
    m = _SIZE.match(str(size))
    if not m:
        return None
    w, h = int(m.group(1)), int(m.group(2))
    if not (1 <= w <= MAX_SIDE and 1 <= h <= MAX_SIDE):
        return None
    return w, h


async def _png_b64(width: int, height: int, prompt: str, index: int) -> str:
    png = await asyncio.to_thread(render_png, width, height, colour_for(prompt, index))
    return base64.b64encode(png).decode()


def _input_size(body: dict[str, Any]) -> Any:
    """An edit or variation without a size keeps its first image's size (when known)."""
    size = body.get("size")
    images = body.get("images")
    if size not in (None, "auto") or not isinstance(images, list) or not images:
        return size
    first = images[0] if isinstance(images[0], dict) else {}
    width, height = first.get("width"), first.get("height")
    if isinstance(width, int) and isinstance(height, int):
        return f"{width}x{height}"
    return size


async def _images(body: dict[str, Any]) -> httpx.Response:
    size = parse_size(body.get("size"))
    if size is None:
        return _error(
            400,
            f"size must be WIDTHxHEIGHT up to {MAX_SIDE}, got {body.get('size')!r}",
            "size",
        )
    width, height = size
    prompt = str(body.get("prompt", ""))
    n = int(body.get("n") or 1)
    data: list[dict[str, Any]] = []
    for i in range(n):
        # Like GPT image models, the mock answers base64 only; the delivery stage stores the
        # image and hands out a link when the client asked for ``url``.
        data.append({"b64_json": await _png_b64(width, height, prompt, i)})
    usage = {
        "input_tokens": len(prompt.split()),
        "output_tokens": 0,
        "total_tokens": len(prompt.split()),
        "input_tokens_details": {"text_tokens": len(prompt.split()), "image_tokens": 0},
    }
    return httpx.Response(
        200,
        json={
            "created": int(time.time()),
            "data": data,
            "size": f"{width}x{height}",
            "output_format": "png",
            "usage": usage,
        },
    )


def _prompt_text(messages: list[Any]) -> str:
    for m in reversed(messages):
        if isinstance(m, dict) and m.get("role") == "user":
            content = m.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                texts = (p.get("text") for p in content if isinstance(p, dict))
                return " ".join(t for t in texts if isinstance(t, str))
    return ""


async def _chat(body: dict[str, Any]) -> httpx.Response:
    prompt = _prompt_text(body.get("messages") or [])
    b64 = await _png_b64(CHAT_IMAGE_SIDE, CHAT_IMAGE_SIDE, prompt, 0)
    image = {"url": f"data:image/png;base64,{b64}", "detail": "auto"}
    usage = {
        "prompt_tokens": len(prompt.split()),
        "completion_tokens": 12,
        "total_tokens": len(prompt.split()) + 12,
    }
    cid, created, model = f"chatcmpl-mock-{uuid.uuid4().hex[:12]}", int(time.time()), body["model"]
    if body.get("stream"):
        return httpx.Response(
            200,
            headers={"content-type": "text/event-stream"},
            stream=_ChatStream(cid, created, model, image, usage),
        )
    message = {
        "role": "assistant",
        "content": MOCK_TEXT,
        "image": image,
        "images": [{"type": "image_url", "image_url": {"url": image["url"]}}],
    }
    return httpx.Response(
        200,
        json={
            "id": cid,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}
            ],
            "usage": usage,
        },
    )


class _ChatStream(httpx.AsyncByteStream):
    def __init__(
        self, cid: str, created: int, model: str, image: dict[str, Any], usage: dict[str, Any]
    ) -> None:
        self._args = (cid, created, model, image, usage)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        cid, created, model, image, usage = self._args

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            return frame(
                {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                }
            )

        yield chunk({"role": "assistant", "content": ""})
        yield chunk({"content": MOCK_TEXT})
        yield chunk(
            {"image": image, "images": [{"type": "image_url", "image_url": {"url": image["url"]}}]}
        )
        yield chunk({}, "stop")
        yield frame(
            {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [],
                "usage": usage,
            }
        )
        yield DONE_FRAME


async def handle(request: httpx.Request) -> httpx.Response:
    try:
        body = orjson.loads(await request.aread())
    except orjson.JSONDecodeError:
        return _error(400, "body is not JSON")
    if request.url.path.endswith("/images/generations"):
        return await _images(body)
    if request.url.path.endswith(("/images/edits", "/images/variations")):
        return await _images({**body, "size": _input_size(body)})
    if request.url.path.endswith("/chat/completions"):
        return await _chat(body)
    return _error(404, f"no route {request.url.path}")
