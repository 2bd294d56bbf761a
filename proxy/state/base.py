"""The state interface and the clock it runs on.

Every operation is one atomic step on the store, so a Redis implementation maps each to one
command or one short Lua script and N replicas share the same counters:

- ``get`` / ``get_many`` / ``set_with_ttl`` / ``delete``: ``GET`` / ``MGET`` / ``SET EX`` /
  ``DEL``.
- ``window_add`` / ``window_total`` / ``window_reserve``: a sliding window as a sorted set
  scored by time (``ZADD`` / ``ZREMRANGEBYSCORE`` / sum of members); ``window_reserve`` is the
  check-and-add in one step (a Lua script) so concurrent requests cannot overshoot a limit.
- ``hold`` / ``release`` / ``held_totals``: capacity and budget held by requests in flight
  (in-flight slots, budget reservations). A hold is a *lease of the process that took it*:
  with Redis it counts only while that process is alive (``proxy/state/redis.py``), so a
  replica killed mid-call gives everything back by itself. Next to the holds a key has a
  *settled* amount (a budget's real spend), which is not a lease: it stays.

Values are strings or floats; the routing code owns the key names. The clock is injectable so
tests drive time by hand.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

SETTLED_TTL = 3600.0  # a settled amount nobody touched for this long is rebuilt from its floor


class Clock(Protocol):
    def time(self) -> float:
        """Wall-clock seconds (shared between replicas: cooldown deadlines, windows)."""
        ...

    def monotonic(self) -> float:
        """Seconds for measuring durations and request deadlines."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class StateStore(Protocol):
    async def get(self, key: str) -> str | None: ...

    async def get_many(self, keys: list[str]) -> list[str | None]: ...

    async def set_with_ttl(self, key: str, value: str, ttl: float) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def window_add(self, key: str, amount: float, window: float) -> None:
        """Count ``amount`` now in the sliding window ``key`` of ``window`` seconds."""
        ...

    async def window_total(self, key: str, window: float) -> float:
        """The sum counted in the last ``window`` seconds."""
        ...

    async def window_reserve(
        self, key: str, amount: float, limit: float, window: float
    ) -> float | None:
        """Add ``amount`` if the window stays within ``limit``: ``None`` when added, else
        the seconds until enough of the window has expired to make room."""
        ...

    async def hold(
        self, key: str, amount: float, limit: float | None = None, floor: float = 0.0
    ) -> float | None:
        """Hold ``amount`` of ``key`` for this process if the key's total is below ``limit``
        (no limit: always). The total is the settled amount (at least ``floor``: a settled
        amount that is missing or lower first becomes ``floor``) plus what every live process
        holds. ``None`` when held, else the total that refused it.

        In-flight slots hold 1 against ``max_parallel_requests``; budgets hold the request's
        estimate against ``max_budget`` with the spend known from the database as the floor."""
        ...

    async def release(
        self, key: str, amount: float, spent: float = 0.0, floor: float = 0.0
    ) -> None:
        """Give back ``amount`` this process holds on ``key``, and add ``spent`` to the
        settled amount (which first becomes at least ``floor``). Settling a budget
        reservation releases the estimate and adds the real cost."""
        ...

    async def held_totals(self, keys: list[str]) -> list[float]:
        """What live processes hold on each key (the settled amount not included)."""
        ...

    async def aclose(self) -> None: ...
