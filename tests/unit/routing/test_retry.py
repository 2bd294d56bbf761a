"""Retry rules: what is retried, where, after how long, and how many times."""

from __future__ import annotations

import random
from typing import Any

import pytest

from proxy.errors import (
    ContentPolicyError,
    ProviderAuthError,
    UpstreamBadRequestError,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamRateLimitError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from proxy.routing.retry import Backoff
from tests.unit.routing.helpers import Script, ctx, make_router


def test_backoff_grows_is_jittered_capped_and_honours_hints() -> None:
    b = Backoff(base=0.5, cap=8.0)
    rng = random.Random(1)
    delays = [b.delay(n, rng, None) for n in range(1, 8)]
    for n, d in enumerate(delays, start=1):
        full = min(8.0, 0.5 * 2 ** (n - 1))
        assert full / 2 <= d <= full
    assert delays[-1] <= 8.0
    assert b.delay(1, rng, 3.0) == 3.0  # Retry-After wins over a shorter backoff
    assert Backoff(0.5, 8.0, floor=2.0).delay(1, rng, None) == 2.0  # router retry_after
    assert Backoff(0.5, 8.0).delay(1, random.Random(9), None) == Backoff(0.5, 8.0).delay(
        1, random.Random(9), None
    )


async def test_first_deployment_fails_once_second_answers_without_waiting() -> None:
    router, clock = make_router({"g": [{}, {}]}, num_retries=2)
    failures = [UpstreamError("boom")]

    async def fail_once(deployment: object) -> dict[str, bool]:
        if failures:
            raise failures.pop()
        return {"ok": True}

    script = Script(default=fail_once)
    c = ctx()
    assert await router.execute(c, "g", script) == {"ok": True}
    assert len(script.calls) == 2 and script.calls[0] != script.calls[1]  # another deployment
    assert c.retries == 1 and c.deployment_id == script.calls[1]
    assert clock.sleeps == []  # switching deployment goes at once


@pytest.mark.parametrize(
    "error",
    [
        UpstreamError("500"),
        UpstreamUnavailableError("503"),
        UpstreamTimeoutError("slow"),
        UpstreamConnectionError("reset"),
        UpstreamRateLimitError("429"),
    ],
)
async def test_retryable_errors_are_retried_on_the_same_deployment_after_backoff(
    error: Exception,
) -> None:
    router, clock = make_router({"g": [{}]}, num_retries=1)
    script = Script({"g-0": [error, {"ok": True}]})
    c = ctx()
    assert await router.execute(c, "g", script) == {"ok": True}
    assert script.calls == ["g-0", "g-0"]
    assert len(clock.sleeps) == 1 and 0.25 <= clock.sleeps[0] <= 0.5
    assert c.retries == 1


@pytest.mark.parametrize(
    "error",
    [
        UpstreamBadRequestError("bad size"),
        ContentPolicyError("refused"),
    ],
)
async def test_final_errors_are_tried_exactly_once(error: Exception) -> None:
    router, clock = make_router({"g": [{}, {}]}, num_retries=3)
    script = Script(default=None)
    script.outcomes = {"g-0": [error], "g-1": [error]}
    with pytest.raises(type(error)):
        await router.execute(ctx(), "g", script)
    assert len(script.calls) == 1 and clock.sleeps == []


async def test_provider_auth_error_moves_to_another_deployment_never_the_same() -> None:
    router, _ = make_router({"g": [{}, {}]}, num_retries=3)
    script = Script({"g-0": [ProviderAuthError("401")], "g-1": [ProviderAuthError("401")]})
    with pytest.raises(ProviderAuthError) as info:
        await router.execute(ctx(), "g", script)
    assert sorted(script.calls) == ["g-0", "g-1"]  # each once, then nothing left
    assert "tried" in info.value.message and "g-0" in info.value.message


async def test_no_retries_without_failover() -> None:
    router, _ = make_router({"g": [{}, {}]})
    script = Script({"g-0": [UpstreamError("x")], "g-1": [UpstreamError("x")]})
    with pytest.raises(UpstreamError):
        await router.execute(ctx(), "g", script)
    assert len(script.calls) == 1


async def test_failover_by_default_tries_each_deployment_once_without_waiting() -> None:
    router, clock = make_router({"g": [{}, {}, {}]}, failover=True)
    tried: list[str] = []

    async def first_two_fail(deployment: Any) -> dict[str, int]:  # whichever order is drawn
        tried.append(deployment.id)
        if len(tried) < 3:
            raise UpstreamError("down")
        return {"ok": 1}

    script = Script(default=first_two_fail)
    c = ctx()
    assert await router.execute(c, "g", script) == {"ok": 1}
    assert sorted(script.calls) == ["g-0", "g-1", "g-2"]
    assert c.retries == 2
    assert clock.sleeps == []  # no backoff: each was a fresh deployment


async def test_failover_never_repeats_a_lone_deployment_or_a_final_error() -> None:
    router, _ = make_router({"g": [{}]}, failover=True)
    script = Script({"g-0": [UpstreamError("x"), {"ok": 1}]})
    with pytest.raises(UpstreamError):
        await router.execute(ctx(), "g", script)
    assert script.calls == ["g-0"]
    router, _ = make_router({"g": [{}, {}]}, failover=True)
    script = Script({"g-0": [UpstreamBadRequestError("bad")], "g-1": [{"ok": 1}]})
    with pytest.raises(UpstreamBadRequestError):
        await router.execute(ctx(), "g", script)
    assert len(script.calls) == 1


async def test_per_deployment_num_retries_overrides_the_router() -> None:
    router, _ = make_router({"g": [{"num_retries": 2}]}, num_retries=0)
    script = Script({"g-0": [UpstreamError("a"), UpstreamError("b"), {"ok": 1}]})
    assert await router.execute(ctx(), "g", script) == {"ok": 1}
    assert len(script.calls) == 3


async def test_retries_spent_error_says_what_was_tried() -> None:
    router, _ = make_router({"g": [{}, {}]}, num_retries=2)
    script = Script(
        {"g-0": [UpstreamError("upstream said boom")], "g-1": [UpstreamTimeoutError("slow")]}
    )
    c = ctx()
    with pytest.raises(UpstreamError) as info:
        await router.execute(c, "g", script)
    assert len(script.calls) == 3 and c.retries == 2
    message = info.value.message
    assert message.startswith(("upstream said boom", "slow"))
    assert "g/g-0: 502 upstream_error" in message and "g/g-1: 504 upstream_timeout" in message
    assert c.attempts is not None
    assert [a["deployment_id"] for a in c.attempts] == script.calls


async def test_retry_after_is_waited_for_on_the_only_deployment() -> None:
    router, clock = make_router({"g": [{}]}, num_retries=1)
    limited = UpstreamRateLimitError("429", retry_after=3.0)
    script = Script({"g-0": [limited, {"ok": True}]})
    assert await router.execute(ctx(), "g", script) == {"ok": True}
    assert clock.sleeps == [3.0]


async def test_retry_after_beyond_the_deadline_is_not_waited_for() -> None:
    router, clock = make_router({"g": [{}]}, num_retries=3, request_deadline=10)
    limited = UpstreamRateLimitError("429", retry_after=30.0)
    script = Script({"g-0": [limited]})
    with pytest.raises(UpstreamRateLimitError) as info:
        await router.execute(ctx(), "g", script)
    assert clock.sleeps == [] and script.calls == ["g-0"]
    assert "request deadline" in info.value.message


async def test_rate_limited_deployment_rests_and_the_other_takes_the_retry() -> None:
    # weight 0 puts g-1 second, so the first pick is always g-0
    router, clock = make_router({"g": [{"weight": 1}, {"weight": 0}]}, num_retries=1)
    script = Script(
        {"g-0": [UpstreamRateLimitError("429", retry_after=20.0), {"ok": 0}], "g-1": [{"ok": 1}]}
    )
    c = ctx()
    assert await router.execute(c, "g", script) == {"ok": 1}
    assert script.calls == ["g-0", "g-1"] and clock.sleeps == []
    assert c.cooldowns == ["g-0"]
    for _ in range(5):  # g-0 rests 20 s: everything goes to g-1
        await router.execute(ctx(), "g", script)
    assert script.calls[2:] == ["g-1"] * 5
    clock.advance(20)
    await router.execute(ctx(), "g", script)
    assert script.calls[-1] == "g-0"  # the rest is over (only the Retry-After, not longer)
