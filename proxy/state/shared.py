"""Shared state with a local fallback: Redis while it answers, memory while it does not.

Every operation goes to Redis unless the circuit breaker is open; a Redis error (connection
refused, timeout after ``redis_socket_timeout``) opens it and that same operation is served
from memory, so a request never fails or waits because of Redis. While open, a background
probe pings Redis every ``redis_retry_interval`` seconds; the first answer closes it.

Paired counters (in-flight slots, budget reservations) are released where they were taken:
the store remembers how much it added to each counter in Redis (``held``) and in memory
(``held_locally``, during an outage). A release goes first against what was taken in memory,
then against what was taken in Redis; when Redis is down that part is owed and paid back as
soon as Redis answers, so a slot taken before an outage never stays counted in Redis, and
a slot taken during it never takes another replica's count away in Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.exceptions import RedisError

from proxy.state.base import Clock, StateStore, SystemClock
from proxy.state.breaker import CircuitBreaker
from proxy.state.memory import MemoryState
from proxy.state.redis import RedisState

log = logging.getLogger("proxy.state")

T = TypeVar("T")
REDIS_ERRORS = (RedisError, OSError, TimeoutError, ConnectionError)
EPSILON = 1e-9


class SharedState:
    def __init__(
        self,
        redis: RedisState,
        *,
        retry_interval: float = 2.0,
        operation_timeout: float = 1.0,
        clock: Clock | None = None,
    ) -> None:
        self.clock = clock or SystemClock()
        self.redis = redis
        self.memory = MemoryState(self.clock)
        self.breaker = CircuitBreaker(self.clock)
        self.retry_interval = retry_interval
        self.operation_timeout = operation_timeout
        self.held: dict[str, float] = {}  # key -> amount this process added to Redis
        self.held_locally: dict[str, float] = {}  # key -> amount added to memory (outage)
        self.owed: dict[str, tuple[float, float | None]] = {}  # key -> (release, ttl)
        self.on_recover: list[Callable[[], Awaitable[None]]] = []
        self._probe: asyncio.Task[None] | None = None

    @property
    def healthy(self) -> bool:
        return self.breaker.closed

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            async with asyncio.timeout(self.operation_timeout):
                await self.redis.ping()
        except REDIS_ERRORS as exc:
            self.breaker.trip(exc)
        self._probe = asyncio.create_task(self._probe_loop())

    async def _probe_loop(self) -> None:
        while True:
            await self.breaker.opened.wait()
            await self.clock.sleep(self.retry_interval)
            try:
                async with asyncio.timeout(self.operation_timeout):
                    await self.redis.ping()
                    await self._pay_owed()
            except REDIS_ERRORS:
                continue
            self.breaker.reset()
            for hook in self.on_recover:
                try:
                    await hook()
                except Exception as exc:
                    log.error("after redis recovery: %s failed (%s)", hook, type(exc).__name__)

    async def _pay_owed(self) -> None:
        for key, (amount, ttl) in list(self.owed.items()):
            await self.redis.incr(key, -amount, ttl)
            del self.owed[key]

    async def aclose(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
        with contextlib.suppress(*REDIS_ERRORS):
            await self.redis.aclose()
        await self.memory.aclose()

    # --- routing every operation ----------------------------------------------------------

    async def _on_redis(self, op: Callable[[StateStore], Awaitable[T]]) -> tuple[bool, T | None]:
        """(True, result) when Redis answered; (False, None) when it is down."""
        if not self.breaker.closed:
            return False, None
        try:
            async with asyncio.timeout(self.operation_timeout):
                return True, await op(self.redis)
        except REDIS_ERRORS as exc:
            self.breaker.trip(exc)
            return False, None

    async def _call(self, op: Callable[[StateStore], Awaitable[T]]) -> T:
        ok, value = await self._on_redis(op)
        if ok:
            return value  # type: ignore[return-value]
        return await op(self.memory)

    @staticmethod
    def _add(ledger: dict[str, float], key: str, amount: float) -> None:
        total = ledger.get(key, 0.0) + amount
        if abs(total) < EPSILON:
            ledger.pop(key, None)
        else:
            ledger[key] = total

    async def incr(self, key: str, amount: float = 1.0, ttl: float | None = None) -> float:
        if amount >= 0:
            ok, value = await self._on_redis(lambda s: s.incr(key, amount, ttl))
            if ok:
                self._add(self.held, key, amount)
                return float(value or 0.0)
            self._add(self.held_locally, key, amount)
            return await self.memory.incr(key, amount, ttl)
        return await self._release(key, -amount, ttl)

    async def _release(self, key: str, amount: float, ttl: float | None) -> float:
        """Give back ``amount``: first what was taken in memory (during an outage), then what
        was taken in Redis (owed while Redis is down), then anything else where it stands."""
        from_memory = min(amount, max(0.0, self.held_locally.get(key, 0.0)))
        from_redis = min(amount - from_memory, max(0.0, self.held.get(key, 0.0)))
        rest = amount - from_memory - from_redis
        result: float | None = None
        if from_memory > 0:
            self._add(self.held_locally, key, -from_memory)
            result = await self.memory.incr(key, -from_memory, ttl)
        if from_redis > 0:
            self._add(self.held, key, -from_redis)
            ok, value = await self._on_redis(lambda s: s.incr(key, -from_redis, ttl))
            if ok:
                result = float(value or 0.0)
            else:
                owed, _ = self.owed.get(key, (0.0, ttl))
                self.owed[key] = (owed + from_redis, ttl)
        if rest > 0 or result is None:
            result = await self._call(lambda s: s.incr(key, -rest, ttl))
        return result

    async def reserve_below(
        self, key: str, amount: float, limit: float, ttl: float, floor: float = 0.0
    ) -> float | None:
        ok, value = await self._on_redis(lambda s: s.reserve_below(key, amount, limit, ttl, floor))
        if ok:
            if value is None:
                self._add(self.held, key, amount)
            return value
        value = await self.memory.reserve_below(key, amount, limit, ttl, floor)
        if value is None:
            self._add(self.held_locally, key, amount)
        return value

    async def get(self, key: str) -> str | None:
        return await self._call(lambda s: s.get(key))

    async def get_many(self, keys: list[str]) -> list[str | None]:
        return await self._call(lambda s: s.get_many(keys))

    async def set_with_ttl(self, key: str, value: str, ttl: float) -> None:
        await self._call(lambda s: s.set_with_ttl(key, value, ttl))

    async def delete(self, key: str) -> None:
        await self._call(lambda s: s.delete(key))
        await self.memory.delete(key)

    async def window_add(self, key: str, amount: float, window: float) -> None:
        await self._call(lambda s: s.window_add(key, amount, window))

    async def window_total(self, key: str, window: float) -> float:
        return await self._call(lambda s: s.window_total(key, window))

    async def window_reserve(
        self, key: str, amount: float, limit: float, window: float
    ) -> float | None:
        return await self._call(lambda s: s.window_reserve(key, amount, limit, window))
