"""The one shared upstream HTTP client: pooled keep-alive connections on aiohttp.

aiohttp's connection pool holds its throughput as concurrency grows (httpx's own pool loses
it), so the hot path uses it directly. URLs are sent exactly as built (``encoded=True``):
a request signed over its URL (SigV4) must not be re-quoted on the way out. Redirects are
never followed.

Network failures map onto the error family here, once: adapters and the router only ever
see ``UpstreamTimeoutError`` / ``UpstreamConnectionError``. Answers are read into
``UpstreamLimits``: a declared length past the cap is refused before the body is read, and
the body is counted as it arrives (decompressed: a small gzip bomb counts as what it becomes),
the connection dropped at the first byte past the cap.
"""

from __future__ import annotations

import functools

import aiohttp
from yarl import URL

from proxy.errors import UpstreamConnectionError, UpstreamTimeoutError, UpstreamTooLargeError
from proxy.transport.stream import DEFAULT_LIMITS, AnswerCap, UpstreamStream, full_url
from proxy.upstream_request import UpstreamLimits, UpstreamRequest, UpstreamResponse

CONNECT_TIMEOUT = 10.0
NO_CONTENT_TYPE = ("content-type",)
CONTENT_ENCODING = "Content-Encoding"


@functools.lru_cache(maxsize=512)
def _url(url: str) -> URL:
    """A deployment's URL parsed once: yarl works out host and port lazily per URL object,
    and aiohttp asks for them on every request (its connection key)."""
    return URL(url, encoded=True)


class Transport:
    """The network ``Sender``: one pooled aiohttp session for every upstream."""

    def __init__(self, limits: UpstreamLimits = DEFAULT_LIMITS) -> None:
        self.limits = limits
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
                data=req.body if req.streamed_body is None else req.streamed_body.chunks(),
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

    def _cap(self, response: aiohttp.ClientResponse, provider: str) -> AnswerCap:
        """The answer's byte count, its declared length already checked."""
        cap = AnswerCap(self.limits.max_answer, provider)
        try:
            cap.declared(response.content_length)
        except UpstreamTooLargeError:
            response.close()  # not a byte of the body is read
            raise
        return cap

    async def send(self, req: UpstreamRequest, timeout: float, provider: str) -> UpstreamResponse:
        response = await self._request(req, self._timeout(timeout), provider, timeout)
        cap = self._cap(response, provider)
        try:
            if response.content_length is not None and CONTENT_ENCODING not in response.headers:
                body = await response.read()  # its declared length is within the cap
            else:  # chunked, or compressed (counted as what it becomes): count as it arrives
                body = await _read_counted(response, cap)
        except UpstreamTooLargeError:
            response.close()  # read no further: drop the connection, the upstream sees it
            raise
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
        # No total deadline on a stream (it may legitimately run long): the headers and the
        # first body chunk must each come within ``timeout``, each later chunk within
        # ``stream_timeout`` (the chunk limits are enforced by ``UpstreamStream``).
        read = max(timeout, stream_timeout or 0.0)
        response = await self._request(req, self._timeout(timeout, read=read), provider, timeout)
        self._cap(response, provider)  # the stream counts the bytes themselves

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
            limits=self.limits,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


async def _read_counted(response: aiohttp.ClientResponse, cap: AnswerCap) -> bytes:
    parts: list[bytes] = []
    async for part in response.content.iter_any():
        cap.count(len(part))
        parts.append(part)
    return b"".join(parts)
