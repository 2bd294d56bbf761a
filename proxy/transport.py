"""The one shared upstream HTTP client: pooled, keep-alive, never following redirects.

Maps network failures onto the error family once, so adapters and the router only see
``UpstreamTimeoutError`` / ``UpstreamConnectionError``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx

from proxy.errors import UpstreamConnectionError, UpstreamTimeoutError
from proxy.providers.base import UpstreamRequest, UpstreamResponse

CONNECT_TIMEOUT = 10.0


def _timeout(seconds: float) -> httpx.Timeout:
    return httpx.Timeout(seconds, connect=min(CONNECT_TIMEOUT, seconds))


class UpstreamStream:
    """An open streaming response; iterate ``chunks()`` then ``aclose()``."""

    def __init__(self, response: httpx.Response, provider: str) -> None:
        self.response = response
        self.status = response.status_code
        self.headers = response.headers
        self._provider = provider

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.response.aiter_raw():
                yield chunk
        except httpx.TimeoutException:
            raise UpstreamTimeoutError(
                f"{self._provider} stream stalled past the stream timeout", provider=self._provider
            ) from None
        except httpx.TransportError as exc:
            raise UpstreamConnectionError(
                f"{self._provider} stream broke: {type(exc).__name__}", provider=self._provider
            ) from None

    async def read(self) -> UpstreamResponse:
        body = b"".join([c async for c in self.chunks()])
        return UpstreamResponse(self.status, self.headers, body)

    async def aclose(self) -> None:
        await self.response.aclose()


class Transport:
    def __init__(self, mounts: dict[str, httpx.AsyncBaseTransport] | None = None) -> None:
        self.client = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=512),
            follow_redirects=False,
            trust_env=False,
            mounts=mounts,
            headers={"user-agent": "image-proxy"},
        )

    def _build(self, req: UpstreamRequest, timeout: float) -> httpx.Request:
        return self.client.build_request(
            req.method,
            req.url,
            headers=req.headers,
            content=req.body,
            params=req.params,
            timeout=_timeout(timeout),
        )

    async def send(self, req: UpstreamRequest, timeout: float, provider: str) -> UpstreamResponse:
        try:
            response = await self.client.send(self._build(req, timeout))
        except httpx.TimeoutException:
            raise UpstreamTimeoutError(
                f"{provider} did not answer within {timeout:g}s", provider=provider
            ) from None
        except httpx.TransportError as exc:
            raise UpstreamConnectionError(
                f"could not reach {provider}: {type(exc).__name__}", provider=provider
            ) from None
        return UpstreamResponse(response.status_code, response.headers, response.content)

    async def open_stream(
        self, req: UpstreamRequest, timeout: float, provider: str, stream_timeout: float | None
    ) -> UpstreamStream:
        t = _timeout(timeout)
        if stream_timeout:
            t = httpx.Timeout(timeout, connect=t.connect, read=stream_timeout)
        request = self.client.build_request(
            req.method, req.url, headers=req.headers, content=req.body, params=req.params, timeout=t
        )
        try:
            response = await self.client.send(request, stream=True)
        except httpx.TimeoutException:
            raise UpstreamTimeoutError(
                f"{provider} did not answer within {timeout:g}s", provider=provider
            ) from None
        except httpx.TransportError as exc:
            raise UpstreamConnectionError(
                f"could not reach {provider}: {type(exc).__name__}", provider=provider
            ) from None
        return UpstreamStream(response, provider)

    async def aclose(self) -> None:
        await self.client.aclose()


def header_float(headers: Any, name: str) -> float | None:
    value = headers.get(name) if headers is not None else None
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None
