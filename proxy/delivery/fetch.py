"""The guarded image downloader: provider image URL in, image bytes out.

Used only when a client asks for ``b64_json`` and the provider answered with a URL. Every
guard is here and each one refuses rather than degrades:

- ``http``/``https`` only, and the host must be one the provider's adapter declares
  (``image_hosts``) or one the operator allowed (``image_fetch.allowed_hosts``);
- the host is resolved with the event loop's ``getaddrinfo`` and *every* address must be
  public (no loopback, RFC 1918, link-local such as 169.254.169.254, CGNAT, multicast,
  reserved, unspecified, nor an IPv4 one of those hidden in an IPv6 address). The connection
  is then opened to the very address that was checked (a custom httpcore network backend), so
  a DNS answer that changes between check and connect (rebinding) cannot slip through;
- redirects are followed by hand, each hop re-checked (scheme, host, addresses), at most
  ``max_redirects``;
- the body is capped at ``max_bytes`` (declared length and bytes actually read) and the whole
  download, redirects included, must finish within ``timeout_seconds``;
- the bytes must be an image (PNG, JPEG, WEBP, GIF, AVIF), not an error page.

Only the operator can loosen the address check, with ``image_fetch.allow_private_cidrs``
(on-premises providers, tests); nothing in a request can.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpcore
import httpx

from proxy.delivery.formats import sniff_image
from proxy.delivery.settings import ImageFetchSettings, is_ip_literal

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

REDIRECTS = frozenset({301, 302, 303, 307, 308})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


class FetchError(Exception):
    """The image could not be downloaded; ``str()`` is safe to show (no query strings)."""


async def system_resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise FetchError(f"cannot resolve {host}") from None
    return [str(info[4][0]) for info in infos]


def embedded_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses carried inside an IPv6 one (mapped, 6to4, Teredo, NAT64)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    out = [a for a in (ip.ipv4_mapped, ip.sixtofour) if a is not None]
    if ip.teredo is not None:
        out.extend(ip.teredo)
    if ip in _NAT64:
        out.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return out


def is_public(ip: IPAddress) -> bool:
    for a in (ip, *embedded_ipv4(ip)):
        if (
            not a.is_global
            or a.is_private
            or a.is_loopback
            or a.is_link_local
            or a.is_multicast
            or a.is_reserved
            or a.is_unspecified
            or (isinstance(a, ipaddress.IPv4Address) and a in _CGNAT)
        ):
            return False
    return True


def address_allowed(text: str, operator_networks: Iterable[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    for candidate in (ip, *embedded_ipv4(ip)):
        if any(candidate.version == n.version and candidate in n for n in operator_networks):
            return True
    return is_public(ip)


def host_allowed(host: str, patterns: Iterable[str]) -> bool:
    """``host`` equals a pattern or is a sub-domain of one (IP literals: equality only)."""
    host = host.lower().rstrip(".")
    for p in patterns:
        p = p.lower().strip(".")
        if host == p:
            return True
        if not is_ip_literal(p) and not is_ip_literal(host) and host.endswith("." + p):
            return True
    return False


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


class ImageFetcher:
    def __init__(
        self, settings: ImageFetchSettings, *, resolve: Resolver = system_resolve
    ) -> None:
        self.settings = settings
        networks = tuple(
            ipaddress.ip_network(c, strict=False) for c in settings.allow_private_cidrs
        )
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

    async def fetch(self, url: str, hosts: Iterable[str]) -> bytes:
        """The image at ``url``; ``FetchError`` for any refusal or failure."""
        hosts = tuple(hosts)
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
                    if sniff_image(body) is None:
                        raise FetchError(f"{current.host} did not return an image")
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
            httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port,
                         target=url.raw_path),
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
            headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                       for k, v in response.headers}
            if response.status in REDIRECTS:
                return response.status, headers.get("location"), b""
            if response.status != 200:
                return response.status, None, b""
            declared = headers.get("content-length", "")
            if declared.isdigit() and int(declared) > cap:
                raise FetchError(f"image larger than the {cap} byte limit")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_stream():
                size += len(chunk)
                if size > cap:
                    raise FetchError(f"image larger than the {cap} byte limit")
                chunks.append(chunk)
            return 200, None, b"".join(chunks)
        finally:
            await response.aclose()
