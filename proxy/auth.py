"""Who may call: the master key, and virtual keys when a key store is attached.

Keys arrive as ``Authorization: Bearer <key>`` or as Azure-style ``api-key: <key>``. The
master key is compared in constant time; virtual keys are looked up by their hash only.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable

from starlette.requests import Request

from proxy.context import KeyInfo
from proxy.errors import AuthenticationError

KeyLookup = Callable[[str], Awaitable[KeyInfo | None]]


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    api_key = request.headers.get("api-key") or request.headers.get("x-api-key")
    return api_key.strip() if api_key and api_key.strip() else None


class Authenticator:
    def __init__(
        self,
        master_key: str | None,
        *,
        open_access: bool = False,
        lookup: KeyLookup | None = None,  # virtual keys (proxy.keys.service)
    ) -> None:
        self._master = master_key.encode() if master_key else None
        self._master_info = KeyInfo(
            key_hash=hash_key(master_key) if master_key else "", alias="master", is_master=True
        )
        self.open_access = open_access and not master_key
        self.lookup = lookup

    async def authenticate(self, request: Request) -> KeyInfo:
        if self.open_access:
            return self._master_info
        key = presented_key(request)
        if key is None:
            raise AuthenticationError(
                "Missing API key: send 'Authorization: Bearer <key>'.", code="missing_api_key"
            )
        if self._master is not None and hmac.compare_digest(key.encode(), self._master):
            return self._master_info
        if self.lookup is not None:
            info = await self.lookup(key)
            if info is not None:
                return info
        raise AuthenticationError("Invalid API key.")

    def is_master(self, key: KeyInfo) -> bool:
        return key.is_master
