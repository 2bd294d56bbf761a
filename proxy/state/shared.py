"""Shared state with a local fallback: Redis while it answers, memory while it does not.

Every operation goes to Redis unless the circuit breaker is open; a Redis error (connection
refused, timeout after ``redis_socket_timeout``) opens it and that same operation is served
from memory, so a request never fails or waits because of Redis. While open, a background
probe pings Redis every ``redis_retry_interval`` seconds; the first answer closes it.

Holds (in-flight slots, budget reservations) are leases of this process in Redis
(``proxy/state/redis.py``): a heartbeat renews the lease every third of ``redis_lease_ttl``,
so the holds of a process that died stop counting at most ``redis_lease_ttl`` later. The
store remembers what it holds in Redis (``held``) and in memory (``held_locally``, taken
during an outage). A release goes first against what was taken in memory, then against what
was taken in Redis. When the lease was lost (Redis was unreachable, restarted, or the
heartbeat stalled for a whole ``redis_lease_ttl``), the store takes a new lease holding what
``held`` says (``rejoin``): a slot released during an outage is simply not written back, a
slot taken during it never takes another replica's count away, and nothing an old lease
left behind keeps counting. Real spend is not a lease: spend settled while Redis was
unreachable is ``owed`` and added to the shared settled amount once Redis answers.
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
from proxy.state.gate import Gate
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
        self.held: dict[str, float] = {}  # key -> amount this process holds in Redis
        self.held_locally: dict[str, float] = {}  # key -> amount held in memory (outage)
        self.owed: dict[str, tuple[float, float]] = {}  # key -> (spend to settle, floor)
        self.gate = Gate()  # holds and releases vs. rewriting ``held`` into Redis
        self.on_recover: list[Callable[[], Awaitable[None]]] = []
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def healthy(self) -> bool:
        return self.breaker.closed

    @property
    def heartbeat_interval(self) -> float:
        return self.redis.lease_ttl / 3

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            async with asyncio.timeout(self.operation_timeout):
                await self.redis.ping()
            await self._rejoin()
        except REDIS_ERRORS as exc:
            self.breaker.trip(exc)
        self._tasks = [
            asyncio.create_task(self._probe_loop()),
            asyncio.create_task(self._heartbeat_loop()),
        ]

    async def _probe_loop(self) -> None:
        while True:
            await self.breaker.opened.wait()
            await self.clock.sleep(self.retry_interval)
            try:
                async with asyncio.timeout(self.operation_timeout):
                    await self.redis.ping()
                await self._rejoin()  # the old lease may have expired, or missed releases
                await self._pay_owed()
            except REDIS_ERRORS:
                continue
            self.breaker.reset()
            for hook in self.on_recover:
                try:
                    await hook()
                except Exception as exc:
                    log.error("after redis recovery: %s failed (%s)", hook, type(exc).__name__)

    async def _heartbeat_loop(self) -> None:
        while True:
            await self.clock.sleep(self.heartbeat_interval)
            await self.heartbeat()

    async def heartbeat(self) -> None:
        """Renew this process's lease; take a new one if it had expired meanwhile."""
        ok, alive = await self._on_redis(lambda s: s.renew(list(self.held)))
        if not ok or alive:
            return
        log.warning("shared state: this replica's lease had expired; holding anew")
        try:
            await self._rejoin()
        except REDIS_ERRORS as exc:
            self.breaker.trip(exc)

    async def _rejoin(self) -> None:
        """A new lease holding exactly ``held``: no hold or release is in progress meanwhile."""
        async with self.gate.exclusive():
            async with asyncio.timeout(self.operation_timeout):
                await self.redis.rejoin(dict(self.held))

    async def _pay_owed(self) -> None:
        for key, (spent, floor) in list(self.owed.items()):
            async with asyncio.timeout(self.operation_timeout):
                await self.redis.release(key, 0.0, spent, floor)
            del self.owed[key]

    def _owe(self, key: str, spent: float, floor: float) -> None:
        """Spend to add to Redis later, summed per key. Each floor is the spend known when
        its request was admitted; the lowest is the earliest request's, which includes none
        of the owed spend (all of it was settled after that), so it is the sum's floor."""
        owed, lowest = self.owed.get(key, (0.0, floor))
        self.owed[key] = (owed + spent, min(lowest, floor))

    async def aclose(self) -> None:
        """Stop the loops, end the lease, close the client: every step bounded, so a stop
        never waits on a Redis that does not answer (nor on a loop that did not end)."""
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            done, pending = await asyncio.wait(self._tasks, timeout=self.operation_timeout)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    log.error("shared state: a loop had failed (%r)", task.exception())
            if pending:
                log.error("shared state: %d loop(s) did not stop when cancelled", len(pending))
        if self.breaker.closed:
            with contextlib.suppress(*REDIS_ERRORS):
                async with asyncio.timeout(self.operation_timeout):
                    await self.redis.leave()
        with contextlib.suppress(*REDIS_ERRORS):
            async with asyncio.timeout(self.operation_timeout):
                await self.redis.aclose()
        await self.memory.aclose()

    # --- routing every operation ----------------------------------------------------------

    async def _on_redis(self, op: Callable[[RedisState], Awaitable[T]]) -> tuple[bool, T | None]:
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

    async def hold(
        self, key: str, amount: float, limit: float | None = None, floor: float = 0.0
    ) -> float | None:
        if self.breaker.closed:
            async with self.gate.shared():
                ok, value = await self._on_redis(lambda s: s.hold(key, amount, limit, floor))
                if ok:
                    if value is None:
                        self._add(self.held, key, amount)
                    return value
        value = await self.memory.hold(key, amount, limit, floor)
        if value is None:
            self._add(self.held_locally, key, amount)
        return value

    async def release(
        self, key: str, amount: float, spent: float = 0.0, floor: float = 0.0
    ) -> None:
        """Give back what was taken in memory first, then what was taken in Redis; a part
        held in Redis that cannot be released now is dropped from ``held`` (the next lease
        does not hold it), and spend that cannot be settled in Redis now is owed. The ledger
        changes inside the gate even while Redis is down: a rejoin may be writing it."""
        from_memory = min(amount, max(0.0, self.held_locally.get(key, 0.0)))
        if from_memory > 0:
            self._add(self.held_locally, key, -from_memory)
            await self.memory.release(key, from_memory)
        from_redis = min(amount - from_memory, max(0.0, self.held.get(key, 0.0)))
        if from_redis <= 0 and spent <= 0:
            return
        async with self.gate.shared():
            self._add(self.held, key, -from_redis)
            ok, _ = await self._on_redis(lambda s: s.release(key, from_redis, spent, floor))
        if not ok and spent > 0:
            await self.memory.release(key, 0.0, spent, floor)  # enforced here meanwhile
            self._owe(key, spent, floor)

    async def held_totals(self, keys: list[str]) -> list[float]:
        return await self._call(lambda s: s.held_totals(keys))

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
