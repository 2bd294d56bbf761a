"""The one interface between the request path and event-loop pacing (``proxy.server.pacing``).

The sender lets an upstream answer ``take_turn`` on a busy loop; the hooks ``run`` their
observers, and the spend writer waits for the loop to have ``settled``, before bookkeeping
nobody waits for; a metrics scrape ``drain``s what still waits; shutdown ``close``s it.
``NoPacing`` does everything at once (tests, tools).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

Job = Callable[[], None]


class Pacer(Protocol):
    async def take_turn(self) -> None:
        """Wait for this answer's turn while the loop is busy."""
        ...

    def run(self, job: Job) -> None:
        """Run ``job`` now on a quiet loop, later (bounded) on a busy one."""
        ...

    async def settled(self, max_wait: float) -> None:
        """Return once the loop is quiet, or after ``max_wait`` seconds."""
        ...

    def drain(self) -> None:
        """Run every waiting job now."""
        ...

    def close(self) -> None: ...


class NoPacing:
    async def take_turn(self) -> None:
        return None

    def run(self, job: Job) -> None:
        job()

    async def settled(self, max_wait: float) -> None:
        return None

    def drain(self) -> None:
        return None

    def close(self) -> None:
        return None
