"""Load balancing: weights, least-busy, latency with exploration, usage with limits,
max_parallel_requests. Seeded randomness and a manual clock throughout."""

from __future__ import annotations

import asyncio

import pytest

from proxy.context import RequestContext
from proxy.routing.errors import GroupAtCapacityError
from proxy.routing.strategies import weights
from tests.unit.routing.helpers import Script, counts, ctx, make_config, make_router


async def test_weights_three_to_one_over_hundreds_of_picks() -> None:
    router, _ = make_router({"g": [{"weight": 3}, {"weight": 1}]}, seed=11)
    script = Script()
    for _ in range(400):
        await router.execute(ctx(), "g", script)
    share = counts(script.calls)["g-0"] / 400
    assert 0.68 <= share <= 0.82, share  # 0.75 expected; ±3.5 standard deviations


async def test_rpm_weights_when_no_weight_given() -> None:
    router, _ = make_router({"g": [{"rpm": 900}, {"rpm": 100}]}, seed=3)
    script = Script()
    for _ in range(300):
        await router.execute(ctx(), "g", script)
    assert counts(script.calls)["g-0"] / 300 > 0.8


def test_weight_sources() -> None:
    cfg = make_config({"a": [{"weight": 2}, {}], "b": [{"rpm": 10}, {}], "c": [{}, {}]})
    groups = cfg.groups()
    assert weights(groups["a"]) == [2, 1]
    assert weights(groups["b"]) == [10, 10]  # a missing rpm counts as the mean of the others
    assert weights(groups["c"]) == [1, 1]


async def test_zero_weight_only_when_nothing_else_is_left() -> None:
    router, _ = make_router({"g": [{"weight": 0}, {"weight": 1}]}, seed=5)
    script = Script()
    for _ in range(50):
        await router.execute(ctx(), "g", script)
    assert set(script.calls) == {"g-1"}


async def test_least_busy_picks_fewest_in_flight() -> None:
    router, _ = make_router({"g": [{}, {}, {}]}, routing_strategy="least-busy")
    release = asyncio.Event()

    async def hold(deployment: object) -> dict[str, object]:
        await release.wait()
        return {"data": []}

    held = Script(default=hold)
    tasks = [asyncio.create_task(router.execute(ctx(), "g", held)) for _ in range(2)]
    while len(held.calls) < 2:
        await asyncio.sleep(0)
    assert len(set(held.calls)) == 2  # the second call avoided the busy deployment
    (idle,) = {"g-0", "g-1", "g-2"} - set(held.calls)
    script = Script()
    for _ in range(5):
        await router.execute(ctx(), "g", script)
    assert script.calls == [idle] * 5
    release.set()
    await asyncio.gather(*tasks)
    assert await router.stats.in_flight(list(router.groups["g"])) == [0, 0, 0]


async def test_latency_is_recorded_only_when_routing_reads_it() -> None:
    for strategy, kept in (("simple-shuffle", False), ("latency-based-routing", True)):
        router, _ = make_router({"g": [{}, {}]}, routing_strategy=strategy)
        for _ in range(4):
            await router.execute(ctx(), "g", Script())
        latencies = await router.stats.latencies(list(router.groups["g"]))
        assert any(lat is not None for lat in latencies) is kept, strategy


async def test_latency_based_prefers_fastest_and_explores() -> None:
    router, _ = make_router(
        {"g": [{}, {}]},
        routing_strategy="latency-based-routing",
        routing_strategy_args={"exploration_rate": 0.1},
        seed=2,
    )
    fast, slow = router.groups["g"]
    await router.stats.record_latency(fast, 1.0)
    await router.stats.record_latency(slow, 9.0)
    script = Script()
    for _ in range(400):
        await router.execute(ctx(), "g", script)
    slow_share = counts(script.calls).get("g-1", 0) / 400
    assert 0.01 < slow_share < 0.12  # about half the 10 % exploration share


