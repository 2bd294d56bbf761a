"""The state interface and the clock it runs on.

Every operation is one atomic step on the store, so a Redis implementation maps each to one
command or one short Lua script and N replicas share the same counters:

- ``incr(key, amount, ttl)``: ``INCRBYFLOAT`` + ``EXPIRE`` (the ttl is refreshed on every
  increment, so a counter nobody touches disappears by itself).
- ``get`` / ``get_many`` / ``set_with_ttl`` / ``delete``: ``GET`` / ``MGET`` / ``SET EX`` /
  ``DEL``.
- ``window_add`` / ``window_total`` / ``window_reserve``: a sliding window as a sorted set
  scored by time (``ZADD`` / ``ZREMRANGEBYSCORE`` / sum of members); ``window_reserve`` is the
  check-and-add in one step (a Lua script) so concurrent requests cannot overshoot a limit.
- ``reserve_below``: a counter's check-and-add (budgets), one Lua script.

Values are strings or floats; the routing code owns the key names. The clock is injectable so
tests drive time by hand.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


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
    async def incr(self, key: str, amount: float = 1.0, ttl: float | None = None) -> float:
        """Add ``amount`` (may be negative) and return the new value; refresh the expiry."""
        ...

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

    async def reserve_below(
        self, key: str, amount: float, limit: float, ttl: float, floor: float = 0.0
    ) -> float | None:
        """Add ``amount`` to the counter ``key`` if it is below ``limit`` (a counter that is
        missing or below ``floor`` first becomes ``floor``): ``None`` when added, else the
        counter's value. Budgets: the counter is spend plus reservations in flight."""
        ...

    async def aclose(self) -> None: ...
