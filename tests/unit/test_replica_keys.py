"""Virtual keys across replicas without processes: two key services over one database, one
shared state store (memory, or two Redis stores on one prefix for the leases), and an
in-process event bus standing in for Redis pub/sub."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from proxy.auth import hash_key
from proxy.context import RequestContext
from proxy.db.database import Store
from proxy.db.writer import SpendWriter
from proxy.errors import RateLimitError
from proxy.keys.accounting import Hold, ParallelLimitError, budget_holds
from proxy.keys.budget import Budget, BudgetExceededError
from proxy.keys.proxy_budget import proxy_budget
from proxy.keys.records import KeyFields
from proxy.keys.replicas import ReplicaKeys
from proxy.keys.service import KeyService
from proxy.state.base import StateStore
from proxy.state.memory import MemoryState
from proxy.state.redis import RedisState, make_client
from proxy.state.shared import SharedState
from tests.fakes.redis_server import SHARED_REDIS, shared_redis_problem, unique_prefix
from tests.fakes.server import free_port
from tests.unit.test_state_redis import settings_for


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


async def replicas_over(tmp_path: Path, states: list[StateStore]) -> list[ReplicaKeys]:
    store = Store(f"sqlite:///{tmp_path / 'keys.sqlite3'}")
    await store.migrate()
    bus = Bus()
    replicas = []
    for state in states:
        keys = KeyService(store, SpendWriter(store), known_models=["m"], ttl=600)
        # An in-memory Events double
        replicas.append(ReplicaKeys(state, FakeEvents(bus), keys))  # type: ignore[arg-type]
    return replicas


@pytest.fixture
async def two_replicas(tmp_path: Path) -> AsyncIterator[list[ReplicaKeys]]:
    shared = MemoryState()
    replicas = await replicas_over(tmp_path, [shared, shared])
    yield replicas
    await replicas[0].keys.store.aclose()


@pytest.fixture
async def two_redis_replicas(tmp_path: Path) -> AsyncIterator[list[ReplicaKeys]]:
    """Two replicas, each with its own Redis store (its own lease) on one prefix."""
    problem = shared_redis_problem()
    if problem:
        pytest.skip(problem)
    prefix = unique_prefix()
    states = [RedisState(make_client(settings_for(SHARED_REDIS)), prefix) for _ in range(2)]
    for state in states:
        await state.rejoin({})
    replicas = await replicas_over(tmp_path, list(states))
    yield replicas
    client = states[0].client
    keys = [k async for k in client.scan_iter(match=prefix + "*")]
    if keys:
        await client.delete(*keys)
    for state in states:
        await state.aclose()
    await replicas[0].keys.store.aclose()


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
    return await shared_check(replica, ctx)


async def proxy_wide(replica: ReplicaKeys, budget: Budget, estimate: float) -> RequestContext:
    """A master-key request under the proxy-wide budget: the local check, then the shared."""
    ctx = RequestContext("images")
    budget.admit(estimate, now=0)
    ctx.budget_holds = [Hold(budget, estimate, budget.period, is_proxy=True)]
    return await shared_check(replica, ctx)


async def shared_check(replica: ReplicaKeys, ctx: RequestContext) -> RequestContext:
    """The shared hook; a refused request is finished, as the pipeline finishes it."""
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


async def test_tpm_limit_counts_every_replicas_tokens(two_replicas: list[ReplicaKeys]) -> None:
    await tpm_across(two_replicas)


async def test_tpm_limit_counts_every_replicas_tokens_on_redis(
    two_redis_replicas: list[ReplicaKeys],
) -> None:
    await tpm_across(two_redis_replicas)


async def tpm_across(replicas: list[ReplicaKeys]) -> None:
    """LiteLLM's per-pod fallback (limit x pods) is what this avoids: a key's tokens of the
    last minute are one count on the shared store, whichever replica answered."""
    a, b = replicas
    key, _ = await a.keys.generate(KeyFields(tpm_limit=100))
    usage = {"prompt_tokens": 20, "completion_tokens": 40, "total_tokens": 60}
    first = await request(a, key, 0.0)
    first.usage = usage
    await finish(a, first)  # 60 tokens counted, on replica a
    second = await request(b, key, 0.0)  # b has counted none itself: 60 < 100, admitted
    second.usage = usage
    await finish(b, second)  # 120 across both
    for replica in (a, b):
        with pytest.raises(RateLimitError) as exc:
            await request(replica, key, 0.0)
        assert "tpm_limit 100" in exc.value.message and "all replicas" in exc.value.message
        assert 1 <= int(exc.value.headers["retry-after"]) <= 60


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


async def test_max_parallel_requests_counts_the_key_in_flight_on_every_replica(
    two_replicas: list[ReplicaKeys],
) -> None:
    a, b = two_replicas
    key, _ = await a.keys.generate(KeyFields(max_parallel_requests=2))
    first = await request(a, key, 0.0)
    second = await request(b, key, 0.0)  # each replica alone sees one in flight
    for replica in (a, b):
        with pytest.raises(ParallelLimitError) as exc:
            await request(replica, key, 0.0)
        assert exc.value.headers["retry-after"] == "1"
        assert "max_parallel_requests 2" in exc.value.message
        assert "across all replicas" in exc.value.message
    await finish(a, first)  # a refusal gave nothing back it did not hold: one slot is free
    third = await request(b, key, 0.0)
    with pytest.raises(ParallelLimitError):
        await request(a, key, 0.0)
    for ctx in (second, third):
        await finish(b, ctx)
    assert await a.state.held_totals([f"parallel:key:{hash_key(key)}"]) == [0]


async def test_an_in_flight_slot_of_a_replica_whose_lease_ended_stops_counting(
    two_redis_replicas: list[ReplicaKeys],
) -> None:
    a, b = two_redis_replicas
    key, _ = await a.keys.generate(KeyFields(max_parallel_requests=1))
    await request(a, key, 0.0)  # never finished: a dies holding the slot
    with pytest.raises(ParallelLimitError):
        await request(b, key, 0.0)
    doomed = a.state
    assert isinstance(doomed, RedisState)
    await doomed.client.delete(doomed.alive_key(doomed.replica))  # kill -9, one lease later
    ctx = await request(b, key, 0.0)
    await finish(b, ctx)


async def test_the_proxy_wide_budget_is_one_budget_across_replicas(
    two_redis_replicas: list[ReplicaKeys],
) -> None:
    a, b = two_redis_replicas
    views = [proxy_budget({"max_budget": 0.1}, now=0) for _ in range(2)]
    assert views[0] is not None and views[1] is not None
    on_a, on_b = views[0], views[1]
    spent = [await proxy_wide(a, on_a, 0.04), await proxy_wide(a, on_a, 0.04)]
    for ctx in spent:
        ctx.cost = 0.05  # dearer than estimated
        await finish(a, ctx)
    assert on_b.spend == 0  # b's own view would admit
    with pytest.raises(BudgetExceededError) as exc:
        await proxy_wide(b, on_b, 0.04)
    assert "the proxy (litellm_settings.max_budget)" in exc.value.message
    assert "across all replicas $0.100000" in exc.value.message
    assert on_b.in_flight == 0 and on_b.reserved == 0  # the local hold was settled too


async def test_the_proxy_wide_spend_never_falls_below_what_the_replica_read(
    two_replicas: list[ReplicaKeys],
) -> None:
    a, _ = two_replicas
    budget = proxy_budget({"max_budget": 1.0, "budget_duration": "1d"}, now=0)
    assert budget is not None
    budget.stored = 0.7  # the window's spend in the spend log; the shared store has none
    ctx = await proxy_wide(a, budget, 0.2)  # 0.7 < 1.0: admitted, 0.9 committed
    budget.stored = 0.95  # the local check would still admit (0.95 + 0.2 reserved)...
    budget.reserved = 0.0
    with pytest.raises(BudgetExceededError):  # ...the shared total (0.95 + 0.2) does not
        await proxy_wide(a, budget, 0.01)
    await finish(a, ctx)


async def test_the_proxy_wide_and_end_user_budgets_are_counted_apart(
    two_replicas: list[ReplicaKeys],
) -> None:
    overall = proxy_budget({"max_budget": 10.0}, now=0)
    assert overall is not None
    user = Budget("end user 'u'", max_budget=0.05)

    async def of_end_user(replica: ReplicaKeys) -> RequestContext:
        ctx = RequestContext("images")
        ctx.end_user = "u"
        ctx.budget_holds = [Hold(user, 0.04, 0), Hold(overall, 0.04, 0, is_proxy=True)]
        await replica.before(ctx, None)
        ctx.cost = 0.04
        await replica.after(ctx)
        return ctx

    for replica in two_replicas:  # 0.04 of the end user's 0.05: the second still fits
        await of_end_user(replica)
    with pytest.raises(BudgetExceededError) as exc:
        await of_end_user(two_replicas[0])
    assert "end user 'u'" in exc.value.message and "$0.080000" in exc.value.message


async def test_with_redis_unreachable_the_slot_and_the_proxy_budget_are_held_in_memory(
    tmp_path: Path,
) -> None:
    s = settings_for(f"redis://127.0.0.1:{free_port()}/0", retry_interval=30)
    shared = SharedState(RedisState(make_client(s), s.key_prefix), retry_interval=30)
    await shared.start()
    (replica,) = await replicas_over(tmp_path, [shared])
    try:
        assert not shared.healthy  # the breaker is open: no request waits on Redis
        key, _ = await replica.keys.generate(KeyFields(max_parallel_requests=1))
        first = await request(replica, key, 0.0)
        with pytest.raises(ParallelLimitError):
            await request(replica, key, 0.0)
        await finish(replica, first)
        await finish(replica, await request(replica, key, 0.0))
        overall = proxy_budget({"max_budget": 0.05}, now=0)
        assert overall is not None
        spent = await proxy_wide(replica, overall, 0.04)
        spent.cost = 0.05
        await finish(replica, spent)
        overall.stored, overall.unflushed = 0.0, 0.0  # the local view forgot: memory did not
        with pytest.raises(BudgetExceededError):
            await proxy_wide(replica, overall, 0.04)
        assert shared.held == {} and shared.held_locally == {}
        assert shared.owed == {"budget:proxy:0": (0.05, 0.0)}  # added to Redis once it answers
    finally:
        await shared.aclose()
        await replica.keys.store.aclose()
