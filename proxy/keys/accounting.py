"""The two hooks around every model request: enforce before, account after.

``before`` (a pre_call hook) records the billing parameters, turns an alias into its model
group (the key's own ``aliases``, then ``router_settings.model_group_alias``: the request is
for that group from then on: key checks, routing, headers, spend), then for a virtual key
checks, in this order: model allowed (403), requests per minute (429 + Retry-After), requests
in flight (``max_parallel_requests``: 429 + Retry-After: 1), key budget (429 naming the budget
and its reset), end-user budget (429), the proxy-wide budget (429); and reserves the request's
estimated cost on each budget. ``after`` (a post_call hook, success or failure, streams
included) prices the request if nothing did yet, settles the reservations and queues exactly
one spend record.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from proxy.context import KeyInfo, RequestContext
from proxy.db.records import SpendRecord, billed_key, clip
from proxy.db.writer import SpendWriter
from proxy.errors import PermissionDeniedError, RateLimitError
from proxy.keys.budget import Budget, counted_tokens
from proxy.keys.end_users import EndUserBudgets
from proxy.keys.service import KeyService
from proxy.pricing.cost import PriceInputs, Pricer
from proxy.pricing.usage import TokenUsage, normalize

log = logging.getLogger("proxy.keys")

PROMPT_LIMIT = 10_000


class ParallelLimitError(RateLimitError):
    """A key's ``max_parallel_requests`` in flight (LiteLLM's limit): worth a retry soon."""

    code = "max_parallel_requests_exceeded"


@dataclass(frozen=True, slots=True)
class Hold:
    budget: Budget
    estimate: float
    period: int
    is_key: bool = False
    is_proxy: bool = False  # the proxy-wide budget (litellm_settings.max_budget)


def budget_holds(ctx: RequestContext) -> list[Hold]:
    """The budgets this request holds (``Accounting.before``), to settle when it is over."""
    holds: list[Hold] = ctx.budget_holds or []
    return holds


class Accounting:
    def __init__(
        self,
        pricer: Pricer,
        keys: KeyService,
        writer: SpendWriter,
        *,
        end_users: EndUserBudgets | None = None,
        proxy_budget: Budget | None = None,
        group_aliases: Mapping[str, str] | None = None,
        store_prompts: bool = False,
    ) -> None:
        self.pricer = pricer  # prices finished requests; the price table for estimates
        self.keys = keys
        self.writer = writer
        self.end_users = end_users
        self.proxy_budget = proxy_budget  # litellm_settings.max_budget (proxy.keys.proxy_budget)
        self.group_aliases = group_aliases or {}  # router_settings.model_group_alias -> group
        self.store_prompts = store_prompts
        self.observed: dict[str, float] = {}  # model group -> highest cost seen
        if end_users is not None:
            writer.listeners.append(end_users.flushed)

    # --- before ---------------------------------------------------------------------------

    async def before(self, ctx: RequestContext, request: Any) -> None:
        inputs = PriceInputs.from_request(request)
        ctx.price_inputs = inputs
        if ctx.end_user is not None:
            ctx.end_user = clip(ctx.end_user)
        if self.store_prompts:
            ctx.spend_prompt = prompt_text(request)
        now = time.time()
        end_user_budget = None
        if self.end_users is not None and ctx.end_user:
            end_user_budget = await self.end_users.budget(ctx.end_user, now)
        key = ctx.key
        group = self.group_of(ctx.model_group or "", key)
        if group != ctx.model_group:  # an alias: the request is for that group from here on
            ctx.model_group = request.model = group
        estimate = self.estimate(group, inputs, ctx.endpoint)
        holds: list[Hold] = []
        state = None
        if key is not None and not key.is_master:
            if not key.may_use(group):
                raise PermissionDeniedError(
                    f"This key may not use model '{group}' (allowed: {', '.join(key.models)}).",
                    param="model",
                    code="model_not_allowed",
                )
            state = self.keys.state(key.key_hash)
        if state is not None:
            if state.rpm is not None:
                state.rpm.hit(f"key '{state.info().alias}'")
            if state.tpm is not None:
                state.tpm.check(f"key '{state.info().alias}'")
            parallel = state.max_parallel_requests
            if parallel is not None and state.budget.in_flight >= parallel:
                raise ParallelLimitError(
                    f"Parallel request limit reached for key '{state.info().alias}': "
                    f"max_parallel_requests {parallel} requests in flight; retry when one ends.",
                    headers={"retry-after": "1"},
                    retry_after=1,
                )
            self.keys.roll_budget(state, now)
            ctx.key_spend = state.budget.spend
            state.budget.admit(estimate, now)
            holds.append(Hold(state.budget, estimate, state.budget.period, is_key=True))
        if end_user_budget is not None and self.end_users is not None:
            period = self.end_users.period_of(ctx.wall_time)
            admit_or_release(holds, Hold(end_user_budget, estimate, period), now)
        if self.proxy_budget is not None:
            self.proxy_budget.roll(now)
            overall = Hold(self.proxy_budget, estimate, self.proxy_budget.period, is_proxy=True)
            admit_or_release(holds, overall, now)
        ctx.budget_holds = holds

    def group_of(self, name: str, key: KeyInfo | None) -> str:
        """The model group a requested name means: the key's own ``aliases`` first, then
        ``router_settings.model_group_alias``, else the name itself."""
        if key is not None and name in key.aliases:
            return key.aliases[name]
        return self.group_aliases.get(name, name)

    def estimate(self, group: str, inputs: PriceInputs, endpoint: str) -> float:
        guess = self.pricer.estimate(group, inputs, endpoint)
        if guess is None:
            guess = self.observed.get(group, 0.0) * max(1, inputs.n)
        return guess

    # --- after ----------------------------------------------------------------------------

    def after(self, ctx: RequestContext) -> None:
        if ctx.accounted:
            return
        ctx.accounted = True
        if ctx.status >= 400 and ctx.cost is None:
            self.pricer(ctx)  # successes were priced by the endpoint; failures were not
        cost = ctx.cost
        if cost and ctx.model_group:
            self.observed[ctx.model_group] = max(self.observed.get(ctx.model_group, 0.0), cost)
        tokens = normalize(ctx.usage)
        if tokens is not None:
            self.count_tokens(ctx, tokens)
        key_period = 0
        for hold in budget_holds(ctx):
            hold.budget.settle(hold.estimate, cost, hold.period)
            if hold.is_key:
                key_period = hold.period
        self.writer.submit(self.record(ctx, key_period, tokens))

    def count_tokens(self, ctx: RequestContext, tokens: TokenUsage) -> None:
        """A key's ``tpm_limit`` counts the tokens its answers reported."""
        key = ctx.key
        if key is None or key.is_master:
            return
        state = self.keys.state(key.key_hash)
        if state is not None and state.tpm is not None:
            state.tpm.add(counted_tokens(tokens))

    def record(
        self, ctx: RequestContext, key_period: int, tokens: TokenUsage | None
    ) -> SpendRecord:
        key = ctx.key
        return SpendRecord(
            request_id=ctx.request_id,
            time=ctx.wall_time,
            endpoint=ctx.endpoint,
            status=ctx.status,
            key_hash=billed_key(key),
            key_alias=key.alias if key is not None else None,
            user_id=key.user_id if key is not None else None,
            end_user=ctx.end_user,
            model_group=clip(ctx.model_group),
            deployment_id=ctx.deployment_id,
            provider=ctx.provider,
            stream=ctx.stream,
            latency_ms=round(ctx.latency * 1000, 3),
            upstream_ms=round(ctx.upstream_seconds * 1000, 3),
            retries=ctx.retries,
            fallbacks=ctx.fallbacks,
            images=ctx.images,
            prompt_tokens=tokens.prompt_tokens if tokens else 0,
            completion_tokens=tokens.completion_tokens if tokens else 0,
            total_tokens=tokens.total if tokens else 0,
            cost=ctx.cost,
            cost_basis=str(ctx.cost_basis or ("unknown" if ctx.cost is None else "custom")),
            error_class=ctx.error_class,
            usage=ctx.usage if isinstance(ctx.usage, dict) else None,
            prompt=ctx.spend_prompt if self.store_prompts else None,
            key_period=key_period,
        )


def admit_or_release(holds: list[Hold], hold: Hold, now: float) -> None:
    """Admit ``hold`` and add it to ``holds``; refused, release ``holds`` first."""
    try:
        hold.budget.admit(hold.estimate, now)
    except Exception:
        for taken in holds:
            taken.budget.settle(taken.estimate, None, taken.period)
        raise
    holds.append(hold)


def prompt_text(request: Any) -> str | None:
    """The prompt's text only (never image data), clipped."""
    prompt = getattr(request, "prompt", None)
    if isinstance(prompt, str):
        return prompt[:PROMPT_LIMIT]
    messages = getattr(request, "messages", None)
    text_of = getattr(request, "text_of", None)
    if isinstance(messages, list) and callable(text_of):
        parts = [f"{m.get('role')}: {text_of(m)}" for m in messages if isinstance(m, dict)]
        return "\n".join(parts)[:PROMPT_LIMIT]
    return None
