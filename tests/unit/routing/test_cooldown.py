"""Cooldowns: allowed_fails within a minute, immediate cooldown for misconfiguration, 429
rests for Retry-After only, fast 503 naming the group, the single-deployment exemption."""

from __future__ import annotations

import pytest

from proxy.errors import (
    ProviderAuthError,
    UpstreamBadRequestError,
    UpstreamError,
    UpstreamNotFoundError,
    UpstreamRateLimitError,
)
from proxy.routing.cooldown import RATE_LIMIT_REST
from proxy.routing.errors import GroupCooledDownError
from tests.unit.routing.helpers import Script, ctx, make_router

PREFER_FIRST = [{"weight": 1}, {"weight": 0}]  # g-0 is always tried first while usable


async def test_allowed_fails_in_a_minute_cools_down() -> None:
    router, clock = make_router({"g": PREFER_FIRST}, allowed_fails=2, cooldown_time=30)
    script = Script({"g-0": [UpstreamError("boom")], "g-1": [{"ok": 1}]})
    c1 = ctx()
    with pytest.raises(UpstreamError):
        await router.execute(c1, "g", script)
    assert c1.cooldowns == []  # one failure of the two allowed
    clock.advance(10)
    c2 = ctx()
    with pytest.raises(UpstreamError):
        await router.execute(c2, "g", script)
    assert c2.cooldowns == ["g-0"]
    assert await router.execute(ctx(), "g", script) == {"ok": 1}  # g-0 skipped
    assert script.calls == ["g-0", "g-0", "g-1"]
    clock.advance(30)
    with pytest.raises(UpstreamError):
        await router.execute(ctx(), "g", script)  # back in rotation after cooldown_time
    assert script.calls[-1] == "g-0"


async def test_failures_more_than_a_minute_apart_do_not_cool() -> None:
    router, clock = make_router({"g": PREFER_FIRST}, allowed_fails=2, cooldown_time=30)
    script = Script({"g-0": [UpstreamError("boom")]})
    for _ in range(4):
        c = ctx()
        with pytest.raises(UpstreamError):
            await router.execute(c, "g", script)
        assert c.cooldowns == []
        clock.advance(61)
    assert script.calls == ["g-0"] * 4


@pytest.mark.parametrize("error", [ProviderAuthError("401"), UpstreamNotFoundError("404")])
async def test_misconfiguration_cools_down_at_once_for_cooldown_time(error: Exception) -> None:
    router, clock = make_router({"g": PREFER_FIRST}, allowed_fails=100, cooldown_time=45)
    script = Script({"g-0": [error], "g-1": [{"ok": 1}]})
    c = ctx()
    with pytest.raises(type(error)):
        await router.execute(c, "g", script)
    assert c.cooldowns == ["g-0"]
    (entry,) = (await router.cooldowns.active(router.groups["g"])).values()
    assert entry.remaining(clock.time()) == 45
    clock.advance(44)
    await router.execute(ctx(), "g", script)
    assert script.calls[-1] == "g-1"
    clock.advance(1)
    with pytest.raises(type(error)):
        await router.execute(ctx(), "g", script)


async def test_rate_limit_rests_only_for_retry_after() -> None:
    router, clock = make_router({"g": PREFER_FIRST}, cooldown_time=600)
    script = Script({"g-0": [UpstreamRateLimitError("429", retry_after=2)], "g-1": [{"ok": 1}]})
    with pytest.raises(UpstreamRateLimitError):
        await router.execute(ctx(), "g", script)
    entry = (await router.cooldowns.active(router.groups["g"]))["g-0"]
    assert entry.rate_limited and entry.remaining(clock.time()) == 2


async def test_rate_limit_without_retry_after_rests_briefly_not_cooldown_time() -> None:
    router, clock = make_router({"g": PREFER_FIRST}, cooldown_time=30)
    script = Script({"g-0": [UpstreamRateLimitError("429")], "g-1": [{"ok": 1}]})
    with pytest.raises(UpstreamRateLimitError):
        await router.execute(ctx(), "g", script)
    entry = (await router.cooldowns.active(router.groups["g"]))["g-0"]
    assert entry.rate_limited and entry.remaining(clock.time()) == RATE_LIMIT_REST


