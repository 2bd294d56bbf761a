"""The in-memory state store: expiry, holds and settled amounts, sliding windows."""

from __future__ import annotations

import pytest

from proxy.state.base import SETTLED_TTL
from proxy.state.memory import MemoryState
from tests.fakes.clock import ManualClock


async def test_holds_count_against_a_limit_until_released() -> None:
    s = MemoryState(ManualClock())
    assert await s.hold("slots", 1, limit=2) is None
    assert await s.hold("slots", 1, limit=2) is None
    assert await s.hold("slots", 1, limit=2) == 2  # at the limit: refused, nothing added
    assert await s.hold("other", 1) is None  # no limit: always held
    assert await s.held_totals(["slots", "other", "none"]) == [2, 1, 0]
    await s.release("slots", 1)
    assert await s.hold("slots", 1, limit=2) is None
    await s.release("slots", 1)
    await s.release("slots", 1)
    await s.release("slots", 1)  # more than held: nothing goes below zero
    assert await s.held_totals(["slots"]) == [0]


async def test_settled_spend_floor_and_expiry() -> None:
    clock = ManualClock()
    s = MemoryState(clock)
    # budget 1.0: the database knows 0.7 spent (the floor), each request holds 0.2
    assert await s.hold("b", 0.2, limit=1.0, floor=0.7) is None  # 0.7 + 0.2
    assert await s.hold("b", 0.2, limit=1.0, floor=0.7) is None  # 0.7 + 0.4 over: admitted
    assert await s.hold("b", 0.2, limit=1.0, floor=0.7) == pytest.approx(1.1)
    await s.release("b", 0.2, spent=0.05, floor=0.7)  # cheaper than estimated: 0.75 + 0.2
    assert await s.hold("b", 0.01, limit=1.0) is None  # 0.75 + 0.21
    assert await s.held_totals(["b"]) == [pytest.approx(0.21)]  # settled spend not included
    await s.release("b", 0.2)
    await s.release("b", 0.01)
    clock.advance(SETTLED_TTL)  # settled spend nobody touched is rebuilt from the floor
    assert await s.hold("b", 0.5, limit=0.5) is None
    assert await s.hold("b", 0.5, limit=1.0, floor=0.6) == pytest.approx(1.1)


async def test_set_with_ttl_get_many_delete() -> None:
    clock = ManualClock()
    s = MemoryState(clock)
    await s.set_with_ttl("a", "x", 5)
    await s.set_with_ttl("b", "y", 50)
    assert await s.get_many(["a", "b", "c"]) == ["x", "y", None]
    clock.advance(5)
    assert await s.get_many(["a", "b"]) == [None, "y"]
    await s.delete("b")
    assert await s.get("b") is None


async def test_sliding_window_forgets_old_entries() -> None:
    clock = ManualClock()
    s = MemoryState(clock)
    await s.window_add("w", 3, 60)
    clock.advance(30)
    await s.window_add("w", 4, 60)
    assert await s.window_total("w", 60) == 7
    clock.advance(30)  # the first entry is now exactly 60 s old: out
    assert await s.window_total("w", 60) == 4
    clock.advance(31)
    assert await s.window_total("w", 60) == 0


async def test_window_reserve_is_check_and_add_with_wait_time() -> None:
    clock = ManualClock()
    s = MemoryState(clock)
    assert await s.window_reserve("r", 1, 2, 60) is None
    clock.advance(10)
    assert await s.window_reserve("r", 1, 2, 60) is None
    clock.advance(5)
    wait = await s.window_reserve("r", 1, 2, 60)
    assert wait == 45  # the first request leaves the window 60 s after it came
    assert await s.window_total("r", 60) == 2  # a refused reservation adds nothing
    clock.advance(45)
    assert await s.window_reserve("r", 1, 2, 60) is None
