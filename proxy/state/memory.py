"""The in-memory state store: one process, no I/O. Every method runs without awaiting
anything, so each is atomic with respect to other requests on the event loop.

Holds need no lease here: they live and die with the process that keeps them."""

from __future__ import annotations

from collections import deque

from proxy.state.base import SETTLED_TTL, Clock, SystemClock

EPSILON = 1e-9  # a hold this close to zero is gone (float sums of estimates)


class MemoryState:
    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self._values: dict[str, tuple[str, float | None]] = {}  # key -> (value, expires at)
        self._windows: dict[str, deque[tuple[float, float]]] = {}  # key -> [(time, amount)]
        self._held: dict[str, float] = {}  # key -> amount held by requests in flight
        self._settled: dict[str, tuple[float, float]] = {}  # key -> (amount, expires at)

    def _live(self, key: str) -> str | None:
        item = self._values.get(key)
        if item is None:
            return None
        value, expires = item
        if expires is not None and expires <= self.clock.time():
            del self._values[key]
            return None
        return value

    async def get(self, key: str) -> str | None:
        return self._live(key)

    async def get_many(self, keys: list[str]) -> list[str | None]:
        return [self._live(k) for k in keys]

    async def set_with_ttl(self, key: str, value: str, ttl: float) -> None:
        self._values[key] = (value, self.clock.time() + ttl)

    async def delete(self, key: str) -> None:
        self._values.pop(key, None)
        self._windows.pop(key, None)

    def _window(self, key: str, window: float) -> deque[tuple[float, float]]:
        entries = self._windows.setdefault(key, deque())
        cutoff = self.clock.time() - window
        while entries and entries[0][0] <= cutoff:
            entries.popleft()
        return entries

    async def window_add(self, key: str, amount: float, window: float) -> None:
        self._window(key, window).append((self.clock.time(), amount))

    async def window_total(self, key: str, window: float) -> float:
        return sum(amount for _, amount in self._window(key, window))

    async def window_reserve(
        self, key: str, amount: float, limit: float, window: float
    ) -> float | None:
        entries = self._window(key, window)
        total = sum(a for _, a in entries)
        now = self.clock.time()
        if total + amount <= limit:
            entries.append((now, amount))
            return None
        # room appears once enough of the oldest entries have left the window
        excess = total + amount - limit
        for at, a in entries:
            excess -= a
            if excess <= 0:
                return max(0.0, at + window - now)
        return window

    def _settled_at_least(self, key: str, floor: float) -> float:
        amount, expires = self._settled.get(key, (0.0, 0.0))
        if expires <= self.clock.time():
            amount = 0.0
        amount = max(amount, floor)
        if amount > 0:
            self._settled[key] = (amount, self.clock.time() + SETTLED_TTL)
        return amount

    async def hold(
        self, key: str, amount: float, limit: float | None = None, floor: float = 0.0
    ) -> float | None:
        total = self._settled_at_least(key, floor) + self._held.get(key, 0.0)
        if limit is not None and total >= limit:
            return total
        if amount > 0:
            self._held[key] = self._held.get(key, 0.0) + amount
        return None

    async def release(
        self, key: str, amount: float, spent: float = 0.0, floor: float = 0.0
    ) -> None:
        left = self._held.get(key, 0.0) - amount
        if left > EPSILON:
            self._held[key] = left
        else:
            self._held.pop(key, None)
        if spent > 0:
            settled = self._settled_at_least(key, floor) + spent
            self._settled[key] = (settled, self.clock.time() + SETTLED_TTL)

    async def held_totals(self, keys: list[str]) -> list[float]:
        return [self._held.get(k, 0.0) for k in keys]

    async def aclose(self) -> None:
        self._values.clear()
        self._windows.clear()
        self._held.clear()
        self._settled.clear()
