"""Virtual keys across replicas without processes: two key services over one database, one
shared state store, and an in-process event bus standing in for Redis pub/sub."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from proxy.context import RequestContext
from proxy.db.database import Store
from proxy.db.writer import SpendWriter
from proxy.errors import RateLimitError
from proxy.keys.accounting import Hold, budget_holds
from proxy.keys.budget import BudgetExceededError
from proxy.keys.records import KeyFields
from proxy.keys.replicas import ReplicaKeys
from proxy.keys.service import KeyService
from proxy.state.memory import MemoryState


class Bus:
    """Delivers what one replica publishes to every other replica's handlers."""

    def __init__(self) -> None:
        self.members: list[FakeEvents] = []


class FakeEvents:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.handlers: dict[str, list[Any]] = {}
        self.on_resync: list[Any] = []
        bus.members.append(self)

    def subscribe(self, topic: str, handler: Any) -> None:
        self.handlers.setdefault(topic, []).append(handler)

    async def publish(self, topic: str, **fields: Any) -> bool:
        for member in self.bus.members:
            if member is not self:
                for handler in member.handlers.get(topic, ()):
                    await handler({**fields, "topic": topic})
        return True


@pytest.fixture
async def two_replicas(tmp_path: Path) -> AsyncIterator[list[ReplicaKeys]]:
    store = Store(f"sqlite:///{tmp_path / 'keys.sqlite3'}")
    await store.migrate()
    shared = MemoryState()
    bus = Bus()
    replicas = []
    for _ in range(2):
        keys = KeyService(store, SpendWriter(store), known_models=["m"], ttl=600)
        # An in-memory Events double
        replicas.append(ReplicaKeys(shared, FakeEvents(bus), keys))  # type: ignore[arg-type]
    yield replicas
    await store.aclose()


async def request(replica: ReplicaKeys, key: str, estimate: float) -> RequestContext:
    """What Accounting.before does locally, then the shared check."""
    info = await replica.keys.lookup(key)
    assert info is not None
    state = replica.keys.state(info.key_hash)
    assert state is not None
    ctx = RequestContext("images")
    ctx.key = info
    state.budget.admit(estimate, now=0)  # the local check admits: it sees only this replica
    ctx.budget_holds = [Hold(state.budget, estimate, state.budget.period, is_key=True)]
    try:
        await replica.before(ctx, None)
    except Exception:
        await finish(replica, ctx)
        raise
    return ctx


async def finish(replica: ReplicaKeys, ctx: RequestContext) -> None:
    """What Accounting.after does locally (settle), then the shared settlement."""
    for hold in budget_holds(ctx):
        hold.budget.settle(hold.estimate, ctx.cost, hold.period)
    await replica.after(ctx)


async def test_a_budget_is_shared_by_replicas_whose_own_views_would_each_admit(
    two_replicas: list[ReplicaKeys],
) -> None:
    a, b = two_replicas
    key, _ = await a.keys.generate(KeyFields(max_budget=0.1))
    admitted: list[RequestContext] = []
    refused = 0
    for i in range(6):  # three to each replica, each estimated at 0.04
        try:
            admitted.append(await request(two_replicas[i % 2], key, 0.04))
        except BudgetExceededError as exc:
            refused += 1
            assert "across all replicas" in exc.message
    assert len(admitted) == 3 and refused == 3  # 0, 0.04, 0.08 < 0.1: the fourth is over
    for i, ctx in enumerate(admitted):
        ctx.cost = 0.01  # cheaper than estimated: the reservations give the rest back
        await finish(two_replicas[i % 2], ctx)
    assert await request(b, key, 0.04) is not None  # 0.03 spent: room again


async def test_rpm_limit_is_counted_once_across_replicas(
    two_replicas: list[ReplicaKeys],
) -> None:
    a, b = two_replicas
    key, _ = await a.keys.generate(KeyFields(rpm_limit=3))
    await request(a, key, 0.0)
    await request(b, key, 0.0)
    await request(a, key, 0.0)
    with pytest.raises(RateLimitError) as exc:
        await request(b, key, 0.0)
    assert exc.value.headers["retry-after"] and "rpm_limit 3" in exc.value.message


async def test_key_changes_reach_the_other_replica(two_replicas: list[ReplicaKeys]) -> None:
    a, b = two_replicas
    key, state = await a.keys.generate(KeyFields(models=["m"]))
    info = await b.keys.lookup(key)
    assert info is not None and info.models == ("m",)  # b holds it now (ttl 600 s)
    await a.keys.update(state.key_hash, KeyFields(models=[]))
    cached = b.keys.state(state.key_hash)
    assert cached is not None and cached.info().models == ()
    await a.keys.delete([state.key_hash])
    assert b.keys.state(state.key_hash) is None
    assert await b.keys.lookup(key) is None
