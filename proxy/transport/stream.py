"""What every transport hands the attempt layer: the ``Sender`` interface, and
``UpstreamStream``, an open streamed answer read chunk by chunk.

Failures map onto the error family in the transports, once: adapters and the router only
ever see ``UpstreamTimeoutError`` / ``UpstreamConnectionError``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import ClassVar, Protocol
from urllib.parse import urlencode

import aiohttp

from proxy.errors import UpstreamConnectionError, UpstreamTimeoutError
from proxy.upstream_request import UpstreamRequest, UpstreamResponse


def full_url(req: UpstreamRequest) -> str:
    if not req.params:
        return req.url
    sep = "&" if "?" in req.url else "?"
    return f"{req.url}{sep}{urlencode(req.params)}"


class UpstreamStream:
    """An open streaming response; read it with ``next_chunk()`` (or iterate ``chunks()``),
    then ``aclose()``.

    ``gap`` (the deployment's ``stream_timeout``) bounds the wait for every chunk after the
    first; ``first`` (the deployment's ``timeout``) bounds the wait for the first, since a
    provider may render for a while before its first event."""

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
    ) -> None:
        self.status = status
        self.headers = headers
        self._chunks = aiter(chunks)
        self._close = close
        self._provider = provider
        self._gap = gap
        self._limit = first  # the bound on the next wait: ``first``, then ``gap``

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
