"""Virtual keys across replicas: rate limits and budgets on the shared state store, and key
changes published to every replica.

Installed only with shared state (``router_settings.redis_*``). Two hooks stand right behind
``Accounting``'s:

* ``before`` (pre-call, after ``Accounting.before`` admitted the request locally): the key's
  ``rpm_limit`` is checked and counted in one shared sliding minute; each budget the request
  holds (the key's, the end user's) holds its estimate on the budget's shared counter only
  while settled spend plus every replica's reservations in flight is below ``max_budget``, in
  one atomic step (``StateStore.hold``). The settled spend starts from (and never falls
  below) the spend this replica knew from the database when it admitted the request, so a
  Redis that lost it rebuilds it. A reservation is a lease of the replica that took it: one
  killed mid-request stops reserving within ``redis_lease_ttl``.
* ``after`` (post-call, after ``Accounting.after`` priced the request): each reservation is
  released and the actual cost added to the settled spend.

The local checks keep running first: a replica's own view never exceeds the shared one, so
they never refuse what the shared one would admit, and they are what still enforces while
Redis is unreachable.

Key changes: the replica that generates, updates or deletes a key publishes it; the others drop
a deleted key at once and re-read a changed one from the database. A replica that was cut off
from the events re-reads every key it holds when it reconnects.
"""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING, Any

from proxy.config import ProxyConfig
from proxy.context import RequestContext
from proxy.errors import RateLimitError
from proxy.keys.accounting import Hold, budget_holds
from proxy.keys.budget import BudgetExceededError, when_it_resets
from proxy.keys.service import KeyService
from proxy.lifecycle import Lifecycle
from proxy.state.base import StateStore
from proxy.state.settings import redis_settings

if TYPE_CHECKING:  # the redis client library loads only when a Redis is configured
    from proxy.state.events import Events

log = logging.getLogger("proxy.keys")

KEY_TOPIC = "key"
MINUTE = 60.0


def _budget_counter(ctx: RequestContext, hold: Hold) -> str:
    if hold.is_key and ctx.key is not None:
        return f"budget:key:{ctx.key.key_hash}:{hold.period}"
    return f"budget:user:{ctx.end_user}:{hold.period}"


class ReplicaKeys:
    def __init__(self, state: StateStore, events: Events, keys: KeyService) -> None:
        self.state = state
        self.events = events
        self.keys = keys
        keys.changed.append(self.publish)
        events.subscribe(KEY_TOPIC, self.on_event)
        events.on_resync.append(self.resync)

    # --- limits ---------------------------------------------------------------------------

    async def before(self, ctx: RequestContext, request: Any) -> None:
        key = ctx.key
        if key is None or key.is_master:
            return
        state = self.keys.state(key.key_hash)
        if state is None:
            return
        taken: list[tuple[str, float, float]] = []  # (counter, estimate, floor)
        ctx.shared_holds = taken
        if state.rpm is not None:
            limit = state.rpm.limit
            wait = await self.state.window_reserve(f"rpm:key:{key.key_hash}", 1, limit, MINUTE)
            if wait is not None:
                seconds = max(1, math.ceil(wait))
                raise RateLimitError(
                    f"Rate limit exceeded for key '{key.alias}': rpm_limit {limit} requests "
                    f"per minute across all replicas; retry after {seconds} s.",
                    headers={"retry-after": str(seconds)},
                    retry_after=seconds,
                )
        holds = budget_holds(ctx)
        for hold in holds:
            budget = hold.budget
            if budget.max_budget is None:
                continue
            counter = _budget_counter(ctx, hold)
            floor = budget.spend
            committed = await self.state.hold(counter, hold.estimate, budget.max_budget, floor)
            if committed is not None:
                raise self._exceeded(hold, committed)
            taken.append((counter, hold.estimate, floor))

    @staticmethod
    def _exceeded(hold: Hold, committed: float) -> BudgetExceededError:
        budget = hold.budget
        assert budget.max_budget is not None
        when, headers = when_it_resets(budget.reset_at, time.time())
        return BudgetExceededError(
            f"Budget exceeded for {budget.owner}: spend plus requests in flight across all "
            f"replicas ${committed:.6f} of max_budget ${budget.max_budget:.6f}; {when}.",
            headers=headers,
        )

    async def after(self, ctx: RequestContext) -> None:
        taken: list[tuple[str, float, float]] = ctx.shared_holds or []
        cost = ctx.cost or 0.0
        for counter, estimate, floor in taken:
            # the floor as it was when admitted: the local spend includes this cost by now
            await self.state.release(counter, estimate, spent=cost, floor=floor)

    # --- key changes ----------------------------------------------------------------------

    async def publish(self, op: str, key_hash: str) -> None:
        await self.events.publish(KEY_TOPIC, op=op, key_hash=key_hash)

    async def on_event(self, event: dict[str, Any]) -> None:
        key_hash = event.get("key_hash")
        if not isinstance(key_hash, str):
            return
        if event.get("op") == "deleted":
            self.keys.forget(key_hash)
        else:
            await self.keys.reload(key_hash)

    async def resync(self) -> None:
        for key_hash in list(self.keys.cache):
            await self.keys.reload(key_hash)


def build_replicas(
    config: ProxyConfig, state: StateStore, keys: KeyService
) -> tuple[ReplicaKeys | None, Lifecycle]:
    """With a Redis under the router (``proxy.state.build``): the replica events listener,
    started and stopped with the app, the ``redis`` readiness check (degraded while the
    breaker is open) and the key limits, budgets and key changes shared across replicas."""
    settings = redis_settings(config.router)
    if settings is None:
        return None, Lifecycle()
    from proxy.state.events import Events
    from proxy.state.shared import SharedState

    assert isinstance(state, SharedState)
    shared = state
    events = Events(
        shared.redis.client,
        settings.key_prefix + "events",
        retry_interval=settings.retry_interval,
        operation_timeout=shared.operation_timeout,
    )
    events.on_lost.append(shared.breaker.trip)  # no request needed to notice an outage

    async def start() -> None:
        await shared.start()
        events.start()
        logging.getLogger("proxy.state").info(
            "shared state: %s (prefix %r, lease %gs)",
            settings.describe(),
            settings.key_prefix,
            settings.lease_ttl,
        )

    async def stop() -> None:
        await events.aclose()
        await shared.aclose()

    def healthy() -> bool:
        return shared.healthy

    lifecycle = Lifecycle(startup=(start,), shutdown=(stop,), readiness=(("redis", healthy),))
    return ReplicaKeys(shared, events, keys), lifecycle
