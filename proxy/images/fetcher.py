"""The guarded image downloader's entry point: ``ImageFetcher.fetch(url, hosts)``.

The rules live in ``fetch.py``; the HTTP side (httpcore, httpx's URL rules:
``fetch_client.py``) loads at the first download, in a worker thread, rather than at start-up.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING

from proxy.config.delivery import ImageFetchSettings
from proxy.images.fetch import Resolver, system_resolve

if TYPE_CHECKING:
    from proxy.images.fetch_client import PinnedClient


class ImageFetcher:
    def __init__(self, settings: ImageFetchSettings, *, resolve: Resolver = system_resolve) -> None:
        self.settings = settings
        self._resolve = resolve
        self._networks = tuple(
            ipaddress.ip_network(c, strict=False) for c in settings.allow_private_cidrs
        )
        self._client: PinnedClient | None = None
        self._opening = asyncio.Lock()

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def fetch(self, url: str, hosts: Iterable[str]) -> bytes:
        """The image at ``url``; ``FetchError`` for any refusal or failure."""
        client = self._client or await self._open()
        return await client.fetch(url, tuple(hosts))

    async def _open(self) -> PinnedClient:
        async with self._opening:
            if self._client is None:
                # Importing httpcore (and trio, when installed) and loading the CA bundle
                # take tens of milliseconds: never on the event loop.
                self._client = await asyncio.to_thread(self._build)
        return self._client

    def _build(self) -> PinnedClient:
        from proxy.images.fetch_client import PinnedClient

        return PinnedClient(self.settings, self._resolve, self._networks)
