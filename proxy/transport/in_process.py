"""An in-process upstream as a transport (as httpx's ``MockTransport`` is one): requests go
to a handler function instead of the network, handed over as an ``httpx.Request``, the answer
read from an ``httpx.Response``. The mock provider's server is served this way
(``proxy.app`` composes it for ``mock://``), so mock requests go through the same adapter,
credentials, cost and logging path as real ones.

httpx loads at the first request (or when the handler's module is imported at start-up),
never with the network transport.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from proxy.transport.stream import DEFAULT_LIMITS, AnswerCap, UpstreamStream, full_url
from proxy.upstream_request import UpstreamLimits, UpstreamRequest, UpstreamResponse

if TYPE_CHECKING:
    import httpx

    Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


@functools.cache
def _stream_type() -> type[UpstreamStream]:
    import httpx

    class InProcessStream(UpstreamStream):
        stalled = (*UpstreamStream.stalled, httpx.TimeoutException)
        broken = (*UpstreamStream.broken, httpx.TransportError)

    return InProcessStream


def to_httpx(req: UpstreamRequest) -> httpx.Request:
    import httpx

    body = req.streamed_body
    content = body.chunks() if body is not None else req.body
    return httpx.Request(req.method, full_url(req), headers=req.headers, content=content)


class MockTransport:
    """A ``Sender`` whose upstream is ``handler``, an async function of an httpx request.
    Its answers are held to the same ``limits`` as the network's (the handler made them in
    memory already, so a plain answer is measured whole)."""

    def __init__(self, handler: Handler, limits: UpstreamLimits = DEFAULT_LIMITS) -> None:
        self.handler = handler
        self.limits = limits

    async def send(self, req: UpstreamRequest, timeout: float, provider: str) -> UpstreamResponse:
        answer = await self.handler(to_httpx(req))
        body = await answer.aread()
        AnswerCap(self.limits.max_answer, provider).count(len(body))
        return UpstreamResponse(answer.status_code, answer.headers, body)

    async def open_stream(
        self, req: UpstreamRequest, timeout: float, provider: str, stream_timeout: float | None
    ) -> UpstreamStream:
        answer = await self.handler(to_httpx(req))
        return _stream_type()(
            answer.status_code,
            answer.headers,
            answer.aiter_raw(),
            answer.aclose,
            provider,
            gap=stream_timeout,
            first=timeout,
            limits=self.limits,
        )

    async def aclose(self) -> None:
        return None
