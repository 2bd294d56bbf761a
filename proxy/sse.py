"""Server-sent events: a linear-time parser and the framing helpers.

Image parts can arrive as one multi-megabyte ``data:`` line split over many network chunks;
the parser scans each byte once and trims its buffer once per chunk, so a line of any length
costs time linear in its size.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson

DONE = b"[DONE]"
DONE_FRAME = b"data: [DONE]\n\n"


@dataclass(slots=True)
class SSEEvent:
    data: bytes
    event: str | None = None

    def json(self) -> Any:
        return orjson.loads(self.data)


class SSEDecoder:
    """Incremental decoder: ``feed(chunk)`` returns the events the chunk completed."""

    __slots__ = ("_buf", "_data", "_event", "_scan")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._scan = 0
        self._data: list[bytes] = []
        self._event: str | None = None

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        buf = self._buf
        buf += chunk
        events: list[SSEEvent] = []
        start = 0
        pos = buf.find(b"\n", self._scan)
        while pos != -1:
            end = pos - 1 if pos > start and buf[pos - 1] == 0x0D else pos
            self._line(bytes(buf[start:end]), events)
            start = pos + 1
            pos = buf.find(b"\n", start)
        if start:
            del buf[:start]
        self._scan = len(buf)
        return events

    def flush(self) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        if self._buf:
            self._line(bytes(self._buf), events)
            self._buf.clear()
            self._scan = 0
        self._line(b"", events)
        return events

    def _line(self, line: bytes, events: list[SSEEvent]) -> None:
        if not line:
            if self._data or self._event is not None:
                data = self._data[0] if len(self._data) == 1 else b"\n".join(self._data)
                events.append(SSEEvent(data, self._event))
            self._data = []
            self._event = None
            return
        if line[0] == 0x3A:  # ':' comment, e.g. ": OPENROUTER PROCESSING"
            return
        name, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")


async def iter_events(chunks: AsyncIterable[bytes]) -> AsyncIterator[SSEEvent]:
    decoder = SSEDecoder()
    async for chunk in chunks:
        for event in decoder.feed(chunk):
            yield event
    for event in decoder.flush():
        yield event


def frame(payload: dict[str, Any] | bytes, event: str | None = None) -> bytes:
    data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    if event:
        return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"
    return b"data: " + data + b"\n\n"
