"""Static credentials: a bearer token, Azure's api-key header, a named header, or none."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from proxy.upstream_request import UpstreamRequest


class Credentials(Protocol):
    """Adds authentication to an upstream request; credentials holding tokens that can be
    revoked before their expiry are also ``RevocableCredentials``."""

    async def authorize(self, request: UpstreamRequest) -> None: ...


@runtime_checkable
class RevocableCredentials(Credentials, Protocol):
    """An optional capability, checked with ``isinstance`` by the attempt stage:
    ``rejected(request)`` is called when the upstream answered 401 to a request these
    credentials authorized (a token revoked before its expiry), so the next request mints a
    new one instead of failing until then."""

    def rejected(self, request: UpstreamRequest) -> None: ...


class NoCredentials:
    async def authorize(self, request: UpstreamRequest) -> None:
        return None


class HeaderKey:
    """Puts a key in one header, e.g. ``Authorization: Bearer …`` or ``api-key: …``."""

    __slots__ = ("_name", "_value")

    def __init__(self, name: str, value: str) -> None:
        self._name = name
        self._value = value

    async def authorize(self, request: UpstreamRequest) -> None:
        request.headers[self._name] = self._value

    def __repr__(self) -> str:
        return f"HeaderKey({self._name!r}, '****')"


def bearer(key: str | None) -> Credentials:
    return HeaderKey("authorization", f"Bearer {key}") if key else NoCredentials()
