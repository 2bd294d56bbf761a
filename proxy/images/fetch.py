"""The guarded image downloader: provider image URL in, image bytes out.

Used only when a client asks for ``b64_json`` and the provider answered with a URL. Every
guard is here and each one refuses rather than degrades:

- ``http``/``https`` only, and the host must be one the provider's adapter declares
  (``image_hosts``) or one the operator allowed (``image_fetch.allowed_hosts``);
- the host is resolved with the event loop's ``getaddrinfo`` and *every* address must be
  public (no loopback, RFC 1918, link-local such as 169.254.169.254, CGNAT, multicast,
  reserved, unspecified, nor an IPv4 one of those hidden in an IPv6 address). The connection
  is then opened to the very address that was checked (a custom httpcore network backend in
  ``fetch_client.py``), so a DNS answer that changes between check and connect (rebinding)
  cannot slip through;
- redirects are followed by hand, each hop re-checked (scheme, host, addresses), at most
  ``max_redirects``;
- the body is capped at ``max_bytes`` (declared length and bytes actually read) and the whole
  download, redirects included, must finish within ``timeout_seconds``;
- the bytes must be an image (PNG, JPEG, WEBP, GIF, AVIF), not an error page: the one check
  (``formats.check_image``) that images in ``data:`` URIs pass too.

Only the operator can loosen the address check, with ``image_fetch.allow_private_cidrs``
(on-premises providers, tests); nothing in a request can.

This module holds the rules; ``fetcher.py`` the entry point (``ImageFetcher``). Most gateways
never download an image (providers answer base64 when asked), so the HTTP side (httpcore,
httpx's URL rules: ``fetch_client.py``) loads at the first download, in a worker thread,
rather than at start-up.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable

from proxy.config.delivery import is_ip_literal

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

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
