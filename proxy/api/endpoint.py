"""The shared shape of a model endpoint: auth -> read and validate the body -> pre-call hooks
-> the router (by the request's kind) -> price -> respond, with every failure turned into an
OpenAI error body."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol, TypeVar

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from proxy.api.disconnect import unless_disconnected
from proxy.context import RequestContext
from proxy.errors import ClientClosedError, InternalError, PayloadTooLargeError, ProxyError
from proxy.pipeline import Pipeline
from proxy.schemas import checked_name, parse_json_object

log = logging.getLogger("proxy.api")

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


class ModelRequest(Protocol):
    model: str
    stream: bool
    user: str | None
    body: dict[str, Any]


R = TypeVar("R", bound=ModelRequest)
Plain = Callable[[RequestContext, R], Awaitable[dict[str, Any]]]
Streamed = Callable[[RequestContext, R], Awaitable[AsyncIterator[bytes]]]
Finish = Callable[[Request, RequestContext, R, dict[str, Any]], Awaitable[dict[str, Any]]]
Read = Callable[[Request, Pipeline], Awaitable[R]]  # the body read and validated, once


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"Request body exceeds the {limit} byte limit.")
    # Straight from the ASGI messages (Starlette's ``stream()`` is an async generator around
    # the same loop); a body that came in one message is returned as it is, not joined.
    chunks: list[bytes] = []
    size = 0
    receive = request.receive
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunk: bytes = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLargeError(f"Request body exceeds the {limit} byte limit.")
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        elif message["type"] == "http.disconnect":
            message_text = "The client closed the connection before sending its body."
            raise ClientClosedError(message_text)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def json_request(parse: Callable[[dict[str, Any]], R]) -> Read[R]:
    """A JSON body within ``max_request_size_mb``, validated by ``parse``."""

    async def read(request: Request, pipeline: Pipeline) -> R:
        raw = await read_body(request, pipeline.config.max_request_bytes)
        return parse(parse_json_object(raw))

    return read


def end_user_header(request: Request) -> str | None:
    """The ``x-end-user`` header, held to the same rules as the body's ``user``."""
    value = request.headers.get("x-end-user")
    return None if value is None else checked_name(value, "x-end-user")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


SDK_RETRY_AFTER_CAP = 60  # seconds: the OpenAI SDKs ignore a longer Retry-After


def error_response(exc: ProxyError, ctx: RequestContext | None = None) -> Response:
    headers = ctx.response_headers() if ctx is not None else {}
    headers.update(exc.headers)
    if not retry_helps(exc, headers.get("retry-after")):
        # Final for this request (a spent budget, a bad key, the provider refused our key, no
        # usable deployment, …): the OpenAI SDKs would otherwise resend a 429 or a 5xx twice,
        # spending calls for nothing. The SDKs obey ``x-should-retry`` before the status.
        headers["x-should-retry"] = "false"
    return Response(exc.body_bytes(), exc.status, headers, media_type="application/json")


def retry_helps(exc: ProxyError, retry_after: str | None) -> bool:
    """Whether the same request may succeed if the client sends it again: a retryable error
    (the provider failed), or a limit that lifts within the SDKs' Retry-After cap (a minute's
    requests, parallel requests). A budget that resets in an hour does not: the SDKs would
    ignore so long a Retry-After and resend within a second."""
    if exc.retryable:
        return True
    if retry_after is None or not retry_after.isdigit():
        return False
    return int(retry_after) <= SDK_RETRY_AFTER_CAP


def fail(ctx: RequestContext, exc: ProxyError) -> None:
    ctx.status = exc.status
    ctx.error_class = exc.error_class
    ctx.error_message = exc.message


class FinishingStream(StreamingResponse):
    """An SSE response that always finishes its request (price, spend record, logs) and
    closes the upstream stream, even when the client leaves before the body starts.

    A stream that runs to its end is finished before the response's last (empty) body
    message, so the request is logged and counted by the time the client sees the end."""

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        finish: Callable[[], Awaitable[None]],
        headers: dict[str, str],
    ) -> None:
        self._chunks = chunks
        self._finish = _once(finish)
        super().__init__(self._body(), media_type="text/event-stream", headers=headers)

    async def _body(self) -> AsyncIterator[bytes]:
        async for chunk in self._chunks:
            yield chunk
        await self._finish()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # Streamed in the request's own task with the one disconnect watcher the gateway
        # uses everywhere: Starlette's own path (the server speaks ASGI 2.3) starts an anyio
        # task group and two tasks per stream, and the first byte waited a loop turn for them.
        try:
            await unless_disconnected(receive, self.stream_response(send))
        except ClientClosedError:
            pass  # the client left mid-stream: the stream was cancelled where it stood
        finally:
            await asyncio.shield(self._close())
        if self.background is not None:
            await self.background()

    async def _close(self) -> None:
        try:
            aclose = getattr(self._chunks, "aclose", None)
            if aclose is not None:
                await aclose()
        finally:
            await self._finish()


def _once(fn: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    done = False

    async def call() -> None:
        nonlocal done
        if not done:
            done = True
            await fn()

    return call


def _stream_finisher(pipeline: Pipeline, ctx: RequestContext) -> Callable[[], Awaitable[None]]:
    async def finish() -> None:
        ctx.finished = time.perf_counter()
        pipeline.price(ctx)
        await pipeline.hooks.after(ctx)

    return finish


async def run(
    request: Request,
    endpoint: str,
    read: Read[R],
    plain: Plain[R],
    streamed: Streamed[R],
    finish: Finish[R] | None = None,
) -> Response:
    pipeline: Pipeline = request.app.services.pipeline
    ctx = RequestContext(endpoint)
    try:
        ctx.key = await pipeline.auth.authenticate(request)
        model_request = await read(request, pipeline)
        ctx.model_group = model_request.model
        ctx.end_user = model_request.user or end_user_header(request)
        ctx.stream = model_request.stream
        await pipeline.hooks.before(ctx, model_request)
        if model_request.stream:
            chunks = await unless_disconnected(request.receive, streamed(ctx, model_request))
            headers = {**ctx.response_headers(), **SSE_HEADERS}
            return FinishingStream(chunks, _stream_finisher(pipeline, ctx), headers)
        body = await unless_disconnected(request.receive, plain(ctx, model_request))
        if finish is not None:
            body = await finish(request, ctx, model_request, body)
        ctx.finished = time.perf_counter()
        pipeline.price(ctx)
        response = json_response(body, headers=ctx.response_headers())
    except ProxyError as exc:
        fail(ctx, exc)
        ctx.finished = time.perf_counter()
        response = error_response(exc, ctx)
    except Exception as exc:
        log.error(
            "unhandled %s on %s (request %s)",
            type(exc).__name__,
            endpoint,
            ctx.request_id,
            exc_info=log.isEnabledFor(logging.DEBUG),
        )
        err = InternalError(f"Internal error (request id {ctx.request_id}).")
        fail(ctx, err)
        ctx.finished = time.perf_counter()
        response = error_response(err, ctx)
    await pipeline.hooks.after(ctx)
    return response
