"""The gateway's one ``Sender``: each request goes to the transport of its URL's scheme
(``mock://`` to the in-process mock), anything else to the default (the network)."""

from __future__ import annotations

from collections.abc import Mapping

from proxy.transport.stream import Sender, UpstreamStream
from proxy.upstream_request import UpstreamRequest, UpstreamResponse


class Transports:
    def __init__(self, default: Sender, by_scheme: Mapping[str, Sender] | None = None) -> None:
        self.default = default
        self._by_prefix = tuple((f"{scheme}://", s) for scheme, s in (by_scheme or {}).items())

    def sender_for(self, url: str) -> Sender:
        for prefix, sender in self._by_prefix:
            if url.startswith(prefix):
                return sender
        return self.default

    async def send(self, req: UpstreamRequest, timeout: float, provider: str) -> UpstreamResponse:
        return await self.sender_for(req.url).send(req, timeout, provider)

    async def open_stream(
        self, req: UpstreamRequest, timeout: float, provider: str, stream_timeout: float | None
    ) -> UpstreamStream:
        sender = self.sender_for(req.url)
        return await sender.open_stream(req, timeout, provider, stream_timeout)

    async def aclose(self) -> None:
        """Close every transport once, the default last."""
        closed: list[Sender] = []
        for sender in (*(s for _, s in self._by_prefix), self.default):
            if not any(sender is c for c in closed):
                closed.append(sender)
                await sender.aclose()
