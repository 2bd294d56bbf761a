"""Streams without a network: stream translators driven over a body, upstream streams over
a list of chunks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TypeVar

from proxy.providers.base import StreamTranslator
from proxy.sse import SSEDecoder, SSEEvent
from proxy.transport import UpstreamStream

P = TypeVar("P")


def translate(translator: StreamTranslator[P], body: bytes, piece: int = 1000) -> list[P]:
    """What the relay does with a translator, minus the I/O: ``body`` decoded ``piece``
    bytes at a time, each event fed until the translator is done, then ``end``."""
    decoder = SSEDecoder()
    out: list[P] = []

    def feed(events: list[SSEEvent]) -> bool:
        for event in events:
            out.extend(translator.feed(event))
            if translator.done:
                return True
        return False

    done = False
    for i in range(0, len(body), piece):
        if feed(decoder.feed(body[i : i + piece])):
            done = True
            break
    if not done:
        feed(decoder.flush())
    out.extend(translator.end())
    return out


def upstream_stream(
    chunks: list[bytes],
    *,
    fail_with: Callable[[], BaseException] | None = None,
    closed: list[str] | None = None,
    provider: str = "openai",
) -> UpstreamStream:
    """An open upstream stream that sends ``chunks`` (then raises ``fail_with()`` if given);
    ``closed`` records its closing."""

    async def source() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk
        if fail_with is not None:
            raise fail_with()

    async def close() -> None:
        if closed is not None:
            closed.append("upstream closed")

    return UpstreamStream(200, {}, source(), close, provider)
