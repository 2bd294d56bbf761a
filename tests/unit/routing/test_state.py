"""The in-memory state store: expiry, atomic counters, sliding windows, reservations."""

from __future__ import annotations

from proxy.state.memory import MemoryState
from tests.fakes.clock import ManualClock


async def test_incr_refreshes_expiry_and_expires() -> None:
    clock = ManualClock()
    s = MemoryState(clock)
    assert await s.incr("k", 1, ttl=10) == 1
    clock.advance(6)
    assert await s.incr("k", 2, ttl=10) == 3
    clock.advance(6)
    assert await s.get("k") == "3.0"
    clock.advance(5)
    assert await s.get("k") is None
    assert await s.incr("k", -1) == -1


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
