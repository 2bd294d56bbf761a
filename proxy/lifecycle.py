"""What starts and stops with the application, and what readiness checks: each feature's
builder returns its part, ``proxy.app.create_app`` adds them up in order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

Step = Callable[[], Awaitable[None]]
Check = Callable[[], bool]


@dataclass(frozen=True, slots=True)
class Lifecycle:
    startup: tuple[Step, ...] = ()
    shutdown: tuple[Step, ...] = ()  # run last first
    readiness: tuple[tuple[str, Check], ...] = ()  # (name, check): degraded while False

    def __add__(self, other: Lifecycle) -> Lifecycle:
        return Lifecycle(
            self.startup + other.startup,
            self.shutdown + other.shutdown,
            self.readiness + other.readiness,
        )
