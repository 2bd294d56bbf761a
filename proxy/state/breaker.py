"""A circuit breaker for the shared store: one failure opens it, and while it is open no
request touches Redis at all (each replica runs on local state). A background probe
(``SharedState``) closes it again once Redis answers."""

from __future__ import annotations

import asyncio
import logging

from proxy.state.base import Clock

log = logging.getLogger("proxy.state")


class CircuitBreaker:
    def __init__(self, clock: Clock, name: str = "redis") -> None:
        self.clock = clock
        self.name = name
        self.opened_at: float | None = None
        self.failures = 0  # times it opened since start
        self.opened = asyncio.Event()

    @property
    def closed(self) -> bool:
        return self.opened_at is None

    def trip(self, exc: BaseException) -> None:
        if self.opened_at is not None:
            return
        self.opened_at = self.clock.monotonic()
        self.failures += 1
        self.opened.set()
        log.error(
            "%s unreachable (%s); carrying on with local state until it answers again",
            self.name,
            type(exc).__name__,
        )

    def reset(self) -> None:
        if self.opened_at is None:
            return
        down = self.clock.monotonic() - self.opened_at
        self.opened_at = None
        self.opened.clear()
        log.warning("%s is back after %.1fs; shared state in use again", self.name, down)
