"""Budget admission, reservations, period roll-over and per-minute windows (fake clocks)."""

from __future__ import annotations

import pytest

from proxy.errors import RateLimitError
from proxy.keys.budget import Budget, BudgetExceededError, RpmWindow
from proxy.keys.durations import next_reset, parse_duration, parse_expiry


def test_in_flight_reservations_bound_the_overshoot() -> None:
    b = Budget("key 'k'", max_budget=1.0)
    admitted = 0
    for _ in range(50):  # 50 concurrent arrivals, each estimated at 0.3
        try:
            b.admit(0.3, now=0)
            admitted += 1
        except BudgetExceededError:
            pass
    assert admitted == 4 and b.reserved == pytest.approx(1.2)
    for _ in range(admitted):
        b.settle(0.3, 0.3, b.period)
    assert b.spend == pytest.approx(1.2) and b.reserved == 0 and b.in_flight == 0
    assert b.spend - 1.0 < 0.3  # at most one request over


def test_roll_starts_a_new_period_on_the_original_cadence() -> None:
    b = Budget("key 'k'", max_budget=0.1, duration=60, reset_at=100.0, stored=0.5)
    with pytest.raises(BudgetExceededError) as exc:
        b.admit(0.01, now=99)
    assert "resets at 1970-01-01T00:01:40Z" in exc.value.message
    assert exc.value.headers["retry-after"] == "1"
    assert b.roll(now=250) and b.reset_at == 280 and b.period == 1 and b.spend == 0
    b.admit(0.01, now=251)
    b.settle(0.01, 0.02, period=0)  # a straggler of the old period does not count
    assert b.spend == 0


def test_flush_moves_spend_from_unflushed_to_stored() -> None:
    b = Budget("key 'k'", max_budget=None)
    b.admit(0.0, now=0)
    b.settle(0.0, 0.25, b.period)
    assert (b.unflushed, b.stored) == (0.25, 0)
    b.flushed(0.25, b.period)
    assert (b.unflushed, b.stored) == (0, 0.25)


def test_rpm_window_slides() -> None:
    w = RpmWindow(limit=2)
    w.hit("key 'k'", now=0)
    w.hit("key 'k'", now=10)
    with pytest.raises(RateLimitError) as exc:
        w.hit("key 'k'", now=30)
    assert exc.value.headers["retry-after"] == "30"
    w.hit("key 'k'", now=60.5)  # the first hit left the window


def test_rpm_limit_zero_refuses_every_request_with_a_429() -> None:
    """It was an IndexError (a 500): the window had no oldest request to wait for."""
    w = RpmWindow(limit=0)
    for now in (0, 61, 1000):
        with pytest.raises(RateLimitError) as exc:
            w.hit("key 'k'", now=now)
        assert exc.value.headers["retry-after"] == "60"
        assert "rpm_limit 0" in exc.value.message


def test_durations() -> None:
    assert parse_duration("30d") == 30 * 86400 and parse_duration("1mo") == 30 * 86400
    for bad in ("0d", "30", "1y", "-1h", "1h; drop"):
        with pytest.raises(ValueError, match="duration"):
            parse_duration(bad)
    assert parse_expiry("1h", now=1000) == 4600
    assert parse_expiry("1970-01-02T00:00:00Z") == 86400
    with pytest.raises(ValueError, match="expiry"):
        parse_expiry("tomorrow")
    assert next_reset(100, 60, now=100) == 160 and next_reset(100, 60, now=50) == 100
