"""Durations (``30s``, ``15m``, ``1h``, ``30d``, ``2w``, ``1mo``) and expiry times."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

_DURATION = re.compile(r"^\s*(\d{1,6})\s*(s|m|h|d|w|mo)\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "mo": 30 * 86400}


def parse_duration(text: str) -> int:
    """Seconds in ``text``; ValueError naming the accepted forms otherwise."""
    m = _DURATION.match(text)
    if not m or int(m.group(1)) == 0:
        raise ValueError(
            f"invalid duration {text!r}: use a positive number and s, m, h, d, w or mo "
            "(e.g. 30s, 1h, 30d)"
        )
    return int(m.group(1)) * _UNIT[m.group(2)]


def parse_expiry(text: str, now: float | None = None) -> float:
    """Epoch seconds of an ISO-8601 time, or of now + a duration."""
    now = time.time() if now is None else now
    if _DURATION.match(text):
        return now + parse_duration(text)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"invalid expiry {text!r}: an ISO-8601 time (2026-12-31T00:00:00Z) or a duration (30d)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def next_reset(previous: float, duration: int, now: float) -> float:
    """The first period boundary after ``now``, keeping the original cadence."""
    if previous > now:
        return previous
    periods = int((now - previous) // duration) + 1
    return previous + periods * duration


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
