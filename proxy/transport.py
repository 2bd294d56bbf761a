"""The one shared upstream HTTP client: pooled keep-alive connections on aiohttp.

aiohttp's connection pool holds its throughput as concurrency grows (httpx's own pool loses
it), so the hot path uses it directly. URLs are sent exactly as built (``encoded=True``):
a request signed over its URL (SigV4) must not be re-quoted on the way out. Redirects are
never followed. ``mock://`` URLs go to in-process handlers instead of the network: the
request handed over as an ``httpx.Request``, the answer read from an ``httpx.Response``
(httpx loads only for a config that has such an upstream, never on the network path).

Network failures map onto the error family here, once: adapters and the router only ever
see ``UpstreamTimeoutError`` / ``UpstreamConnectionError``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import urlencode

import aiohttp
from yarl import URL

from proxy.errors import UpstreamConnectionError, UpstreamTimeoutError
from proxy.upstream_request import UpstreamRequest, UpstreamResponse

CONNECT_TIMEOUT = 10.0
NO_CONTENT_TYPE = ("content-type",)

if TYPE_CHECKING:
    import httpx

    LocalHandler = Callable[[httpx.Request], Awaitable[httpx.Response]]


def full_url(req: UpstreamRequest) -> str:
    if not req.params:
        return req.url
    sep = "&" if "?" in req.url else "?"
    return f"{req.url}{sep}{urlencode(req.params)}"


@functools.lru_cache(maxsize=512)
def _url(url: str) -> URL:
    """A deployment's URL parsed once: yarl works out host and port lazily per URL object,
    and aiohttp asks for them on every request (its connection key)."""
    return URL(url, encoded=True)


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


class Transport:
    def __init__(self, local: dict[str, LocalHandler] | None = None) -> None:
        self._local = {f"{scheme}://": h for scheme, h in (local or {}).items()}
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=60, ttl_dns_cache=60)
            self._session = aiohttp.ClientSession(
                connector=connector,
                # Never keep an upstream's cookies: they would be replayed for every client.
                cookie_jar=aiohttp.DummyCookieJar(),
                headers={"user-agent": "image-proxy"},
                auto_decompress=True,
                trust_env=False,
            )
        return self._session

    def _local_handler(self, url: str) -> LocalHandler | None:
        for prefix, handler in self._local.items():
            if url.startswith(prefix):
                return handler
        return None

    @staticmethod
    @functools.lru_cache(maxsize=256)
    def _timeout(total: float, read: float | None = None) -> aiohttp.ClientTimeout:
        # A handful of distinct values (one per deployment): built once, not per request.
        return aiohttp.ClientTimeout(
            total=total if read is None else None,
            sock_connect=min(CONNECT_TIMEOUT, total),
            sock_read=read,
        )

    async def _request(
        self, req: UpstreamRequest, timeout: aiohttp.ClientTimeout, provider: str, deadline: float
    ) -> aiohttp.ClientResponse:
        try:
            return await self.session.request(
                req.method,
                _url(full_url(req)),
                headers=req.headers,
                data=req.body,
                timeout=timeout,
                allow_redirects=False,
                # Never invent a content type; asked per request because aiohttp's skip
                # list costs a header-dict copy on every request that carries it.
                skip_auto_headers=None if "content-type" in req.headers else NO_CONTENT_TYPE,
            )
        except TimeoutError:
            raise UpstreamTimeoutError(
                f"{provider} did not answer within {deadline:g}s", provider=provider
            ) from None
        except aiohttp.ClientError as exc:
            raise UpstreamConnectionError(
                f"could not reach {provider}: {type(exc).__name__}", provider=provider
            ) from None

    async def send(self, req: UpstreamRequest, timeout: float, provider: str) -> UpstreamResponse:
        handler = self._local_handler(req.url)
        if handler is not None:
            return await send_local(handler, req)
        response = await self._request(req, self._timeout(timeout), provider, timeout)
        try:
            body = await response.read()
        except TimeoutError:
            raise UpstreamTimeoutError(
                f"{provider} did not answer within {timeout:g}s", provider=provider
            ) from None
        except aiohttp.ClientError as exc:
            raise UpstreamConnectionError(
                f"{provider} connection broke: {type(exc).__name__}", provider=provider
            ) from None
        finally:
            response.release()
        return UpstreamResponse(response.status, response.headers, body)

    async def open_stream(
        self, req: UpstreamRequest, timeout: float, provider: str, stream_timeout: float | None
    ) -> UpstreamStream:
        handler = self._local_handler(req.url)
        if handler is not None:
            return await open_local_stream(handler, req, provider)
        # No total deadline on a stream (it may legitimately run long): the headers and the
        # first body chunk must each come within ``timeout``, each later chunk within
        # ``stream_timeout`` (the chunk limits are enforced by ``UpstreamStream``).
        read = max(timeout, stream_timeout or 0.0)
        response = await self._request(req, self._timeout(timeout, read=read), provider, timeout)

        async def close() -> None:
            if response.content.at_eof():
                response.release()  # read to the end: the connection goes back to the pool
            else:
                response.close()  # stopped early: drop the connection so the upstream sees it

        return UpstreamStream(
            response.status,
            response.headers,
            response.content.iter_any(),
            close,
            provider,
            gap=stream_timeout,
            first=timeout,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


# --- in-process upstreams (mock://) -------------------------------------------------------


@functools.cache
def _local_stream() -> type[UpstreamStream]:
    import httpx  # in-process upstreams only: never loaded on the network path

    class LocalStream(UpstreamStream):
        stalled = (*UpstreamStream.stalled, httpx.TimeoutException)
        broken = (*UpstreamStream.broken, httpx.TransportError)

    return LocalStream


def to_httpx(req: UpstreamRequest) -> httpx.Request:
    import httpx  # in-process upstreams only: never loaded on the network path

    return httpx.Request(req.method, full_url(req), headers=req.headers, content=req.body)


async def send_local(handler: LocalHandler, req: UpstreamRequest) -> UpstreamResponse:
    local = await handler(to_httpx(req))
    return UpstreamResponse(local.status_code, local.headers, await local.aread())


async def open_local_stream(
    handler: LocalHandler, req: UpstreamRequest, provider: str
) -> UpstreamStream:
    local = await handler(to_httpx(req))
    return _local_stream()(
        local.status_code, local.headers, local.aiter_raw(), local.aclose, provider
    )
