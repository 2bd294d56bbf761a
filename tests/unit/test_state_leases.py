"""Holds are leases of the replica that took them, against a real Redis: a replica whose
liveness key is gone stops counting (and its fields are cleaned), one whose lease expired
while it lived writes its holds back on its next heartbeat, and one that lives keeps them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from proxy.state.gate import Gate
from proxy.state.redis import RedisState, make_client
from proxy.state.shared import SharedState
from tests.fakes.redis_server import SHARED_REDIS, shared_redis_problem, unique_prefix
from tests.unit.test_state_redis import settings_for, until


@pytest.fixture
async def replicas() -> AsyncIterator[Callable[..., Any]]:
    """``await replicas(n, lease_ttl=…)``: n stores on one prefix, each with a live lease."""
    problem = shared_redis_problem()
    if problem:
        pytest.skip(problem)
    prefix = unique_prefix()
    made: list[RedisState] = []

    async def make(n: int = 1, lease_ttl: float = 30.0) -> list[RedisState]:
        stores = []
        for _ in range(n):
            store = RedisState(make_client(settings_for(SHARED_REDIS)), prefix, lease_ttl=lease_ttl)
            await store.rejoin({})
            stores.append(store)
        made.extend(stores)
        return stores

    yield make
    if made:
        keys = [k async for k in made[0].client.scan_iter(match=prefix + "*")]
        if keys:
            await made[0].client.delete(*keys)
    for store in made:
        await store.aclose()


async def test_holds_of_a_replica_whose_lease_is_gone_are_not_counted_and_are_cleaned(
    replicas: Callable[..., Any],
) -> None:
    a, b = await replicas(2)
    assert await a.hold("inflight:d", 1, 2) is None
    assert await a.hold("inflight:d", 1, 2) is None
    assert await a.hold("budget:k", 0.6, 1.0) is None
    assert await b.hold("inflight:d", 1, 2) == 2  # a's two slots fill the deployment
    assert await b.hold("budget:k", 0.1, 1.0) is None
    assert await b.held_totals(["inflight:d", "budget:k"]) == [2, pytest.approx(0.7)]

    await a.client.delete(a.alive_key(a.replica))  # what kill -9 amounts to, one TTL later
    assert await b.held_totals(["inflight:d"]) == [0]
    assert await b.hold("inflight:d", 1, 2) is None
    assert await b.hold("budget:k", 0.8, 1.0) is None  # 0.1 (b's own) + 0.8
    for key in ("inflight:d", "budget:k"):
        fields = await b.client.hgetall(b.held_key(key))
        assert list(fields) == [b.replica]  # a's fields were deleted, b's kept


async def test_a_lease_that_is_not_renewed_expires_by_itself(
    replicas: Callable[..., Any],
) -> None:
    (gone,) = await replicas(1, lease_ttl=0.2)  # no heartbeat: as if killed right now
    (other,) = await replicas(1)
    assert await gone.hold("inflight:d", 1, 1) is None
    assert await other.hold("inflight:d", 1, 1) == 1

    async def room() -> bool:
        return await other.hold("inflight:d", 1, 1) is None

    await until(room, timeout=10)  # gone's alive key expires 0.2 s after it was written
    assert await other.held_totals(["inflight:d"]) == [1]


async def test_renew_extends_the_lease_and_the_holds_and_notices_an_expired_one(
    replicas: Callable[..., Any],
) -> None:
    (a,) = await replicas(1, lease_ttl=20.0)
    await a.hold("inflight:d", 1)
    await a.client.pexpire(a.held_key("inflight:d"), 1000)
    await a.client.pexpire(a.alive_key(a.replica), 1000)
    assert await a.renew(["inflight:d"]) is True
    assert await a.client.pttl(a.alive_key(a.replica)) > 1000
    assert await a.client.pttl(a.held_key("inflight:d")) > 1000
    await a.client.delete(a.alive_key(a.replica))
    assert await a.renew(["inflight:d"]) is False  # and nothing was revived
    assert await a.client.exists(a.alive_key(a.replica)) == 0


async def test_a_replica_whose_lease_expired_writes_its_holds_back_on_the_next_heartbeat(
    replicas: Callable[..., Any],
) -> None:
    a, b = await replicas(2)
    state = SharedState(a, retry_interval=0.05)
    await state.start()  # the heartbeat loop runs every 10 s: this test beats by hand
    try:
        await state.hold("inflight:d", 1, 3)
        await state.hold("inflight:d", 1, 3)
        await state.hold("budget:k", 0.25, 1.0, floor=0.5)
        old = a.replica
        await a.client.delete(a.alive_key(old))  # a stall, a Redis restart: the lease lapsed
        assert await b.held_totals(["inflight:d", "budget:k"]) == [0, 0]  # and cleaned
        assert await b.hold("inflight:d", 1, 3) is None

        await state.heartbeat()
        assert a.replica != old and state.healthy
        assert await b.held_totals(["inflight:d", "budget:k"]) == [3, pytest.approx(0.25)]
        assert await b.hold("inflight:d", 1, 3) == 3  # a's two and b's one again
        for _ in range(2):
            await state.release("inflight:d", 1)
        await state.release("budget:k", 0.25, spent=0.2, floor=0.5)
        assert await b.held_totals(["inflight:d", "budget:k"]) == [1, 0]
        assert await b.get("settled:budget:k") == "0.7"
        assert state.held == {}
    finally:
        await state.aclose()


async def test_holds_of_a_live_replica_outlast_its_lease_ttl_and_end_when_it_leaves(
    replicas: Callable[..., Any],
) -> None:
    lease_ttl = 0.3
    a, b = await replicas(2, lease_ttl=lease_ttl)
    state = SharedState(a, retry_interval=0.05)
    await state.start()
    try:
        await state.hold("inflight:d", 1)
        loop = asyncio.get_running_loop()
        watch_until = loop.time() + 4 * lease_ttl  # the heartbeat renews it every 0.1 s
        while loop.time() < watch_until:
            assert await b.held_totals(["inflight:d"]) == [1]
            await asyncio.sleep(0.02)  # how often to look, not a wait for anything
    finally:
        await state.aclose()  # a clean stop ends the lease at once
    assert await b.held_totals(["inflight:d"]) == [0]


async def test_the_gate_lets_operations_run_together_or_one_step_alone() -> None:
    gate = Gate()
    entered = asyncio.Event()
    finish = asyncio.Event()
    order: list[str] = []

    async def operation(name: str) -> None:
        async with gate.shared():
            order.append(f"{name} in")
            entered.set()
            await finish.wait()
            order.append(f"{name} out")

    async def exclusive() -> None:
        async with gate.exclusive():
            order.append("exclusive")

    first = asyncio.create_task(operation("first"))
    await entered.wait()
    alone = asyncio.create_task(exclusive())
    await asyncio.sleep(0)  # one turn of the loop: the exclusive step closes the gate
    late = asyncio.create_task(operation("late"))
    await asyncio.sleep(0)  # one turn: the late operation finds it closed
    assert order == ["first in"]  # the exclusive step waits, the late operation too
    finish.set()
    await asyncio.gather(first, alone, late)
    assert order == ["first in", "first out", "exclusive", "late in", "late out"]
