"""Virtual keys across replicas: rate limits, in-flight limits and budgets on the shared state
store, and key changes published to every replica.

Installed only with shared state (``router_settings.redis_*``). Two hooks stand right behind
``Accounting``'s:

* ``before`` (pre-call, after ``Accounting.before`` admitted the request locally): a virtual
  key's ``rpm_limit`` is checked and counted in one shared sliding minute, its ``tpm_limit``
  checked against the tokens every replica counted in the last minute; its
  ``max_parallel_requests`` holds one in-flight slot on the key's shared counter only while
  every replica's slots together are fewer (``StateStore.hold``, limit = the setting); each
  budget the request holds (the key's, the end user's, the proxy-wide one, which every request
  holds, the master key's included) holds its estimate on the budget's shared counter only
  while settled spend plus every replica's reservations in flight is below ``max_budget``, in
  one atomic step (``StateStore.hold``). The settled spend starts from (and never falls
  below) the spend this replica knew when it admitted the request (the database's, or for the
  proxy-wide budget the window's spend read from the spend log, plus what it settled since),
  so a Redis that lost it rebuilds it. A slot or reservation is a lease of the replica that
  took it: one killed mid-request stops holding within ``redis_lease_ttl``.
* ``after`` (post-call, after ``Accounting.after`` priced the request, refused requests
  included): each slot is released; each reservation is released and the actual cost added
  to the settled spend; the tokens the answer reported are counted in the key's shared minute.

The local checks keep running first: a replica's own view never exceeds the shared one, so
they never refuse what the shared one would admit, and they are what still enforces while
Redis is unreachable (``SharedState`` then holds in memory, which is this replica's view).

Key changes: the replica that generates, updates or deletes a key publishes it; the others drop
a deleted key at once and re-read a changed one from the database. A replica that was cut off
from the events re-reads every key it holds when it reconnects.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from proxy.config import ProxyConfig
from proxy.context import RequestContext
from proxy.errors import RateLimitError
from proxy.keys.accounting import Hold, ParallelLimitError, budget_holds
from proxy.keys.budget import BudgetExceededError, counted_tokens, when_it_resets
from proxy.keys.service import KeyService
from proxy.lifecycle import Lifecycle
from proxy.pricing.usage import normalize
from proxy.state.base import StateStore
from proxy.state.settings import redis_settings

if TYPE_CHECKING:  # the redis client library loads only when a Redis is configured
    from proxy.state.events import Events

log = logging.getLogger("proxy.keys")

KEY_TOPIC = "key"
MINUTE = 60.0


def _budget_counter(ctx: RequestContext, hold: Hold) -> str:
    if hold.is_proxy:
        return f"budget:proxy:{hold.period}"  # periods are epoch-aligned: one on every replica
    if hold.is_key and ctx.key is not None:
        return f"budget:key:{ctx.key.key_hash}:{hold.period}"
    return f"budget:user:{ctx.end_user}:{hold.period}"


def _window_full(alias: str | None, limit: str, wait: float) -> RateLimitError:
    seconds = max(1, math.ceil(wait))
    return RateLimitError(
        f"Rate limit exceeded for key '{alias}': {limit} per minute across all replicas; "
        f"retry after {seconds} s.",
        headers={"retry-after": str(seconds)},
        retry_after=seconds,
    )


@dataclass(frozen=True, slots=True)
class SharedHold:
    """What one request holds on the shared store: an in-flight slot (``spends`` False) or a
    budget reservation, given back by ``ReplicaKeys.after``."""

    counter: str
    amount: float
    floor: float = 0.0  # a budget's spend known when the request was admitted
    spends: bool = False  # a budget: the request's cost is added to the settled spend


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
        taken: list[SharedHold] = []
        ctx.shared_holds = taken  # released by ``after``, which runs for refusals too
        key = ctx.key
        state = None
        if key is not None and not key.is_master:
            state = self.keys.state(key.key_hash)
        if key is not None and state is not None:
            alias = state.info().alias
            if state.rpm is not None:
                await self._count_rpm(key.key_hash, alias, state.rpm.limit)
            if state.tpm is not None:
                await self._check_tpm(key.key_hash, alias, state.tpm.limit)
            parallel = state.max_parallel_requests
            if parallel is not None:
                counter = f"parallel:key:{key.key_hash}"
                if await self.state.hold(counter, 1.0, parallel) is not None:
                    raise ParallelLimitError(
                        f"Parallel request limit reached for key '{alias}': "
                        f"max_parallel_requests {parallel} requests in flight across all "
                        "replicas; retry when one ends.",
                        headers={"retry-after": "1"},
                        retry_after=1,
                    )
                taken.append(SharedHold(counter, 1.0))
        for hold in budget_holds(ctx):
            budget = hold.budget
            if budget.max_budget is None:
                continue
            counter = _budget_counter(ctx, hold)
            floor = budget.spend
            committed = await self.state.hold(counter, hold.estimate, budget.max_budget, floor)
            if committed is not None:
                raise self._exceeded(hold, committed)
            taken.append(SharedHold(counter, hold.estimate, floor, spends=True))

    async def _count_rpm(self, key_hash: str, alias: str | None, limit: int) -> None:
        wait = await self.state.window_reserve(f"rpm:key:{key_hash}", 1, limit, MINUTE)
        if wait is not None:
            raise _window_full(alias, f"rpm_limit {limit} requests", wait)

    async def _check_tpm(self, key_hash: str, alias: str | None, limit: int) -> None:
        """Admitted while every replica's tokens of the last minute are below the limit (a
        request's own are known when it ends: ``after`` counts them)."""
        # Reserving nothing under limit - 1 tokens: admitted while the total is below limit,
        # and when refused, the wait until enough of the minute has passed.
        wait = await self.state.window_reserve(f"tpm:key:{key_hash}", 0, limit - 1, MINUTE)
        if wait is not None:
            raise _window_full(alias, f"tpm_limit {limit} tokens", wait)

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
        taken: list[SharedHold] = ctx.shared_holds or []
        ctx.shared_holds = None  # given back once
        key = ctx.key
        state = self.keys.state(key.key_hash) if key is not None and not key.is_master else None
        if key is not None and state is not None and state.tpm is not None:
            tokens = counted_tokens(normalize(ctx.usage))
            if tokens > 0:
                await self.state.window_add(f"tpm:key:{key.key_hash}", tokens, MINUTE)
        cost = ctx.cost or 0.0
        for held in taken:
            # the floor as it was when admitted: the local spend includes this cost by now
            spent = cost if held.spends else 0.0
            await self.state.release(held.counter, held.amount, spent=spent, floor=held.floor)

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
