"""The overall deadline across retries and fallbacks, and streams that fail before or after
their first byte."""

from __future__ import annotations

import asyncio

import pytest

from proxy.attempt.chat import ChatRelay
from proxy.context import RequestContext
from proxy.errors import UpstreamConnectionError, UpstreamError
from proxy.providers.openai.chat import OpenAIChatStream
from proxy.routing.deadline import Deadline
from proxy.routing.errors import DeadlineExceededError
from proxy.schemas import ChatRequest
from proxy.sse import DONE_FRAME
from tests.fakes.clock import ManualClock
from tests.fakes.streams import upstream_stream
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


def frame(text: str) -> bytes:
    return b'data: {"t":"%s"}\n\n' % text.encode()


def stream(c: RequestContext, texts: list[str], fail_after: int | None = None) -> object:
    """An attempt that opens a chat stream of ``texts`` (breaking before the
    ``fail_after``-th one when given)."""

    async def open_stream(deployment: object) -> ChatRelay:
        body = [frame(t) for t in texts[:fail_after]]
        if fail_after is None:
            body.append(DONE_FRAME)
        upstream = upstream_stream(
            body, fail_with=None if fail_after is None else lambda: UpstreamConnectionError("broke")
        )
        return ChatRelay(upstream, OpenAIChatStream("g"), c, REQUEST, "openai")

    return open_stream


REQUEST = ChatRequest.from_body(
    {"model": "g", "messages": [{"role": "user", "content": "x"}], "stream": True}
)


def stream_ctx() -> RequestContext:
    c = ctx()
    c.stream = True
    return c


async def test_stream_failing_before_its_first_byte_is_retried_elsewhere() -> None:
    router, _ = make_router({"g": [{"weight": 1}, {"weight": 0}]}, num_retries=1)
    c = stream_ctx()
    script = Script({"g-0": [stream(c, ["a"], fail_after=0)], "g-1": [stream(c, ["x", "y"])]})
    chunks = await router.execute(c, "g", script)
    assert [chunk async for chunk in chunks] == [frame("x"), frame("y"), DONE_FRAME]
    assert script.calls == ["g-0", "g-1"] and c.retries == 1 and c.deployment_id == "g-1"


async def test_stream_failing_after_bytes_flowed_is_not_retried() -> None:
    router, _ = make_router({"g": [{"weight": 1}, {"weight": 0}]}, num_retries=3)
    c = stream_ctx()
    script = Script({"g-0": [stream(c, ["a", "b"], fail_after=1)], "g-1": [stream(c, ["x"])]})
    chunks = await router.execute(c, "g", script)
    received = [chunk async for chunk in chunks]
    assert received[0] == frame("a") and script.calls == ["g-0"]
    assert len(received) == 2 and b'"broke"' in received[1]  # the error, as a frame
    assert c.status == 502
    assert await router.stats.in_flight(list(router.groups["g"])) == [0, 0]


async def test_stream_slot_is_held_until_the_stream_ends() -> None:
    router, _ = make_router({"g": [{}]})
    c = stream_ctx()
    chunks = await router.execute(c, "g", Script(default=stream(c, ["a", "b"])))
    deps = list(router.groups["g"])
    assert await router.stats.in_flight(deps) == [1]
    assert [chunk async for chunk in chunks] == [frame("a"), frame("b"), DONE_FRAME]
    assert await router.stats.in_flight(deps) == [0]
