"""In-process upstreams (``mock://``): the request handed over as an ``httpx.Request``, the
answer read from an ``httpx.Response``.

Kept apart from ``proxy.transport`` so that httpx loads only for a config that has such an
upstream (``proxy.providers.mock.preload``), never on the network path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from proxy.providers.base import UpstreamRequest, UpstreamResponse
from proxy.transport import UpstreamStream, full_url

LocalHandler = Callable[[httpx.Request], Awaitable[httpx.Response]]


class LocalStream(UpstreamStream):
    stalled = (*UpstreamStream.stalled, httpx.TimeoutException)
    broken = (*UpstreamStream.broken, httpx.TransportError)


def to_httpx(req: UpstreamRequest) -> httpx.Request:
    return httpx.Request(req.method, full_url(req), headers=req.headers, content=req.body)


async def send(handler: LocalHandler, req: UpstreamRequest) -> UpstreamResponse:
    local = await handler(to_httpx(req))
    return UpstreamResponse(local.status_code, local.headers, await local.aread())


async def open_stream(handler: LocalHandler, req: UpstreamRequest, provider: str) -> UpstreamStream:
    local = await handler(to_httpx(req))
    return LocalStream(local.status_code, local.headers, local.aiter_raw(), local.aclose, provider)
