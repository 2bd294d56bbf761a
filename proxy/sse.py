"""Server-sent events: a linear-time parser and the framing helpers.

Image parts can arrive as one multi-megabyte ``data:`` line split over many network chunks;
the parser scans each byte once and copies a long line twice (join, value), so a line of any
length costs time linear in its size. What it holds of one event (its data lines and the
unfinished line) is capped: past ``max_event`` bytes it raises ``SSEEventTooLarge``, so a
line that never ends cannot grow memory.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import orjson

from proxy import b64json

DONE = b"[DONE]"
DONE_FRAME = b"data: [DONE]\n\n"


@dataclass(slots=True)
class SSEEvent:
    data: bytes
    event: str | None = None

    def json(self) -> Any:
        """The event's data parsed, its big base64 strings copied once (``proxy.b64json``)."""
        return b64json.loads(self.data)


class SSEEventTooLarge(Exception):
    """One event held more than the decoder's ``max_event`` bytes."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"a server-sent event exceeds {limit} bytes")
        self.limit = limit


class SSEDecoder:
    """Incremental decoder: ``feed(chunk)`` returns the events the chunk completed.

    A line that spans chunks is kept as the list of its pieces and joined once when its end
    arrives; the field value is then cut out of it with a memoryview, so a 4 MB ``data:``
    line is copied twice in all (join, value), never rescanned.
    """

    __slots__ = ("_data", "_data_size", "_event", "_max", "_pending", "_pending_size")

    def __init__(self, max_event: int = sys.maxsize) -> None:
        self._pending: list[bytes] = []  # the pieces of the unfinished line
        self._pending_size = 0
        self._data: list[bytes | memoryview] = []
        self._data_size = 0
        self._event: str | None = None
        self._max = max_event

    def _hold(self, piece: bytes) -> None:
        """Keep ``piece`` of the unfinished line, within the cap."""
        self._pending.append(piece)
        self._pending_size += len(piece)
        if self._pending_size + self._data_size > self._max:
            raise SSEEventTooLarge(self._max)

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if type(chunk) is not bytes:
            chunk = bytes(chunk)  # a mutable buffer must not be kept
        events: list[SSEEvent] = []
        pos = chunk.find(b"\n")
        if pos == -1:
            if chunk:
                self._hold(chunk)
            return events
        start = 0
        while pos != -1:
            if self._pending:
                self._pending.append(chunk[start:pos])
                line = b"".join(self._pending)
                self._pending = []
                self._pending_size = 0
            else:
                line = chunk[start:pos]
            self._line(line, events)
            start = pos + 1
            pos = chunk.find(b"\n", start)
        if start < len(chunk):
            self._hold(chunk[start:])
        return events

    def flush(self) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        if self._pending:
            line = b"".join(self._pending)
            self._pending = []
            self._pending_size = 0
            self._line(line, events)
        self._line(b"", events)
        return events

    def _line(self, line: bytes, events: list[SSEEvent]) -> None:
        end = len(line)
        if end and line[end - 1] == 0x0D:
            end -= 1
        if not end:
            if self._data or self._event is not None:
                data = self._data
                value = bytes(data[0]) if len(data) == 1 else b"\n".join(data)
                events.append(SSEEvent(value, self._event))
            self._data = []
            self._data_size = 0
            self._event = None
            return
        if line[0] == 0x3A:  # ':' comment, e.g. ": OPENROUTER PROCESSING"
            return
        colon = line.find(b":", 0, end)
        if colon == -1:
            name, begin = line[:end], end
        else:
            name, begin = line[:colon], colon + 1
            if begin < end and line[begin] == 0x20:
                begin += 1
        if name == b"data":
            self._data.append(memoryview(line)[begin:end])
            self._data_size += end - begin
            if self._data_size > self._max:
                raise SSEEventTooLarge(self._max)
        elif name == b"event":
            self._event = line[begin:end].decode("utf-8", "replace")


def frame(payload: dict[str, Any] | bytes, event: str | None = None) -> bytes:
    data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    if event:
        return b"".join((b"event: ", event.encode(), b"\ndata: ", data, b"\n\n"))
    return b"".join((b"data: ", data, b"\n\n"))
