"""A streamed answer from the upstream's bytes to the client's frames, in one object.

The response iterates the relay, and the relay reads the transport with plain calls: the
chain is the transport's byte source -> the relay -> the response, each SSE event decoded
once, translated once (the adapter's ``StreamTranslator``), accounted and framed once.

The router primes a relay inside its attempt (``await relay.prime()``: read until the first
frame exists, or raise the mapped error), so a stream that fails before any byte reached the
client is retried like any other failure; once the first frame exists, a failure becomes an
error frame. ``aclose()`` cleans up exactly once, whether or not anyone iterated the relay:
the upstream is closed, then the ``on_close`` callback runs (the router's slot release).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from proxy.attempt.caller import JSON_ERRORS, malformed
from proxy.context import RequestContext
from proxy.errors import ProxyError
from proxy.providers.base import StreamTranslator
from proxy.sse import SSEDecoder, SSEEventTooLarge
from proxy.transport import UpstreamStream, event_too_large

P = TypeVar("P")


class StreamRelay(Generic[P]):
    """The machinery both kinds share; ``ChatRelay`` and ``ImageRelay`` decide what a
    payload counts for (``_accept``), how the stream must end (``_finish``) and the frames."""

    def __init__(
        self,
        stream: UpstreamStream,
        translator: StreamTranslator[P],
        ctx: RequestContext,
        provider: str,
    ) -> None:
        self.ctx = ctx
        self.provider = provider
        self._stream = stream
        self._translator = translator
        self._decoder = SSEDecoder(stream.limits.max_event)
        # what is ready for the client, in order: payloads to frame, or frames
        self._pending: deque[P | bytes] = deque()
        self._reading = True  # the upstream may still have something to say
        self._sent = False  # once a frame went out, a failure can no longer be retried
        self._upstream_open = True
        self._closed = False
        self._on_close: Callable[[], Awaitable[None]] | None = None

    # --- what each kind decides ----------------------------------------------------------

    def _accept(self, payload: P) -> None:
        """Account for one translated payload and queue it (or drop it)."""
        raise NotImplementedError

    def _finish(self) -> None:
        """The upstream said its last word: queue the closing frame or raise."""

    async def _frame(self, payload: P) -> bytes:
        raise NotImplementedError

    def _error_frame(self, error: ProxyError) -> bytes:
        raise NotImplementedError

    # --- the router's -------------------------------------------------------------------

    async def prime(self) -> None:
        """Read until the first frame exists; raise the mapped error if none can."""
        try:
            while not self._pending and self._reading:
                await self._fill()
        except BaseException:
            await self._close_upstream()
            raise

    def on_close(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Run ``callback`` once when the relay closes (after the upstream was closed)."""
        self._on_close = callback

    # --- the response's -----------------------------------------------------------------

    def __aiter__(self) -> StreamRelay[P]:
        return self

    async def __anext__(self) -> bytes:
        pending = self._pending
        while not pending:
            if not self._reading:
                await self.aclose()
                raise StopAsyncIteration
            await self._fill()
        item = pending.popleft()
        self._sent = True
        if isinstance(item, bytes):
            return item
        try:
            return await self._frame(item)
        except ProxyError as exc:  # e.g. the image store refused a chat image
            pending.clear()
            self._reading = False
            return self._failed(exc)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._reading = False
        self._pending.clear()
        try:
            await self._close_upstream()
        finally:
            if self._on_close is not None:
                await self._on_close()

    # --- reading ------------------------------------------------------------------------

    async def _fill(self) -> None:
        try:
            await self._read()
            return
        except ProxyError as exc:
            error = exc
        except SSEEventTooLarge as exc:
            error = event_too_large(self.provider, exc.limit)
        except JSON_ERRORS as exc:
            error = malformed(self.provider, type(exc).__name__)
        self._reading = False
        if not (self._sent or self._pending):
            await self._close_upstream()
            raise error
        self._pending.append(self._failed(error))

    async def _read(self) -> None:
        """One chunk of the upstream's body through the decoder and the translator."""
        chunk = await self._stream.next_chunk()
        translator = self._translator
        accept = self._accept
        events = self._decoder.flush() if chunk is None else self._decoder.feed(chunk)
        for event in events:
            for payload in translator.feed(event):
                accept(payload)
            if translator.done:
                break
        if chunk is None or translator.done:
            self._reading = False
            for payload in translator.end():
                accept(payload)
            self._finish()

    def _failed(self, error: ProxyError) -> bytes:
        self.ctx.status, self.ctx.error_class = error.status, error.error_class
        return self._error_frame(error)

    async def _close_upstream(self) -> None:
        if self._upstream_open:
            self._upstream_open = False
            await self._stream.aclose()
