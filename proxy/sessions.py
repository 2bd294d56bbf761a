"""Console sign-in sessions: an opaque id in an HttpOnly cookie stands for a key kept here.

``POST /console/session`` checks a key like a bearer token and opens a session; the browser
then holds only the session id (an HttpOnly, SameSite=Strict cookie no script can read) and a
CSRF token it sends back in ``x-csrf-token`` on every state-changing request. The key itself
stays in this process, so each request is authenticated with it afresh: a key revoked or
expired after sign-in stops working at once.

Sessions live in this process's memory: behind several replicas a browser must reach the
replica it signed in on (sticky sessions), or sign in again. They end when the proxy stops.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

COOKIE = "imgproxy_console"
CSRF_HEADER = "x-csrf-token"
SESSION_SECONDS = 12 * 3600
MAX_SESSIONS = 10_000  # past it the oldest session is dropped: memory stays bounded
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class Session:
    key: str  # the key signed in with, never sent back to the browser
    csrf: str
    expires: float

    def csrf_matches(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token.encode(), self.csrf.encode())


class Sessions:
    def __init__(
        self, ttl: float = SESSION_SECONDS, clock: Callable[[], float] = time.time
    ) -> None:
        self.ttl = ttl
        self.clock = clock
        self._by_id: dict[str, Session] = {}
        self.throttle = SignInThrottle()  # wrong keys per client address

    def open(self, key: str) -> tuple[str, Session]:
        """A new session for ``key``: (its id for the cookie, the session)."""
        self._drop_expired()
        while len(self._by_id) >= MAX_SESSIONS:
            self._by_id.pop(next(iter(self._by_id)))
        session_id = secrets.token_urlsafe(32)
        session = Session(key, secrets.token_urlsafe(32), self.clock() + self.ttl)
        self._by_id[session_id] = session
        return session_id, session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        session = self._by_id.get(session_id)
        if session is None:
            return None
        if session.expires <= self.clock():
            del self._by_id[session_id]
            return None
        return session

    def close(self, session_id: str | None) -> None:
        if session_id:
            self._by_id.pop(session_id, None)

    def _drop_expired(self) -> None:
        now = self.clock()
        for session_id in [i for i, s in self._by_id.items() if s.expires <= now]:
            del self._by_id[session_id]

    def __len__(self) -> int:
        return len(self._by_id)


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
