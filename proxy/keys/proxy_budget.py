"""The proxy-wide budget: LiteLLM's ``litellm_settings.max_budget`` and ``budget_duration``.

Every request, whoever sends it (the master key included, as in LiteLLM), is admitted only
while the spend of all requests in the current window plus the estimates of those in flight is
below ``max_budget``; past it, the refusal is the budget error (429 ``budget_exceeded``, a
Retry-After until the reset, or ``x-should-retry: false`` when there is no
``budget_duration``). Windows are aligned to the epoch (``1d`` resets at 00:00 UTC), as the
end-user budgets' are. The window's spend is read from the spend log when the database is
ready, then kept in memory: this replica's own view of it. With shared state every replica also
admits against one shared counter (``proxy.keys.replicas``), whose settled spend starts from
this view and never falls below it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from proxy.db.database import LogFilter, Store, with_timeout
from proxy.keys.budget import Budget
from proxy.keys.durations import parse_duration

log = logging.getLogger("proxy.keys")

OWNER = "the proxy (litellm_settings.max_budget)"


def proxy_budget(litellm_settings: Mapping[str, Any], now: float | None = None) -> Budget | None:
    """The budget ``litellm_settings`` sets, or None when it sets no ``max_budget``."""
    limit = litellm_settings.get("max_budget")
    if limit is None:
        return None
    raw = litellm_settings.get("budget_duration")
    duration = parse_duration(str(raw)) if raw else None
    now = time.time() if now is None else now
    period = int(now // duration) if duration else 0
    return Budget(
        owner=OWNER,
        max_budget=float(limit),
        duration=duration,
        reset_at=(period + 1) * duration if duration else None,
        period=period,
    )


def window_start(budget: Budget) -> float | None:
    if budget.duration is None or budget.reset_at is None:
        return None
    return budget.reset_at - budget.duration


async def load_spend(store: Store, budget: Budget) -> None:
    """The current window's spend from the spend log (best effort: 0 when unavailable)."""
    try:
        totals = await with_timeout(store.totals(LogFilter(start=window_start(budget))), 10.0)
    except Exception as exc:
        log.error("proxy-wide spend unavailable (%s); counting from 0", type(exc).__name__)
        return
    budget.stored = float(totals["spend"])
