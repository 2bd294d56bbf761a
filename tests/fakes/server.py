"""A fake upstream HTTP server on loopback for end-to-end tests.

Routes are plain functions ``handler(req: Received) -> starlette Response`` (sync or async)
registered per (method, path); every request is recorded with its headers and body so tests
can check exactly what the proxy sent. Runs uvicorn in a background thread with its own loop.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, Response


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    raw_query: str = ""
    raw_path: str = ""

    def json(self) -> Any:
        return json.loads(self.body)


Handler = Callable[[Received], Any]


@dataclass
class FakeUpstream:
    port: int = field(default_factory=free_port)
    routes: dict[tuple[str, str], Handler] = field(default_factory=dict)
    requests: list[Received] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def route(self, method: str, path: str, handler: Handler | None = None) -> Any:
        def register(fn: Handler) -> Handler:
            self.routes[(method.upper(), path)] = fn
            return fn

        return register(handler) if handler is not None else register

    def reset(self) -> None:
        self.routes.clear()
        self.requests.clear()

    def received(self, path: str | None = None) -> list[Received]:
        return [r for r in self.requests if path is None or r.path == path]

    def posts(self) -> list[Received]:
        """The POSTs received: the calls, without what the proxy reads about the upstream
        (OpenRouter's image model list)."""
        return [r for r in self.requests if r.method == "POST"]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        request = Request(scope, receive)
        body = await request.body()
        rec = Received(
            method=request.method,
            path=request.url.path,
            query=dict(request.query_params),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            raw_query=scope.get("query_string", b"").decode(),
            raw_path=scope.get("raw_path", b"").decode(),
        )
        self.requests.append(rec)
        handler = self.routes.get((rec.method, rec.path))
        if handler is None:
            for (method, pattern), fn in self.routes.items():
                if (
                    method == rec.method
                    and pattern.endswith("*")
                    and rec.path.startswith(pattern[:-1])
                ):
                    handler = fn
                    break
        if handler is None:
            response: Response = JSONResponse(
                {"error": {"message": f"fake: no route {rec.method} {rec.path}"}}, 404
            )
        else:
            result = handler(rec)
            if inspect.isawaitable(result):
                result = await result
            response = result if isinstance(result, Response) else JSONResponse(result)
        await response(scope, receive, send)

    def start(self) -> FakeUpstream:
        config = uvicorn.Config(
            self, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake upstream did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def sse(events: list[tuple[str | None, Any]], *, done: bool = False) -> bytes:
    """Encode ``[(event name or None, payload)]`` as an SSE body."""
    out = []
    for name, payload in events:
        data = payload if isinstance(payload, str) else json.dumps(payload)
        out.append((f"event: {name}\n" if name else "") + f"data: {data}\n\n")
    if done:
        out.append("data: [DONE]\n\n")
    return "".join(out).encode()


async def slow_chunks(chunks: list[bytes], gap: float) -> Any:
    for chunk in chunks:
        yield chunk
        await asyncio.sleep(gap)
