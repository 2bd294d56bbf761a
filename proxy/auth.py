"""Who may call: the master key, and virtual keys when a key store is attached.

Keys arrive as ``Authorization: Bearer <key>`` or as Azure-style ``api-key: <key>``. The
master key is compared in constant time; virtual keys are looked up by their hash only.

A request without a key may carry the console's session cookie instead (``proxy.sessions``):
the key signed in with is checked again (by its hash), and a state-changing request must also
carry the session's CSRF token. The cookie is looked at only when no key header came, so API
clients pay nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Awaitable, Callable, Sequence

from starlette.requests import Request

from proxy.config.settings import IPNetwork
from proxy.context import KeyInfo
from proxy.errors import AuthenticationError, PermissionDeniedError
from proxy.sessions import COOKIE, CSRF_HEADER, SAFE_METHODS, Sessions

KeyLookup = Callable[[str], Awaitable[KeyInfo | None]]  # by the key's hash


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
        sessions: Sessions | None = None,  # console sign-ins (cookie + CSRF token)
        allowed_ips: Sequence[IPNetwork] | None = None,  # general_settings.allowed_ips
    ) -> None:
        self._master = master_key.encode() if master_key else None
        self._master_info = KeyInfo(
            key_hash=hash_key(master_key) if master_key else "", alias="master", is_master=True
        )
        self.open_access = open_access and not master_key
        self.lookup = lookup
        self.sessions = sessions
        self.allowed_ips = tuple(allowed_ips) if allowed_ips is not None else None

    async def authenticate(self, request: Request) -> KeyInfo:
        self.check_client(request)
        if self.open_access:
            return self._master_info
        key = presented_key(request)
        if key is not None:
            return await self.check_key(key)
        if self.sessions is not None:
            holder = await self.session_holder(request)
            if holder is not None:
                return await self.check_holder(holder)
        raise AuthenticationError(
            "Missing API key: send 'Authorization: Bearer <key>'.", code="missing_api_key"
        )

    async def check_key(self, key: str) -> KeyInfo:
        """Who ``key`` is (master or a virtual key), or a 401."""
        return await self.check_holder(hash_key(key))

    async def check_holder(self, key_hash: str) -> KeyInfo:
        """Who the key with this hash is (what a console session holds): the master key as it
        is configured now (a session of a rotated master key is refused), or a virtual key;
        else a 401."""
        if self._master is not None and hmac.compare_digest(
            key_hash.encode(), self._master_info.key_hash.encode()
        ):
            return self._master_info
        if self.lookup is not None:
            info = await self.lookup(key_hash)
            if info is not None:
                return info
        raise AuthenticationError("Invalid API key.")

    async def identify(self, request: Request, key: str) -> KeyInfo:
        """Who ``key`` is, sent by ``request``'s client outside the usual headers (the
        console's sign-in): held to the same client check; on an open proxy, the master."""
        return await self.identify_holder(request, hash_key(key))

    async def identify_holder(self, request: Request, holder: str) -> KeyInfo:
        """``identify`` of a key known by its holder (a console session's)."""
        self.check_client(request)
        return self._master_info if self.open_access else await self.check_holder(holder)

    def check_client(self, request: Request) -> None:
        """``general_settings.allowed_ips``: a 403 for any other client address."""
        if self.allowed_ips is not None and not self.client_allowed(request):
            raise PermissionDeniedError(
                "This client address may not call this proxy (general_settings.allowed_ips).",
                code="ip_not_allowed",
            )

    def client_allowed(self, request: Request) -> bool:
        """Whether the peer address is in ``allowed_ips``. The TCP peer, not a forwarded
        header: a client could write any ``X-Forwarded-For``."""
        assert self.allowed_ips is not None
        host = request.client.host if request.client is not None else None
        try:
            address = ipaddress.ip_address(host or "")
        except ValueError:
            return False
        return any(address in network for network in self.allowed_ips)

    async def session_holder(self, request: Request) -> str | None:
        """Who holds the request's console session cookie, if any; a state-changing request
        without the session's CSRF token is refused."""
        assert self.sessions is not None
        session = await self.sessions.get(request.cookies.get(COOKIE))
        if session is None:
            return None
        if request.method not in SAFE_METHODS and not session.csrf_matches(
            request.headers.get(CSRF_HEADER)
        ):
            raise PermissionDeniedError(
                f"Missing or wrong {CSRF_HEADER} header for this console session.",
                code="csrf_token_invalid",
            )
        return session.holder

    def is_master(self, key: KeyInfo) -> bool:
        return key.is_master
