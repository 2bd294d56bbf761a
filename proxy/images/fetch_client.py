"""The HTTP side of the guarded image downloader (``fetch.py`` holds the rules and the entry
point): an httpcore pool whose network backend connects only to checked addresses, and the
redirect loop with every hop re-checked. Loaded at the first download, not at start-up.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from proxy.config.delivery import ImageFetchSettings
from proxy.images.fetch import (
    FetchError,
    IPNetwork,
    Resolver,
    address_allowed,
    host_allowed,
)
from proxy.images.formats import ImageRejected, check_image, too_large

REDIRECTS = frozenset({301, 302, 303, 307, 308})


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks every address, then connects to a checked address (never re-resolves)."""

    def __init__(self, resolve: Resolver, networks: tuple[IPNetwork, ...]) -> None:
        self._resolve = resolve
        self._networks = networks
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = list(dict.fromkeys(await self._resolve(host, port)))
        if not addresses:
            raise FetchError(f"cannot resolve {host}")
        for address in addresses:
            if not address_allowed(address, self._networks):
                raise FetchError(f"{host} resolves to a non-public address; refused")
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address.split("%", 1)[0], port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise FetchError("unix sockets are never fetched")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class PinnedClient:
    """Downloads with every hop checked, over connections ``PinnedBackend`` opened."""

    def __init__(
        self, settings: ImageFetchSettings, resolve: Resolver, networks: tuple[IPNetwork, ...]
    ) -> None:
        self.settings = settings
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl.create_default_context(),
            max_connections=64,
            keepalive_expiry=30.0,
            network_backend=PinnedBackend(resolve, networks),
        )

    async def aclose(self) -> None:
        await self._pool.aclose()

    def check_url(self, url: httpx.URL, hosts: Iterable[str]) -> None:
        if url.scheme not in ("http", "https"):
            raise FetchError(f"scheme {url.scheme or '(none)'!r} is not fetched (http/https only)")
        if not url.host:
            raise FetchError("the image URL has no host")
        if url.userinfo:
            raise FetchError("image URLs with credentials are not fetched")
        if not host_allowed(url.host, (*hosts, *self.settings.allowed_hosts)):
            raise FetchError(f"host {url.host} is not an allowed image host")

    async def fetch(self, url: str, hosts: tuple[str, ...]) -> bytes:
        try:
            current = httpx.URL(url)
        except (httpx.InvalidURL, TypeError):
            raise FetchError("the image URL is not a valid URL") from None
        timeout = self.settings.timeout_seconds
        try:
            async with asyncio.timeout(timeout):
                for _hop in range(self.settings.max_redirects + 1):
                    self.check_url(current, hosts)
                    status, location, body = await self._get(current)
                    if status in REDIRECTS and location is not None:
                        try:
                            current = current.join(location)
                        except httpx.InvalidURL:
                            raise FetchError("redirect to an invalid URL") from None
                        continue
                    if status != 200:
                        raise FetchError(f"{current.host} answered HTTP {status}")
                    try:
                        check_image(body, self.settings.max_bytes)
                    except ImageRejected as exc:
                        raise FetchError(f"{current.host}: {exc}") from None
                    return body
                raise FetchError(f"more than {self.settings.max_redirects} redirects")
        except TimeoutError:
            raise FetchError(f"download did not finish within {timeout:g}s") from None
        except httpcore.TimeoutException:
            raise FetchError(f"download did not finish within {timeout:g}s") from None
        except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as e:
            raise FetchError(f"download failed: {type(e).__name__}") from None

    async def _get(self, url: httpx.URL) -> tuple[int, str | None, bytes]:
        cap = self.settings.max_bytes
        t = self.settings.timeout_seconds
        request = httpcore.Request(
            "GET",
            httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=[
                (b"host", url.netloc),
                (b"accept", b"image/*"),
                (b"accept-encoding", b"identity"),
                (b"user-agent", b"image-proxy"),
            ],
            extensions={"timeout": {"connect": t, "read": t, "write": t, "pool": t}},
        )
        response = await self._pool.handle_async_request(request)
        try:
            headers = {
                k.decode("latin-1").lower(): v.decode("latin-1") for k, v in response.headers
            }
            if response.status in REDIRECTS:
                return response.status, headers.get("location"), b""
            if response.status != 200:
                return response.status, None, b""
            declared = headers.get("content-length", "")
            if declared.isdigit() and int(declared) > cap:
                raise FetchError(str(too_large(cap)))
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_stream():
                size += len(chunk)
                if size > cap:
                    raise FetchError(str(too_large(cap)))
                chunks.append(chunk)
            return 200, None, b"".join(chunks)
        finally:
            await response.aclose()
