"""The in-memory state store: one process, no I/O. Every method runs without awaiting
anything, so each is atomic with respect to other requests on the event loop."""

from __future__ import annotations

from collections import deque

from proxy.state.base import Clock, SystemClock


class MemoryState:
    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self._values: dict[str, tuple[str, float | None]] = {}  # key -> (value, expires at)
        self._windows: dict[str, deque[tuple[float, float]]] = {}  # key -> [(time, amount)]

    def _live(self, key: str) -> str | None:
        item = self._values.get(key)
        if item is None:
            return None
        value, expires = item
        if expires is not None and expires <= self.clock.time():
            del self._values[key]
            return None
        return value

    async def incr(self, key: str, amount: float = 1.0, ttl: float | None = None) -> float:
        current = self._live(key)
        value = (float(current) if current is not None else 0.0) + amount
        expires = self.clock.time() + ttl if ttl is not None else None
        self._values[key] = (repr(value), expires)
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

    async def reserve_below(
        self, key: str, amount: float, limit: float, ttl: float, floor: float = 0.0
    ) -> float | None:
        current = self._live(key)
        value = max(float(current) if current is not None else 0.0, floor)
        if value >= limit:
            return value
        self._values[key] = (repr(value + amount), self.clock.time() + ttl)
        return None

    async def aclose(self) -> None:
        self._values.clear()
        self._windows.clear()
