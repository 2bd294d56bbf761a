"""The overall request deadline: one budget shared by every attempt, wait and fallback."""

from __future__ import annotations

from proxy.state.base import Clock


class Deadline:
    def __init__(self, clock: Clock, seconds: float) -> None:
        self.clock = clock
        self.seconds = seconds
        self.ends = clock.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.ends - self.clock.monotonic())

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def allows_wait(self, seconds: float) -> bool:
        """Whether waiting ``seconds`` still leaves time for an attempt afterwards."""
        return seconds < self.remaining()
