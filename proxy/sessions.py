"""Console sign-in sessions: an opaque id in an HttpOnly cookie stands for who signed in.

``POST /console/session`` checks a key like a bearer token and opens a session; the browser
then holds only the session id (an HttpOnly, SameSite=Strict cookie no script can read) and a
CSRF token it sends back in ``x-csrf-token`` on every state-changing request. A session holds
the hash of the key signed in with, never the key itself: each request is authenticated afresh
by it (``Authenticator.check_holder``), so a key revoked or expired after sign-in, or a master
key rotated since, stops working at once.

Sessions live in this process (at most ``MAX_SESSIONS``) or, when replicas share a Redis
(``router_settings.redis_*``), on the shared store (expiring with the session), so a browser
signed in on one replica is signed in on all of them, and signing out on one signs out
everywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

COOKIE = "imgproxy_console"
CSRF_HEADER = "x-csrf-token"
SESSION_SECONDS = 12 * 3600
MAX_SESSIONS = 10_000  # past it the oldest session is dropped: memory stays bounded
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class SharedStore(Protocol):
    """What sessions need of the replicas' shared store (``proxy.state``'s)."""

    async def get(self, key: str) -> str | None: ...

    async def set_with_ttl(self, key: str, value: str, ttl: float) -> None: ...

    async def delete(self, key: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Session:
    holder: str  # the hash of the key signed in with (the master key's or a virtual key's)
    csrf: str
    expires: float

    def csrf_matches(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token.encode(), self.csrf.encode())

    def dumps(self) -> str:
        return json.dumps({"holder": self.holder, "csrf": self.csrf, "expires": self.expires})

    @classmethod
    def loads(cls, text: str) -> Session | None:
        try:
            raw = json.loads(text)
            return cls(str(raw["holder"]), str(raw["csrf"]), float(raw["expires"]))
        except (ValueError, TypeError, KeyError):
            return None


class Sessions:
    def __init__(
        self,
        ttl: float = SESSION_SECONDS,
        clock: Callable[[], float] = time.time,
        shared: SharedStore | None = None,
    ) -> None:
        self.ttl = ttl
        self.clock = clock
        self.shared = shared
        self._by_id: dict[str, Session] = {}
        self.throttle = SignInThrottle()  # wrong keys per client address

    async def open(self, holder: str) -> tuple[str, Session]:
        """A new session for ``holder``: (its id for the cookie, the session)."""
        session_id = secrets.token_urlsafe(32)
        session = Session(holder, secrets.token_urlsafe(32), self.clock() + self.ttl)
        if self.shared is None:
            self._keep(session_id, session)
        else:
            await self.shared.set_with_ttl(_shared_key(session_id), session.dumps(), self.ttl)
        return session_id, session

    async def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        if self.shared is None:
            session = self._by_id.get(session_id)
        else:  # read every time: a sign-out on another replica counts here at once
            found = await self.shared.get(_shared_key(session_id))
            session = Session.loads(found) if found is not None else None
        if session is None:
            return None
        if session.expires <= self.clock():
            await self.close(session_id)
            return None
        return session

    async def close(self, session_id: str | None) -> None:
        if not session_id:
            return
        if self.shared is None:
            self._by_id.pop(session_id, None)
        else:
            await self.shared.delete(_shared_key(session_id))

    def _keep(self, session_id: str, session: Session) -> None:
        self._drop_expired()
        while len(self._by_id) >= MAX_SESSIONS:
            self._by_id.pop(next(iter(self._by_id)))
        self._by_id[session_id] = session

    def _drop_expired(self) -> None:
        now = self.clock()
        for session_id in [i for i, s in self._by_id.items() if s.expires <= now]:
            del self._by_id[session_id]

    def __len__(self) -> int:
        return len(self._by_id)


def _shared_key(session_id: str) -> str:
    """Stored under the id's hash: what the shared store holds cannot be used as a cookie."""
    return f"console-session:{hashlib.sha256(session_id.encode()).hexdigest()}"


SIGN_IN_FAILURES = 10  # wrong keys per client address per window before sign-in is refused
SIGN_IN_WINDOW = 60.0
MAX_TRACKED_ADDRESSES = 10_000


class SignInThrottle:
    """Wrong keys sent to the sign-in, counted per client address: past ``limit`` in
    ``window`` seconds that address is refused (429) until the window has passed, so the
    sign-in form is no faster a way to guess keys than the API itself is slow."""

    def __init__(
        self,
        limit: int = SIGN_IN_FAILURES,
        window: float = SIGN_IN_WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._failures: dict[str, list[float]] = {}

    def retry_after(self, address: str) -> float | None:
        """Seconds until ``address`` may try again, or None when it may now."""
        recent = self._recent(address)
        if len(recent) < self.limit:
            return None
        return max(0.0, recent[0] + self.window - self.clock())

    def failed(self, address: str) -> None:
        if address not in self._failures and len(self._failures) >= MAX_TRACKED_ADDRESSES:
            self._failures.pop(next(iter(self._failures)))
        self._recent(address).append(self.clock())

    def _recent(self, address: str) -> list[float]:
        since = self.clock() - self.window
        recent = [t for t in self._failures.get(address, ()) if t > since]
        self._failures[address] = recent
        return recent
