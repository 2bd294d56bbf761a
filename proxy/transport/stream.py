"""What every transport hands the attempt layer: the ``Sender`` interface, and
``UpstreamStream``, an open streamed answer read chunk by chunk.

Failures map onto the error family in the transports, once: adapters and the router only
ever see ``UpstreamTimeoutError`` / ``UpstreamConnectionError``, and
``UpstreamTooLargeError`` when an answer goes past ``UpstreamLimits`` (``AnswerCap``
counts its bytes as they arrive, so nothing past the cap is ever held).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import ClassVar, Protocol
from urllib.parse import urlencode

import aiohttp

from proxy.errors import UpstreamConnectionError, UpstreamTimeoutError, UpstreamTooLargeError
from proxy.upstream_request import UpstreamLimits, UpstreamRequest, UpstreamResponse

DEFAULT_LIMITS = UpstreamLimits()  # the app passes the configured ones


def full_url(req: UpstreamRequest) -> str:
    if not req.params:
        return req.url
    sep = "&" if "?" in req.url else "?"
    return f"{req.url}{sep}{urlencode(req.params)}"


def event_too_large(provider: str, limit: int) -> UpstreamTooLargeError:
    return UpstreamTooLargeError(
        f"the {provider} stream sent an event that exceeds the {limit} byte limit "
        "(general_settings.max_upstream_event_bytes)",
        provider=provider,
    )


class AnswerCap:
    """The byte count of one upstream answer against ``limit``: the declared length first
    (``declared``), then the bytes as they arrive (``count``); either raises
    ``UpstreamTooLargeError`` naming the limit."""

    __slots__ = ("limit", "provider", "seen")

    def __init__(self, limit: int, provider: str) -> None:
        self.limit = limit
        self.provider = provider
        self.seen = 0

    def exceeded(self) -> UpstreamTooLargeError:
        return UpstreamTooLargeError(
            f"the {self.provider} answer exceeds the {self.limit} byte limit "
            "(general_settings.max_upstream_response_bytes)",
            provider=self.provider,
        )

    def declared(self, length: int | None) -> None:
        if length is not None and length > self.limit:
            raise self.exceeded()

    def count(self, size: int) -> None:
        self.seen += size
        if self.seen > self.limit:
            raise self.exceeded()


class UpstreamStream:
    """An open streaming response; read it with ``next_chunk()`` (or iterate ``chunks()``),
    then ``aclose()``.

    ``gap`` (the deployment's ``stream_timeout``) bounds the wait for every chunk after the
    first; ``first`` (the deployment's ``timeout``) bounds the wait for the first, since a
    provider may render for a while before its first event. ``limits.max_answer`` caps the
    bytes of the whole stream; ``limits.max_event`` is for its reader, the SSE decoder."""

    # What reading a chunk raises when the upstream stalls / the connection breaks.
    stalled: ClassVar[tuple[type[Exception], ...]] = (TimeoutError,)
    broken: ClassVar[tuple[type[Exception], ...]] = (aiohttp.ClientError,)

    def __init__(
        self,
        status: int,
        headers: Mapping[str, str],
        chunks: AsyncIterator[bytes],
        close: Callable[[], Awaitable[None]],
        provider: str,
        gap: float | None = None,
        first: float | None = None,
        limits: UpstreamLimits = DEFAULT_LIMITS,
    ) -> None:
        self.status = status
        self.headers = headers
        self.limits = limits
        self._chunks = aiter(chunks)
        self._close = close
        self._provider = provider
        self._gap = gap
        self._limit = first  # the bound on the next wait: ``first``, then ``gap``
        self._cap = AnswerCap(limits.max_answer, provider)

    async def next_chunk(self) -> bytes | None:
        """The next piece of the body, ``None`` at its end: a plain call, so that the relay
        reading it adds no iterator of its own between the socket and the client."""
        limit = self._limit
        try:
            if limit is None:
                chunk = await anext(self._chunks, None)
            else:
                async with asyncio.timeout(limit):
                    chunk = await anext(self._chunks, None)
        except self.stalled:
            raise UpstreamTimeoutError(
                f"{self._provider} stream stalled past the stream timeout", provider=self._provider
            ) from None
        except self.broken as exc:
            raise UpstreamConnectionError(
                f"{self._provider} stream broke: {type(exc).__name__}", provider=self._provider
            ) from None
        self._limit = self._gap
        if chunk is not None:
            self._cap.count(len(chunk))
        return chunk

    async def chunks(self) -> AsyncIterator[bytes]:
        while (chunk := await self.next_chunk()) is not None:
            yield chunk

    async def read(self) -> UpstreamResponse:
        body = b"".join([c async for c in self.chunks()])
        return UpstreamResponse(self.status, self.headers, body)

    async def aclose(self) -> None:
        await self._close()


class Sender(Protocol):
    """What the attempt layer sends through: the network transport, the in-process
    ``MockTransport`` and the ``Transports`` router that picks between them all are one."""

    async def send(
        self, req: UpstreamRequest, timeout: float, provider: str
    ) -> UpstreamResponse: ...

    async def open_stream(
        self, req: UpstreamRequest, timeout: float, provider: str, stream_timeout: float | None
    ) -> UpstreamStream:
        """Headers read, body not: the first chunk within ``timeout``, each later one within
        ``stream_timeout``."""
        ...

    async def aclose(self) -> None: ...
