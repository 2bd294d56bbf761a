"""The overall deadline across retries and fallbacks, and streams that fail before or after
their first byte."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from proxy.errors import UpstreamConnectionError, UpstreamError
from proxy.routing.deadline import Deadline
from proxy.routing.errors import DeadlineExceededError
from tests.fakes.clock import ManualClock
from tests.unit.routing.helpers import Script, ctx, make_router


def test_deadline_counts_down_on_the_clock() -> None:
    clock = ManualClock()
    d = Deadline(clock, 10)
    assert d.remaining() == 10 and not d.expired
    clock.advance(4)
    assert d.allows_wait(5.9) and not d.allows_wait(6)
    clock.advance(6)
    assert d.expired and d.remaining() == 0


async def test_retries_stop_when_the_deadline_is_spent() -> None:
    router, clock = make_router({"g": [{}]}, num_retries=10, request_deadline=30)

    async def slow_failure(deployment: object) -> None:
        clock.advance(12)  # each attempt burns 12 s of the 30 s budget
        raise UpstreamError("boom")

    script = Script(default=slow_failure)
    with pytest.raises(UpstreamError) as info:
        await router.execute(ctx(), "g", script)
    assert len(script.calls) == 3  # 0-12, 12.x-24.x, 24.x-36.x: then nothing is left
    assert "request deadline" in info.value.message


async def test_the_deadline_cuts_an_attempt_short_and_skips_fallbacks() -> None:
    router, _ = make_router(
        {"g": [{}], "other": [{}]}, request_deadline=0.05, fallbacks=[{"g": ["other"]}]
    )
    never = asyncio.Event()

    async def hang(deployment: object) -> None:
        await never.wait()

    script = Script({"g-0": [hang]})
    c = ctx()
    with pytest.raises(DeadlineExceededError) as info:
        await router.execute(c, "g", script)
    assert info.value.status == 504
    assert script.calls == ["g-0"] and c.fallbacks == 0
    assert await router.stats.in_flight(list(router.groups["g"])) == [0]  # slot released


async def test_deadline_bounds_fallbacks_too() -> None:
    router, clock = make_router(
        {"a": [{}], "b": [{}]}, request_deadline=10, fallbacks=[{"a": ["b"]}]
    )

    async def eat_budget(deployment: object) -> None:
        clock.advance(10)
        raise UpstreamError("slow and broken")

    script = Script({"a-0": [eat_budget]})
    c = ctx()
    with pytest.raises(UpstreamError) as info:
        await router.execute(c, "a", script)
    assert script.calls == ["a-0"]
    assert "deadline" in info.value.message


def stream(chunks: list[bytes], fail_after: int | None = None) -> object:
    async def open_stream(deployment: object) -> AsyncIterator[bytes]:
        async def gen() -> AsyncIterator[bytes]:
            for i, chunk in enumerate(chunks):
                if fail_after is not None and i == fail_after:
                    raise UpstreamConnectionError("stream broke")
                yield chunk
            if fail_after is not None and fail_after >= len(chunks):
                raise UpstreamConnectionError("stream broke")

        return gen()

    return open_stream


async def test_stream_failing_before_its_first_byte_is_retried_elsewhere() -> None:
    router, _ = make_router({"g": [{"weight": 1}, {"weight": 0}]}, num_retries=1)
    script = Script({"g-0": [stream([b"a"], fail_after=0)], "g-1": [stream([b"x", b"y"])]})
    c = ctx()
    c.stream = True
    chunks = await router.execute(c, "g", script)
    assert [chunk async for chunk in chunks] == [b"x", b"y"]
    assert script.calls == ["g-0", "g-1"] and c.retries == 1 and c.deployment_id == "g-1"


async def test_stream_failing_after_bytes_flowed_is_not_retried() -> None:
    router, _ = make_router({"g": [{"weight": 1}, {"weight": 0}]}, num_retries=3)
    script = Script({"g-0": [stream([b"a", b"b"], fail_after=1)], "g-1": [stream([b"x"])]})
    c = ctx()
    c.stream = True
    chunks = await router.execute(c, "g", script)
    received = []
    with pytest.raises(UpstreamConnectionError):
        async for chunk in chunks:
            received.append(chunk)
    assert received == [b"a"] and script.calls == ["g-0"]
    assert await router.stats.in_flight(list(router.groups["g"])) == [0, 0]


async def test_stream_slot_is_held_until_the_stream_ends() -> None:
    router, _ = make_router({"g": [{}]})
    c = ctx()
    c.stream = True
    chunks = await router.execute(c, "g", Script(default=stream([b"a", b"b"])))
    deps = list(router.groups["g"])
    assert await router.stats.in_flight(deps) == [1]
    assert [chunk async for chunk in chunks] == [b"a", b"b"]
    assert await router.stats.in_flight(deps) == [0]