async def test_rate_limited_lone_deployment_with_a_fallback_does_not_wait_cooldown_time() -> None:
    router, clock = make_router(
        {"g": [{}], "h": [{}]}, num_retries=1, cooldown_time=30, fallbacks=[{"g": ["h"]}]
    )
    script = Script({"g-0": [UpstreamRateLimitError("429"), {"ok": "g"}]})
    c = ctx()
    assert await router.execute(c, "g", script) == {"ok": "g"}
    assert script.calls == ["g-0", "g-0"] and c.retries == 1
    assert clock.sleeps == [RATE_LIMIT_REST]  # the short rest, not cooldown_time


async def test_bad_requests_never_cool_down() -> None:
    router, _ = make_router({"g": PREFER_FIRST}, allowed_fails=0)
    script = Script({"g-0": [UpstreamBadRequestError("bad")]})
    for _ in range(3):
        with pytest.raises(UpstreamBadRequestError):
            await router.execute(ctx(), "g", script)
    assert await router.cooldowns.active(router.groups["g"]) == {}


async def test_all_cooled_fails_fast_with_503_naming_the_group() -> None:
    router, clock = make_router({"images-a": [{}, {}]}, allowed_fails=0, cooldown_time=20)
    auth = ProviderAuthError("401")
    bad = Script({"images-a-0": [auth], "images-a-1": [auth]})
    for _ in range(2):
        with pytest.raises(ProviderAuthError):
            await router.execute(ctx(), "images-a", bad)
    calls = len(bad.calls)
    clock.advance(5)
    with pytest.raises(GroupCooledDownError) as info:
        await router.execute(ctx(), "images-a", bad)
    assert len(bad.calls) == calls  # nothing was sent
    assert info.value.status == 503 and "'images-a'" in info.value.message
    assert info.value.headers["retry-after"] == "15"


async def test_a_lone_deployment_without_fallbacks_never_rests() -> None:
    router, _ = make_router({"g": [{}]}, allowed_fails=0)
    script = Script({"g-0": [ProviderAuthError("401")]})
    for _ in range(3):
        with pytest.raises(ProviderAuthError):
            await router.execute(ctx(), "g", script)
    assert script.calls == ["g-0"] * 3  # the provider's own error each time, not a 503


async def test_a_lone_deployment_with_a_fallback_does_rest() -> None:
    router, _ = make_router(
        {"g": [{}], "other": [{}]}, allowed_fails=0, fallbacks=[{"g": ["other"]}]
    )
    script = Script({"g-0": [ProviderAuthError("401")]})
    c = ctx()
    await router.execute(c, "g", script)
    assert c.cooldowns == ["g-0"] and script.calls == ["g-0", "other-0"]
    await router.execute(ctx(), "g", script)
    assert script.calls[2:] == ["other-0"]  # straight to the fallback


async def test_recooling_keeps_the_later_deadline() -> None:
    router, clock = make_router({"g": [{}, {}]}, cooldown_time=10)
    dep = router.groups["g"][0]
    await router.cooldowns.cool(dep, 100, "rate_limit_exceeded", 429, True)
    assert await router.cooldowns.cool(dep, 10, "x", 502) is None
    entry = (await router.cooldowns.active([dep]))[dep.id]
    assert entry.remaining(clock.time()) == 100


async def test_disable_cooldowns() -> None:
    router, _ = make_router({"g": PREFER_FIRST}, disable_cooldowns=True, allowed_fails=0)
    script = Script({"g-0": [ProviderAuthError("401")]})
    for _ in range(3):
        with pytest.raises(ProviderAuthError):
            await router.execute(ctx(), "g", script)
    assert script.calls == ["g-0"] * 3
