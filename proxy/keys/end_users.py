"""Optional per-end-user budgets (``litellm_settings.max_end_user_budget``).

An end user is whoever the caller names in the OpenAI ``user`` field or the ``x-end-user``
header. Their spend is the sum of their spend-log costs in the current window (windows are
aligned to the epoch: ``1d`` resets at 00:00 UTC), loaded once per end user and then kept
current in memory. At most ``capacity`` end users are held; the least recently seen go first.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence

from proxy.context import RequestContext
from proxy.db.database import Store, with_timeout
from proxy.db.records import Op, SpendRecord
from proxy.errors import InvalidRequestError
from proxy.keys.budget import Budget

log = logging.getLogger("proxy.keys")


class EndUserBudgets:
    def __init__(
        self, store: Store, max_budget: float, duration: int | None, capacity: int = 100_000
    ) -> None:
        self.store = store
        self.max_budget = max_budget
        self.duration = duration
        self.capacity = capacity
        self.cache: OrderedDict[str, Budget] = OrderedDict()

    def period_of(self, ts: float) -> int:
        return int(ts // self.duration) if self.duration else 0

    def window_start(self, now: float) -> float | None:
        return self.period_of(now) * self.duration if self.duration else None

    async def budget(self, end_user: str, now: float) -> Budget:
        b = self.cache.get(end_user)
        if b is not None:
            self.cache.move_to_end(end_user)
            self._roll(b, now)
            return b
        try:
            spent = await with_timeout(
                self.store.end_user_spend(end_user, self.window_start(now)), 5.0
            )
        except Exception as exc:
            log.error("end-user spend unavailable (%s); counting from 0", type(exc).__name__)
            spent = 0.0
        start = self.window_start(now)
        b = Budget(
            owner=f"end user '{end_user}'",
            max_budget=self.max_budget,
            duration=self.duration,
            reset_at=start + self.duration if start is not None and self.duration else None,
            period=self.period_of(now),
            stored=spent,
        )
        self.cache[end_user] = b
        while len(self.cache) > self.capacity:
            self.cache.popitem(last=False)
        return b

    def _roll(self, b: Budget, now: float) -> None:
        if self.duration and b.reset_at is not None and now >= b.reset_at:
            b.period = self.period_of(now)
            b.reset_at = (b.period + 1) * self.duration
            b.stored = b.unflushed = 0.0

    def flushed(self, ops: Sequence[Op]) -> None:
        for op in ops:
            if isinstance(op, SpendRecord) and op.end_user and op.cost:
                b = self.cache.get(op.end_user)
                if b is not None:
                    b.flushed(op.cost, self.period_of(op.time))


async def require_end_user(ctx: RequestContext, request: object) -> None:
    """``general_settings.enforce_user_param`` (LiteLLM's): a model request must name its end
    user (the OpenAI ``user`` field, or the ``x-end-user`` header), else a 400 before any
    key, budget or upstream work."""
    if not ctx.end_user:
        raise InvalidRequestError(
            "'user' is required on this proxy (general_settings.enforce_user_param): name the "
            "end user in the body's 'user' field or the 'x-end-user' header.",
            param="user",
            code="user_required",
        )
