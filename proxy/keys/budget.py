"""Race-safe budgets and per-minute request limits, held in memory.

A budget admits a request only while ``spend + reserved < max_budget``, and the request
reserves a pessimistic estimate of its cost for as long as it runs; on completion the estimate
is released and the actual cost added. Every check-and-reserve is synchronous (no ``await``
between reading and reserving), so on one event loop it is atomic: however many requests
arrive together, the last one admitted saw the budget not yet reached, and the total can
exceed ``max_budget`` by at most that request's cost (when estimates are not below actual
costs). The database is never on this path: when it is down, the in-memory view still
enforces.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field

from proxy.errors import RateLimitError
from proxy.keys.durations import iso, next_reset
from proxy.pricing.usage import TokenUsage


class BudgetExceededError(RateLimitError):
    """429 (OpenAI's status for a spent quota) with LiteLLM's ``budget_exceeded`` as type and
    code, which LiteLLM's clients branch on."""

    type = "budget_exceeded"
    code = "budget_exceeded"


@dataclass
class Budget:
    """Spend of one key or end user in the current budget period."""

    owner: str  # "key 'alias'" / "end user 'u'" (for messages)
    max_budget: float | None
    duration: int | None = None  # seconds; None: the budget never resets
    reset_at: float | None = None
    period: int = 0
    stored: float = 0.0  # spend the database has for this period
    unflushed: float = 0.0  # settled here, not yet written
    reserved: float = 0.0  # estimates of requests in flight
    in_flight: int = 0

    @property
    def spend(self) -> float:
        return self.stored + self.unflushed

    def roll(self, now: float) -> bool:
        """Start the next period when the reset time has passed; True if it did."""
        if self.duration is None or self.reset_at is None or now < self.reset_at:
            return False
        self.reset_at = next_reset(self.reset_at, self.duration, now)
        self.period += 1
        self.stored = 0.0
        self.unflushed = 0.0
        return True

    def admit(self, estimate: float, now: float) -> None:
        if self.max_budget is not None and self.spend + self.reserved >= self.max_budget:
            raise self.exceeded(now)
        self.reserved += estimate
        self.in_flight += 1

    def settle(self, estimate: float, actual: float | None, period: int) -> None:
        self.reserved = max(0.0, self.reserved - estimate)
        self.in_flight = max(0, self.in_flight - 1)
        if actual and period == self.period:
            self.unflushed += actual

    def flushed(self, amount: float, period: int) -> None:
        if period == self.period:
            self.unflushed = max(0.0, self.unflushed - amount)
            self.stored += amount

    def exceeded(self, now: float) -> BudgetExceededError:
        assert self.max_budget is not None
        when, headers = when_it_resets(self.reset_at, now)
        return BudgetExceededError(
            f"Budget exceeded for {self.owner}: spend ${self.spend:.6f} (plus "
            f"${self.reserved:.6f} in flight) of max_budget ${self.max_budget:.6f}; {when}.",
            headers=headers,
        )


def when_it_resets(reset_at: float | None, now: float) -> tuple[str, dict[str, str]]:
    """The budget error's words on its reset (an ISO time, or never) and its headers: a
    Retry-After until the reset; none for a budget that never resets (the error response
    then says ``x-should-retry: false``)."""
    if reset_at is None:
        return "it has no budget_duration, so it never resets: raise max_budget to go on", {}
    wait = max(1, math.ceil(reset_at - now))
    return f"it resets at {iso(reset_at)} (budget_duration)", {"retry-after": str(wait)}


def window_full(limit: str, oldest: float, now: float) -> RateLimitError:
    """The 429 of a full sliding minute (``limit`` says which): retry once ``oldest`` has
    left it."""
    wait = max(1, math.ceil(oldest + 60.0 - now))
    return RateLimitError(
        f"{limit}; retry after {wait} s.", headers={"retry-after": str(wait)}, retry_after=wait
    )


@dataclass
class RpmWindow:
    """Requests per sliding minute."""

    limit: int
    stamps: deque[float] = field(default_factory=deque)

    def hit(self, owner: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        while self.stamps and self.stamps[0] <= now - 60.0:
            self.stamps.popleft()
        if len(self.stamps) >= self.limit:
            # the oldest request leaves the window first; with rpm_limit 0 there is none
            raise window_full(
                f"Rate limit exceeded for {owner}: rpm_limit {self.limit} requests per minute",
                self.stamps[0] if self.stamps else now,
                now,
            )
        self.stamps.append(now)


def counted_tokens(tokens: TokenUsage | None) -> int:
    """What a key's ``tpm_limit`` counts of one answer: its input and output tokens, as the
    provider reported them (none reported, none counted)."""
    return tokens.prompt_tokens + tokens.completion_tokens if tokens is not None else 0


@dataclass
class TpmWindow:
    """Tokens per sliding minute (LiteLLM's ``tpm_limit``). A request is admitted while the
    tokens of the requests that ended in the last minute are below the limit; its own tokens
    are known only when it ends (``add``), from the usage the provider reported: requests whose
    provider reports no tokens count none."""

    limit: int
    used: deque[tuple[float, int]] = field(default_factory=deque)  # (end time, tokens)
    total: int = 0

    def _expire(self, now: float) -> None:
        while self.used and self.used[0][0] <= now - 60.0:
            self.total -= self.used.popleft()[1]

    def check(self, owner: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._expire(now)
        if self.total >= self.limit:
            raise window_full(
                f"Rate limit exceeded for {owner}: tpm_limit {self.limit} tokens per minute "
                f"({self.total} used in the last minute)",
                self.used[0][0] if self.used else now,
                now,
            )

    def add(self, tokens: int, now: float | None = None) -> None:
        if tokens <= 0:
            return
        now = time.monotonic() if now is None else now
        self._expire(now)
        self.used.append((now, tokens))
        self.total += tokens
