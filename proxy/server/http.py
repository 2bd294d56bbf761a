"""The HTTP/1.1 connection: uvicorn's httptools protocol with the limits a public server needs.

uvicorn parses requests and runs the app; on its own it waits forever for a head or a body
that never finishes, takes a header of any size, and answers what it refuses in plain text.
``GuardedHttp`` adds, per connection:

- a **header timeout**: the request head (request line and headers) must be complete within
  ``header_timeout`` seconds of its first byte (of the connection, for a new one): 408, then
  the connection closes. A connection that sent nothing is closed without an answer;
- a **body timeout**: while a body is being received, at most ``body_timeout`` seconds may
  pass without a byte (time the app itself is not reading does not count): 408;
- **head limits**: at most ``max_header_bytes`` for the request line and headers together,
  and at most ``max_headers`` header lines: 431;
- **a graceful stop that does not wait for clients**: when the server stops, a request whose
  body is still arriving is answered 503 at once (it has not reached a provider yet), so
  half-sent requests cannot hold the stop past its grace period;
- **OpenAI error bodies** for what uvicorn itself refuses (a malformed request line, header or
  chunk framing: 400; an unknown method: 501);
- **a lingering close**: a refusal is followed by a half-close and a read of what the client
  is still sending, for ``LINGER_SECONDS``, so the client reads the answer instead of a
  connection reset. A body the app answered before reading it (413) is read and dropped for
  as long, then the connection closes.

The limits come from the app (``App.http_limits``, built from ``general_settings``); uvicorn
creates one protocol per connection (``uvicorn.run(..., http=GuardedHttp)``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httptools
import orjson
from uvicorn.config import Config
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

LINGER_SECONDS = 10.0  # how long a refused client may go on sending before the close


@dataclass(frozen=True)
class HttpLimits:
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_header_bytes: int = 64 * 1024
    max_headers: int = 100


class RefusedHead(Exception):
    """Raised from a parser callback to stop parsing a head the connection refused."""


def error_body(message: str, code: str) -> bytes:
    return orjson.dumps(
        {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": None,
                "code": code,
            }
        }
    )


def limits_of(app: Any) -> HttpLimits:
    """The app's limits, under uvicorn's own wrappers (proxy headers, message logger)."""
    while app is not None:
        limits = getattr(app, "http_limits", None)
        if isinstance(limits, HttpLimits):
            return limits
        app = getattr(app, "app", None)
    return HttpLimits()


class GuardedHttp(HttpToolsProtocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits_of(self.app)
        self.in_head = True  # between a request's first byte (or the connection) and its headers
        self.head_started = 0.0
        self.head_bytes = 0
        self.last_read = 0.0
        self.watchdog: asyncio.TimerHandle | None = None
        self.lingering = False
        self.drain_until: float | None = None  # reading a body the app already answered

    # Connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self.head_started = self.last_read = self.loop.time()
        self.watch(self.limits.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.watchdog is not None:
            self.watchdog.cancel()
            self.watchdog = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            return  # the linger timer closes
        self._unset_keepalive_if_required()
        self.last_read = self.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass  # no protocol upgrades here: the request is served as plain HTTP
        except RefusedHead:
            return
        except httptools.HttpParserInvalidMethodError:
            self.refuse(501, "Unknown HTTP method.", "method_not_implemented")
            return
        except httptools.HttpParserError as exc:
            if not self.lingering:  # a callback may already have refused the request
                reason = str(exc).rstrip(".") or "malformed request"
                self.refuse(400, f"Invalid HTTP request: {reason}.", "invalid_http_request")
            return
        if self.in_head:
            self.head_bytes += len(data)
            if self.head_bytes > self.limits.max_header_bytes:
                self.refuse_large_head()
                return
        elif self.draining():
            if self.drain_until is None:
                self.drain_until = self.last_read + LINGER_SECONDS
            elif self.last_read > self.drain_until:
                self.transport.close()
            return
        if self.watchdog is None and self.waiting():
            self.watch(self.limits.header_timeout if self.in_head else self.limits.body_timeout)

    def shutdown(self) -> None:
        cycle = self.cycle
        if cycle is not None and cycle.more_body and not cycle.response_started:
            self.refuse(503, "The server is stopping; send the request again.", "shutting_down")
            self.transport.close()  # a stalled sender: nothing left to read, no lingering
        elif self.lingering:
            self.transport.close()
        else:
            super().shutdown()

    def _should_upgrade_to_ws(self) -> bool:
        return False  # no WebSocket routes: an Upgrade request is served as plain HTTP

    # Parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.in_head = True
        self.head_started = self.loop.time()
        self.head_bytes = 0
        self.drain_until = None

    def on_body(self, body: bytes) -> None:
        """uvicorn's, without its two copies of every body chunk: it appends each chunk to a
        ``bytearray`` and hands the application ``bytes(...)`` of it. A chunk that arrives
        while none waits is kept as the ``bytes`` it is (``bytes()`` of a ``bytes`` is the
        same object), so a 4 MB upload is not copied twice more on its way to the parser."""
        cycle = self.cycle
        if (self.parser.should_upgrade() and self._should_upgrade()) or cycle.response_complete:
            return
        if cycle.body:
            cycle.body += body  # a chunk already waits: join them (uvicorn's path)
        else:
            cycle.body = body  # type: ignore[assignment]
        if len(cycle.body) > HIGH_WATER_LIMIT:
            self.flow.pause_reading()
        cycle.message_event.set()

    def on_headers_complete(self) -> None:
        self.in_head = False
        if len(self.headers) > self.limits.max_headers:
            self.refuse(
                431,
                f"Too many request headers (at most {self.limits.max_headers}).",
                "request_header_fields_too_large",
            )
            raise RefusedHead
        super().on_headers_complete()

    # Timeouts

    def watch(self, delay: float) -> None:
        self.watchdog = self.loop.call_later(delay, self.check_timeouts)

    def waiting(self) -> bool:
        """Whether the connection waits for the client: a head, or a body the app awaits."""
        if self.in_head:
            return True
        cycle = self.cycle
        return cycle is not None and cycle.more_body and not cycle.response_complete

    def draining(self) -> bool:
        cycle = self.cycle
        return cycle is not None and cycle.response_complete and cycle.more_body

    def check_timeouts(self) -> None:
        self.watchdog = None
        if self.transport.is_closing() or not self.waiting():
            return
        now = self.loop.time()
        if self.in_head:
            deadline = self.head_started + self.limits.header_timeout
        elif self.flow.read_paused:  # the app has not read what came: not the client's fault
            deadline = now + self.limits.body_timeout
        else:
            deadline = self.last_read + self.limits.body_timeout
        if now < deadline:
            self.watch(deadline - now)
        elif self.in_head and self.head_bytes == 0 and self.cycle is None:
            self.transport.close()  # a connection that never sent a byte
        elif self.in_head:
            self.refuse(
                408,
                f"The request head was not received within {self.limits.header_timeout:g} s.",
                "request_timeout",
            )
        else:
            self.refuse(
                408,
                f"No request body bytes for {self.limits.body_timeout:g} s.",
                "request_timeout",
            )

    # Refusals

    def refuse_large_head(self) -> None:
        self.refuse(
            431,
            f"Request line and headers exceed {self.limits.max_header_bytes} bytes.",
            "request_header_fields_too_large",
        )

    def refuse(self, status: int, message: str, code: str) -> None:
        """Answer ``status`` with an OpenAI error body (unless an answer has started), then
        close: the app, if running, sees the client gone."""
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True
            cycle.message_event.set()
        if self.transport.is_closing():
            return
        if cycle is None or not cycle.response_started or cycle.response_complete:
            body = error_body(message, code)
            head = [STATUS_LINE[status]]
            for name, value in self.server_state.default_headers:
                head += [name, b": ", value, b"\r\n"]
            head += [
                b"content-type: application/json\r\ncontent-length: ",
                str(len(body)).encode(),
                b"\r\nconnection: close\r\n\r\n",
            ]
            self.transport.write(b"".join(head) + body)
        self.linger()

    def linger(self) -> None:
        """Half-close, then read and drop what the client still sends, for a little while:
        closing with unread bytes would reset the connection and lose the answer."""
        self.lingering = True
        self.flow.resume_reading()
        if self.watchdog is not None:
            self.watchdog.cancel()
        self.watchdog = self.loop.call_later(LINGER_SECONDS, self.transport.close)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        else:
            self.transport.close()