async def test_latency_based_recovered_deployment_wins_back_traffic() -> None:
    router, clock = make_router(
        {"g": [{}, {}]},
        routing_strategy="latency-based-routing",
        routing_strategy_args={"exploration_rate": 0.2, "latency_smoothing": 0.5},
        seed=4,
    )
    a, b = router.groups["g"]
    await router.stats.record_latency(a, 2.0)
    await router.stats.record_latency(b, 30.0)  # b was slow once

    async def timed(deployment: object) -> dict[str, object]:
        clock.advance(2.0 if deployment is a else 0.5)  # b has recovered: now fastest
        return {"data": []}

    script = Script({"g-0": [timed], "g-1": [timed]})
    for _ in range(150):
        await router.execute(ctx(), "g", script)
    assert counts(script.calls[:20]).get("g-1", 0) <= 6  # slow at first: explored only
    assert counts(script.calls[-20:]).get("g-1", 0) >= 15  # recovered: takes the traffic


async def test_latency_without_exploration_never_tries_the_slow_one() -> None:
    router, _ = make_router(
        {"g": [{}, {}]},
        routing_strategy="latency-based-routing",
        routing_strategy_args={"exploration_rate": 0},
    )
    fast, slow = router.groups["g"]
    await router.stats.record_latency(fast, 1.0)
    await router.stats.record_latency(slow, 1.5)
    script = Script()
    for _ in range(50):
        await router.execute(ctx(), "g", script)
    assert set(script.calls) == {"g-0"}


async def test_usage_based_respects_rpm_and_answers_429_with_retry_after() -> None:
    router, clock = make_router(
        {"g": [{"rpm": 2}, {"rpm": 1}]}, routing_strategy="usage-based-routing"
    )
    script = Script()
    for _ in range(3):
        await router.execute(ctx(), "g", script)
        clock.advance(1)
    assert counts(script.calls) == {"g-0": 2, "g-1": 1}
    with pytest.raises(GroupAtCapacityError) as info:
        await router.execute(ctx(), "g", script)
    err = info.value
    assert err.status == 429
    assert err.headers["retry-after"] == "57"  # g-0's first request leaves the minute in 57 s
    assert "rpm=" in err.message and "'g'" in err.message
    assert len(script.calls) == 3
    clock.advance(57)
    await router.execute(ctx(), "g", script)
    assert len(script.calls) == 4


async def test_usage_based_tpm_skips_a_deployment_that_used_its_tokens() -> None:
    router, _ = make_router(
        {"g": [{"tpm": 100}, {"tpm": 100000}]}, routing_strategy="usage-based-routing", seed=1
    )

    for _ in range(20):
        c = ctx()

        async def attempt(deployment: object, c: RequestContext = c) -> dict[str, object]:
            c.usage = {"total_tokens": 150}
            return {"data": []}

        await router.execute(c, "g", attempt)
    tokens = await router.stats.tokens_this_minute(list(router.groups["g"]))
    assert tokens[0] <= 150  # g-0 took at most one request before it was at its tpm


async def test_max_parallel_requests_caps_in_flight_calls() -> None:
    router, _ = make_router({"g": [{"max_parallel_requests": 1}, {"max_parallel_requests": 1}]})
    release = asyncio.Event()

    async def hold(deployment: object) -> dict[str, object]:
        await release.wait()
        return {"data": []}

    script = Script({"g-0": [hold], "g-1": [hold]})
    tasks = [asyncio.create_task(router.execute(ctx(), "g", script)) for _ in range(2)]
    while len(script.calls) < 2:
        await asyncio.sleep(0)
    assert sorted(script.calls) == ["g-0", "g-1"]  # the second call went to the free one
    with pytest.raises(GroupAtCapacityError) as info:
        await router.execute(ctx(), "g", script)
    assert "max_parallel_requests=1" in info.value.message
    assert info.value.headers["retry-after"] == "1"
    release.set()
    await asyncio.gather(*tasks)
    await router.execute(ctx(), "g", Script())  # slots were released


async def test_default_max_parallel_requests_applies_when_not_set_per_deployment() -> None:
    router, _ = make_router({"g": [{}]}, default_max_parallel_requests=1)
    release = asyncio.Event()

    async def hold(deployment: object) -> dict[str, object]:
        await release.wait()
        return {"data": []}

    task = asyncio.create_task(router.execute(ctx(), "g", Script({"g-0": [hold]})))
    while not (await router.stats.in_flight(list(router.groups["g"])))[0]:
        await asyncio.sleep(0)
    with pytest.raises(GroupAtCapacityError):
        await router.execute(ctx(), "g", Script())
    release.set()
    await task
