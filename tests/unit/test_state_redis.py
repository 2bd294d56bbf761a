"""The Redis state store against a real Redis, the fallback to memory, and replica events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from proxy.configure import parse_config
from proxy.state.events import Events
from proxy.state.redis import RedisState, make_client
from proxy.state.settings import RedisSettings, redis_settings
from proxy.state.shared import SharedState
from tests.fakes.redis_server import (
    SHARED_REDIS,
    RedisServer,
    redis_server_problem,
    shared_redis_problem,
    unique_prefix,
)
from tests.fakes.server import free_port


def settings_for(url: str, **kw: Any) -> RedisSettings:
    return RedisSettings(
        url=url,
        key_prefix=kw.get("prefix", unique_prefix()),
        socket_timeout=0.5,
        connect_timeout=0.5,
        retry_interval=kw.get("retry_interval", 0.05),
    )


async def until(check: Callable[[], Awaitable[bool] | bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.01)


@pytest.fixture
async def redis_state() -> AsyncIterator[RedisState]:
    problem = shared_redis_problem()
    if problem:
        pytest.skip(problem)
    s = settings_for(SHARED_REDIS)
    state = RedisState(make_client(s), s.key_prefix)
    await state.rejoin({})  # a live lease, as SharedState.start takes
    yield state
    keys = [k async for k in state.client.scan_iter(match=s.key_prefix + "*")]
    if keys:
        await state.client.delete(*keys)
    await state.aclose()


@pytest.fixture
def own_redis() -> Any:
    problem = redis_server_problem()
    if problem:
        pytest.skip(problem)
    server = RedisServer().start()
    yield server
    server.stop()


# --- settings -----------------------------------------------------------------------------


def test_settings_from_host_port_strings_and_password() -> None:
    cfg = parse_config(
        {
            "model_list": [],
            "router_settings": {
                "redis_host": "cache.internal",
                "redis_port": "6380",  # from os.environ/…: a string
                "redis_password": "p@ss/word",
            },
        },
        env={},
    )
    s = redis_settings(cfg.router)
    assert s is not None
    assert s.url == "redis://:p%40ss%2Fword@cache.internal:6380/0"
    assert s.describe() == "redis://cache.internal:6380/0"
    assert s.key_prefix == "imgproxy:"


def test_settings_url_wins_and_unset_means_memory() -> None:
    url = "rediss://:secret@r.example:6390/2"
    cfg = parse_config(
        {"model_list": [], "router_settings": {"redis_url": url, "redis_host": "x"}}, env={}
    )
    s = redis_settings(cfg.router)
    assert s is not None and s.url == url and "secret" not in s.describe()
    assert redis_settings(parse_config({"model_list": []}, env={}).router) is None
    empty = parse_config({"model_list": [], "router_settings": {"redis_host": ""}}, env={})
    assert redis_settings(empty.router) is None


# --- the Redis store ----------------------------------------------------------------------


async def test_values_and_expiry(redis_state: RedisState) -> None:
    await redis_state.set_with_ttl("a", "x", 5)
    await redis_state.set_with_ttl("c", "0", 30)
    ttl_ms = await redis_state.client.pttl(redis_state.k("c"))
    assert 0 < ttl_ms <= 30_000
    assert await redis_state.get_many(["a", "c", "missing"]) == ["x", "0", None]
    await redis_state.delete("a")
    assert await redis_state.get("a") is None
    assert await redis_state.get_many([]) == []


async def test_windows(redis_state: RedisState) -> None:
    await redis_state.window_add("w", 2, 60)
    await redis_state.window_add("w", 3, 60)
    assert await redis_state.window_total("w", 60) == 5
    assert await redis_state.window_reserve("r", 1, 2, 60) is None
    assert await redis_state.window_reserve("r", 1, 2, 60) is None
    wait = await redis_state.window_reserve("r", 1, 2, 60)
    assert wait is not None and 0 < wait <= 60
    assert await redis_state.window_total("r", 60) == 2


async def test_holds_settled_spend_floor_and_limit(redis_state: RedisState) -> None:
    # budget 1.0: spend in the database 0.7 (the floor), each request holds 0.2
    assert await redis_state.hold("b", 0.2, 1.0, floor=0.7) is None  # 0.7 + 0.2
    assert await redis_state.hold("b", 0.2, 1.0, floor=0.7) is None  # 0.7 + 0.4
    assert await redis_state.hold("b", 0.2, 1.0, floor=0.7) == pytest.approx(1.1)
    await redis_state.release("b", 0.2, spent=0.05, floor=0.7)  # settles at 0.05: 0.75 + 0.2
    assert await redis_state.get("settled:b") == "0.75"
    assert await redis_state.held_totals(["b", "none"]) == [pytest.approx(0.2), 0]
    assert await redis_state.hold("b", 0.05, 1.0) is None  # 0.75 + 0.25
    assert await redis_state.hold("b", 0.05, 1.0) == pytest.approx(1.0)  # at the limit
    await redis_state.release("b", 0.2)
    await redis_state.release("b", 0.05)
    assert await redis_state.client.exists(redis_state.held_key("b")) == 0  # nothing left
    assert await redis_state.held_totals([]) == []


async def test_slots_without_a_limit_and_releases_never_below_zero(
    redis_state: RedisState,
) -> None:
    assert await redis_state.hold("inflight:d", 1) is None
    assert await redis_state.hold("inflight:d", 1) is None
    assert await redis_state.held_totals(["inflight:d"]) == [2]
    for _ in range(3):  # one more than held
        await redis_state.release("inflight:d", 1)
    assert await redis_state.held_totals(["inflight:d"]) == [0]
    assert await redis_state.hold("inflight:d", 1, 1) is None
    assert await redis_state.held_totals(["inflight:d"]) == [1]
    assert await redis_state.get("settled:inflight:d") is None  # slots settle nothing


async def test_concurrent_reservations_from_many_clients_never_overshoot(
    redis_state: RedisState,
) -> None:
    others = [
        RedisState(make_client(settings_for(SHARED_REDIS)), redis_state.prefix) for _ in range(3)
    ]
    for other in others:
        await other.rejoin({})
    stores = [redis_state, *others]
    try:
        results = await asyncio.gather(
            *(stores[i % 4].window_reserve("rpm", 1, 30, 60) for i in range(80))
        )
        assert sum(r is None for r in results) == 30
        budgets = await asyncio.gather(*(stores[i % 4].hold("budget", 0.1, 1.0) for i in range(40)))
        assert sum(b is None for b in budgets) == 10
        slots = await asyncio.gather(*(stores[i % 4].hold("slots", 1, 6) for i in range(40)))
        assert sum(b is None for b in slots) == 6
        assert await redis_state.held_totals(["budget", "slots"]) == [pytest.approx(1.0), 6]
    finally:
        for s in others:
            await s.aclose()


# --- the fallback -------------------------------------------------------------------------


async def test_unreachable_redis_falls_back_to_memory_without_failing() -> None:
    s = settings_for(f"redis://127.0.0.1:{free_port()}/0", retry_interval=30)
    state = SharedState(RedisState(make_client(s), s.key_prefix), retry_interval=30)
    await state.start()
    try:
        assert not state.healthy
        assert await state.hold("inflight:d", 1, 1) is None
        assert await state.hold("inflight:d", 1, 1) == 1
        assert await state.window_reserve("rpm", 1, 1, 60) is None
        assert await state.window_reserve("rpm", 1, 1, 60) is not None
        assert await state.hold("b", 1, 1) is None
        assert await state.held_totals(["inflight:d", "b"]) == [1, 1]
        await state.release("inflight:d", 1)
        await state.release("b", 1, spent=0.5)
        assert await state.held_totals(["inflight:d", "b"]) == [0, 0]
        assert state.held == {} and state.held_locally == {}
        assert state.owed == {"b": (0.5, 0.0)}  # real spend: added to Redis once it answers
    finally:
        await state.aclose()


async def test_holds_released_during_an_outage_are_right_when_redis_returns(
    own_redis: Any,
) -> None:
    s = settings_for(own_redis.url)
    state = SharedState(RedisState(make_client(s), s.key_prefix), retry_interval=0.05)
    await state.start()
    try:
        assert state.healthy
        await state.hold("inflight:d", 1)
        await state.hold("inflight:d", 1)
        await state.hold("b", 0.2, 1.0, floor=0.1)
        own_redis.stop()
        await state.release("inflight:d", 1)  # served, no error
        assert not state.healthy
        await state.release("b", 0.2, spent=0.05, floor=0.1)
        assert state.held == {"inflight:d": 1.0} and state.owed == {"b": (0.05, 0.1)}
        # a slot taken in memory during the outage is released in memory, not in Redis
        await state.hold("inflight:d", 1)
        await state.release("inflight:d", 1)
        assert state.held == {"inflight:d": 1.0} and state.held_locally == {}
        own_redis.start()  # same port, empty (no persistence): holds are written back
        await until(lambda: state.healthy)
        assert state.owed == {}
        assert await state.redis.held_totals(["inflight:d", "b"]) == [1, 0]
        assert await state.redis.get("settled:b") == "0.15"  # the floor, plus the spend
    finally:
        await state.aclose()


async def test_a_release_missed_during_an_outage_is_not_counted_after_it(
    redis_state: RedisState,
) -> None:
    state = SharedState(redis_state, retry_interval=0.05)
    await state.start()
    await state.hold("inflight:x", 1)
    await state.hold("inflight:x", 1)
    old = redis_state.replica
    state.breaker.trip(ConnectionError("simulated"))
    await state.release("inflight:x", 1)  # not sent: Redis is "down"
    await until(lambda: state.healthy)
    assert await redis_state.held_totals(["inflight:x"]) == [1]
    assert state.held == {"inflight:x": 1.0}
    held = await redis_state.client.hgetall(redis_state.held_key("inflight:x"))
    assert held == {redis_state.replica: "1.0"} and redis_state.replica != old  # a new lease
    for task in state._tasks:
        task.cancel()


# --- replica events -----------------------------------------------------------------------


async def test_events_reach_other_replicas_not_the_sender() -> None:
    problem = shared_redis_problem()
    if problem:
        pytest.skip(problem)
    s = settings_for(SHARED_REDIS)
    channel = s.key_prefix + "events"
    a = Events(make_client(s), channel, retry_interval=0.05)
    b = Events(make_client(s), channel, retry_interval=0.05)
    got_a: list[dict[str, Any]] = []
    got_b: list[dict[str, Any]] = []

    async def on_a(event: dict[str, Any]) -> None:
        got_a.append(event)

    async def on_b(event: dict[str, Any]) -> None:
        got_b.append(event)

    a.subscribe("key", on_a)
    b.subscribe("key", on_b)
    a.start()
    b.start()
    try:
        await until(lambda: a.connected.is_set() and b.connected.is_set())
        assert await a.publish("key", key_hash="h1", op="deleted")
        await until(lambda: len(got_b) == 1)
        assert got_b[0]["key_hash"] == "h1" and got_b[0]["op"] == "deleted"
        assert await b.publish("other-topic", x=1)
        assert await b.publish("key", key_hash="h2", op="changed")
        await until(lambda: len(got_a) == 1)
        assert got_a[0]["key_hash"] == "h2" and got_b == got_b[:1]
    finally:
        for e in (a, b):
            await e.aclose()
            await e.client.aclose()


async def test_events_resync_after_a_lost_connection(own_redis: Any) -> None:
    s = settings_for(own_redis.url)
    events = Events(make_client(s), "events", retry_interval=0.05)
    resyncs: list[int] = []

    async def resync() -> None:
        resyncs.append(1)

    events.on_resync.append(resync)
    events.start()
    try:
        await until(events.connected.is_set)
        assert resyncs == []
        own_redis.stop()
        await until(lambda: not events.connected.is_set())
        assert not await events.publish("key", key_hash="h")  # logged and dropped, no raise
        own_redis.start()
        await until(lambda: resyncs == [1])
    finally:
        await events.aclose()
        await events.client.aclose()
