"""The floor of this stack: a raw ASGI app under uvicorn that checks the key, rewrites the model
and forwards the upstream answer over aiohttp's pool (whole, or chunk by chunk for SSE) (after
../shared/bench/floor_aiohttp.py). No validation, routing, cost or logs: the least a Python
proxy on uvicorn + aiohttp can do per request. Run by ``bench/run.py --with-floor``:

    FLOOR_UPSTREAM=http://127.0.0.1:18580 uvicorn --app-dir bench floor:app --port 14581
"""

from __future__ import annotations

import os
from typing import Any

import aiohttp
import orjson

UPSTREAM = os.environ.get("FLOOR_UPSTREAM", "http://127.0.0.1:18580")
KEY = b"Bearer sk-bench"
MODELS = {
    "bench-image": ("dall-e-3", "/v1/images/generations"),
    "bench-image-large": ("dall-e-3", "/large/v1/images/generations"),
    "bench-image-slow": ("dall-e-3", "/slow/v1/images/generations"),
    "bench-image-sse": ("gpt-image-1", "/sse/v1/images/generations"),
    "bench-chat": ("gpt-4o-mini", "/v1/chat/completions"),
    "bench-chat-sse": ("gpt-4o-mini", "/sse/v1/chat/completions"),
}
session: aiohttp.ClientSession | None = None


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    global session
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                session = aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=0),
                    timeout=aiohttp.ClientTimeout(total=600),
                )
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                assert session is not None
                await session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["method"] == "GET":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b"{}"})
        return
    if dict(scope["headers"]).get(b"authorization") != KEY:
        await send({"type": "http.response.start", "status": 401, "headers": []})
        await send({"type": "http.response.body", "body": b'{"error":{"message":"bad key"}}'})
        return
    body = b""
    while True:
        msg = await receive()
        body += msg.get("body", b"")
        if not msg.get("more_body"):
            break
    req = orjson.loads(body)
    model, path = MODELS[req["model"]]
    req["model"] = model
    assert session is not None
    async with session.post(
        UPSTREAM + path, data=orjson.dumps(req),
        headers={"authorization": "Bearer fake", "content-type": "application/json"},
    ) as r:
        ctype = r.headers.get("content-type", "application/json")
        if not ctype.startswith("text/event-stream"):
            data = await r.read()
            await send({"type": "http.response.start", "status": r.status, "headers": [
                (b"content-type", ctype.encode()), (b"content-length", str(len(data)).encode())]})
            await send({"type": "http.response.body", "body": data})
            return
        await send({"type": "http.response.start", "status": r.status,
                    "headers": [(b"content-type", ctype.encode())]})
        async for chunk in r.content.iter_any():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
