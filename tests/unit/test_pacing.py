"""Bookkeeping waits for a quiet loop: inline when quiet, deferred in a long turn, never longer
than max_delay, in order, and drained on demand. The loop's "now" is a manual clock; the probe
itself runs on the real event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial

from proxy.context import RequestContext
from proxy.hooks import Hooks
from proxy.server.pacing import MAX_DELAY, LoopPacer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def until(check: Callable[[], bool], what: str) -> None:
    for _ in range(400):  # the probe ticks every 5 ms of real time
        if check():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


def quiet_loop(clock: Clock, max_delay: float = MAX_DELAY) -> LoopPacer:
    return LoopPacer(clock=clock, max_delay=max_delay)


async def test_a_quiet_loop_runs_jobs_at_once() -> None:
    clock = Clock()
    quiet = quiet_loop(clock)
    done: list[int] = []
    quiet.run(lambda: done.append(1))  # no probe yet: counts as quiet, starts it
    quiet.run(lambda: done.append(2))
    assert done == [1, 2] and not quiet.pending and not quiet.busy()
    quiet.close()


async def test_a_long_turn_defers_jobs_until_the_loop_is_quiet_in_order() -> None:
    clock = Clock()
    quiet = quiet_loop(clock)
    done: list[int] = []
    quiet.run(lambda: done.append(0))
    clock.now += 0.05  # still inside one loop turn 50 ms later: the probe is overdue
    assert quiet.busy()
    for i in (1, 2, 3):
        quiet.run(partial(done.append, i))
    assert done == [0] and len(quiet.pending) == 3
    # the probe's next tick is late by those 50 ms: still busy, nothing has waited 1 s
    await until(lambda: quiet._late, "the late tick")
    assert done == [0]
    # the tick after that is on time: quiet, the jobs run in the order they came
    await until(lambda: done == [0, 1, 2, 3], "the deferred jobs")
    assert not quiet.busy()
    quiet.close()


async def test_a_job_never_waits_longer_than_max_delay() -> None:
    clock = Clock()
    quiet = quiet_loop(clock, max_delay=0.5)
    done: list[str] = []
    quiet.run(lambda: None)
    clock.now += 0.05
    quiet.run(lambda: done.append("late"))

    async def keep_busy() -> None:  # every tick finds the clock 50 ms on: always late
        while not done:
            clock.now += 0.05
            await asyncio.sleep(0.001)

    busy = asyncio.create_task(keep_busy())
    await until(lambda: done == ["late"], "the job past max_delay")
    assert clock.now - 100.0 >= 0.5  # it waited its max_delay of busy loop, not less
    await busy
    quiet.close()


async def test_drain_and_close_run_what_waits() -> None:
    clock = Clock()
    quiet = quiet_loop(clock)
    done: list[int] = []
    quiet.run(lambda: None)
    clock.now += 0.05
    quiet.run(lambda: done.append(1))
    quiet.drain()
    assert done == [1]
    quiet.run(lambda: done.append(2))  # still busy (same turn): waits again
    quiet.close()
    assert done == [1, 2] and not quiet.busy()


async def test_a_failing_job_does_not_stop_the_next() -> None:
    quiet = LoopPacer()
    done: list[int] = []

    def broken() -> None:
        raise RuntimeError("observer bug")

    quiet.run(broken)
    quiet.run(lambda: done.append(1))
    assert done == [1]
    quiet.close()


async def test_settled_waits_for_quiet_at_most_max_wait() -> None:
    clock = Clock()
    quiet = quiet_loop(clock)
    await quiet.settled(10.0)  # no probe: quiet, returns at once
    quiet.run(lambda: None)
    clock.now += 0.05
    assert quiet.busy()
    await quiet.settled(10.0)  # returns once a tick comes on time
    assert not quiet.busy() and clock.now == 100.05
    stop = False

    async def keep_busy() -> None:
        while not stop:
            clock.now += 0.05
            await asyncio.sleep(0.001)

    busy = asyncio.create_task(keep_busy())
    start = clock.now
    clock.now += 0.05
    await quiet.settled(0.5)  # never quiet: gives up after max_wait
    assert clock.now - start >= 0.5 and quiet.busy()
    stop = True
    await busy
    quiet.close()


async def test_observers_run_after_post_call_hooks_and_wait_when_busy() -> None:
    clock = Clock()
    seen: list[str] = []
    hooks = Hooks(
        post_call=(lambda ctx: seen.append("account"),),
        observers=(lambda ctx: seen.append(f"observe {ctx.status}"),),
        pacer=quiet_loop(clock),
    )
    ctx = RequestContext("images")
    await hooks.after(ctx)
    assert seen == ["account", "observe 200"]
    clock.now += 0.05  # a long turn: accounting still runs at once, observers wait
    await hooks.after(ctx)
    assert seen == ["account", "observe 200", "account"]
    await until(lambda: len(seen) == 4, "the observer")
    hooks.pacer.close()


async def test_answers_take_turns_on_a_busy_loop_in_order_a_batch_at_a_time() -> None:
    from proxy.server import pacing as quiet_mod

    clock = Clock()
    quiet = quiet_loop(clock)
    await quiet.take_turn()  # no probe yet: counts as quiet, starts it
    await quiet.take_turn()  # quiet: goes on at once
    assert not quiet.turns
    clock.now += 0.05  # a long turn
    order: list[int] = []
    releases: list[int] = []
    release = quiet._release

    def counted(count: int = quiet_mod.BATCH) -> None:
        releases.append(len(quiet.turns))
        release(count)

    # Spy on the batch release
    quiet._release = counted  # type: ignore[method-assign]

    async def answer(i: int) -> None:
        await quiet.take_turn()
        order.append(i)

    batch = quiet_mod.BATCH
    n = 2 * batch + 7
    tasks = [asyncio.create_task(answer(i)) for i in range(n)]
    await asyncio.sleep(0)
    assert len(quiet.turns) == n and order == []
    tasks[5].cancel()  # a request cancelled while waiting is skipped, not released
    await asyncio.gather(*tasks, return_exceptions=True)
    assert order == [i for i in range(n) if i != 5]
    # BATCH per loop iteration, in order (the cancelled one skipped)
    assert releases[:3] == [n, n - batch - 1, n - 2 * batch - 1]
    quiet.close()


async def test_close_lets_every_waiting_answer_go() -> None:
    clock = Clock()
    quiet = quiet_loop(clock)
    await quiet.take_turn()
    clock.now += 0.05
    waiting = [asyncio.create_task(quiet.take_turn()) for _ in range(3)]
    await asyncio.sleep(0)
    quiet.close()
    await asyncio.wait_for(asyncio.gather(*waiting), 5)
