"""The router: model group -> deployment, with retries, cooldowns, fallbacks and deadlines.

A model request enters by its kind (``generate_images``, ``stream_images``, ``complete_chat``,
``stream_chat``); each names its attempt in ``proxy.attempt`` (one try against one deployment:
build, sign, send, parse), and ``execute`` runs that attempt until one succeeds or nothing is
left to try:

1. choose a deployment of the group: usable (configured, not cooling down), ranked by the
   routing strategy, and granted a slot (``max_parallel_requests``, ``rpm`` / ``tpm``);
2. on failure, count it toward cooldowns, then retry when the error class allows it and
   ``num_retries`` is not spent: on another deployment at once, on the same one after a
   backoff (at least the provider's Retry-After), all within the request deadline;
3. when the group is spent, walk its fallbacks (each with its own retries), skipping any
   group the request's key may not use;
4. otherwise raise the group's error, its message listing what was tried.

Streams are primed to their first chunk inside the attempt: a stream that fails before any
byte reaches the client is retried like any other failure; once bytes flowed it is not.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, TypeVar

from proxy.attempt import chat, edits, images
from proxy.attempt.caller import Caller
from proxy.attempt.relay import StreamRelay
from proxy.config import DEFAULT_REQUEST_DEADLINE, Deployment, ProxyConfig
from proxy.context import RequestContext
from proxy.errors import NotFoundError, ProxyError, ServiceUnavailableError, UpstreamError
from proxy.routing.cooldown import Cooldown, Cooldowns
from proxy.routing.deadline import Deadline
from proxy.routing.errors import DeadlineExceededError, GroupAtCapacityError, GroupCooledDownError
from proxy.routing.fallbacks import FallbackPlan
from proxy.routing.retry import Backoff, may_retry_elsewhere, retry_limit
from proxy.routing.strategies import order
from proxy.routing.trail import RequestRun
from proxy.routing.usage import DeploymentStats, Refusal, Slot
from proxy.schemas import ChatRequest, ImageRequest
from proxy.schemas.edits import EditRequest, VariationRequest
from proxy.state.base import Clock, StateStore, SystemClock
from proxy.state.memory import MemoryState

T = TypeVar("T")
Attempt = Callable[[Deployment], Awaitable[T]]


def total_tokens(usage: dict[str, Any] | None) -> float | None:
    if not usage:
        return None
    total = usage.get("total_tokens")
    if isinstance(total, int | float):
        return float(total)
    parts = [
        usage.get(k)
        for k in ("input_tokens", "output_tokens", "prompt_tokens", "completion_tokens")
    ]
    found = [float(p) for p in parts if isinstance(p, int | float)]
    return sum(found) if found else None


def retry_after_header(seconds: float) -> dict[str, str]:
    return {"retry-after": str(max(1, math.ceil(seconds)))}


class Router:
    def __init__(
        self,
        config: ProxyConfig,
        caller: Caller,
        *,
        price: Callable[[RequestContext], None] | None = None,
        rng: random.Random | None = None,
        clock: Clock | None = None,
        state: StateStore | None = None,
    ) -> None:
        self.config = config
        self.settings = config.router
        self.groups: dict[str, tuple[Deployment, ...]] = {
            name: tuple(deps) for name, deps in config.groups().items()
        }
        self.caller = caller
        self.price = price  # a stream's final usage chunk carries its cost
        self._rng = rng or random.Random()
        self.clock = clock or SystemClock()
        self.state = state or MemoryState(self.clock)
        self.stats = DeploymentStats(self.state, self.settings)
        self.fallbacks = FallbackPlan(self.settings, set(self.groups))
        self.cooldowns = Cooldowns(self.state, self.clock, self.settings, self._may_cool)
        self.backoff = Backoff.from_settings(self.settings)
        longest = max((d.timeout for d in config.deployments), default=0.0)
        self.deadline_seconds = self.settings.request_deadline or max(
            DEFAULT_REQUEST_DEADLINE, longest
        )

    # --- the groups -------------------------------------------------------------------

    def model_names(self) -> list[str]:
        return list(self.groups)

    def wildcard_patterns(self) -> list[str]:
        return self.config.wildcards.patterns

    def wildcard_models(self, known: Sequence[str]) -> list[str]:
        """The ``known`` model names the wildcard routes serve, exact groups left out."""
        return [n for n in self.config.wildcards.listed(known) if n not in self.groups]

    def group(self, name: str) -> tuple[Deployment, ...]:
        """The deployments of ``name``: its group, else those of the most specific wildcard
        route matching it (``proxy.config.wildcards``)."""
        deps = self.groups.get(name)
        if deps is not None:
            return deps
        deps, why = self.config.wildcards.match(name)
        if deps:
            return deps
        reason = f" ({why})" if why else ""
        raise NotFoundError(
            f"The model '{name}' does not exist or is not served by this proxy{reason}.",
            param="model",
        )

    def candidates(self, name: str, need: edits.Capability | None = None) -> list[Deployment]:
        deps: Sequence[Deployment] = self.group(name)
        if need is not None:  # only deployments that can serve this kind of request
            deps = need.serving(name, deps)
        ready = [d for d in deps if d.available]
        if not ready:
            reasons = "; ".join(d.missing_env_message() for d in deps)
            raise ServiceUnavailableError(f"No deployment of model '{name}' is usable: {reasons}")
        return ready

    def deployment(self, deployment_id: str) -> Deployment | None:
        found = next((d for d in self.config.deployments if d.id == deployment_id), None)
        return found or self.config.wildcards.deployment(deployment_id)

    def _may_cool(self, deployment: Deployment) -> bool:
        """Resting helps only when traffic has somewhere else to go."""
        group = deployment.model_name
        deps = self.groups.get(group) or self.config.wildcards.match(group)[0]
        return len(deps) > 1 or self.fallbacks.configured_for(group)

    # --- the model requests, each by its attempt ---------------------------------------

    async def generate_images(self, ctx: RequestContext, request: ImageRequest) -> dict[str, Any]:
        attempt = partial(images.generate, self.caller, ctx, request)
        return await self.execute(ctx, request.model, attempt)

    async def stream_images(self, ctx: RequestContext, request: ImageRequest) -> images.ImageRelay:
        attempt = partial(images.open_stream, self.caller, ctx, request)
        return await self.execute(ctx, request.model, attempt)

    async def edit_images(self, ctx: RequestContext, request: EditRequest) -> dict[str, Any]:
        attempt = partial(edits.edit, self.caller, ctx, request)
        return await self.execute(ctx, request.model, attempt, edits.EDITS)

    async def stream_edits(self, ctx: RequestContext, request: EditRequest) -> images.ImageRelay:
        attempt = partial(edits.open_edit_stream, self.caller, ctx, request)
        return await self.execute(ctx, request.model, attempt, edits.EDITS)

    async def vary_images(self, ctx: RequestContext, request: VariationRequest) -> dict[str, Any]:
        attempt = partial(edits.vary, self.caller, ctx, request)
        return await self.execute(ctx, request.model, attempt, edits.VARIATIONS)

    async def complete_chat(self, ctx: RequestContext, request: ChatRequest) -> dict[str, Any]:
        attempt = partial(chat.complete, self.caller, ctx, request)
        return await self.execute(ctx, request.model, attempt)

    async def stream_chat(self, ctx: RequestContext, request: ChatRequest) -> chat.ChatRelay:
        attempt = partial(chat.open_stream, self.caller, ctx, request, self.price)
        return await self.execute(ctx, request.model, attempt)

    # --- one request ------------------------------------------------------------------

    async def execute(
        self,
        ctx: RequestContext,
        name: str,
        attempt: Attempt[T],
        need: edits.Capability | None = None,
    ) -> T:
        """Run ``attempt`` on group ``name`` (then its fallbacks); with ``need``, only on
        deployments that have that capability."""
        run = RequestRun(ctx, Deadline(self.clock, self.deadline_seconds))
        if ctx.requested_model is None:
            ctx.requested_model = name
        ctx.model_group = name
        try:
            return await self._run_group(run, name, attempt, need)
        except ProxyError as first:
            if isinstance(first, DeadlineExceededError) or ctx.fallbacks_disabled:
                raise run.explain(first) from None
            failed_on = (ctx.deployment_id, ctx.provider, ctx.deployment)
            for target in self.fallbacks.chain(name, first, ctx.requested_fallbacks, ctx.key):
                if run.deadline.expired:
                    run.note(f"{target}: not tried, the request deadline ran out")
                    break
                ctx.fallbacks += 1
                try:
                    return await self._run_group(run, target, attempt, need)
                except DeadlineExceededError:
                    break
                except ProxyError:
                    continue
            # the answer is the group's own error: the headers name what produced it
            ctx.model_group = name
            ctx.deployment_id, ctx.provider, ctx.deployment = failed_on
            raise run.explain(first) from None

    async def _run_group(
        self, run: RequestRun, name: str, attempt: Attempt[T], need: edits.Capability | None
    ) -> T:
        try:
            deps = self.candidates(name, need)
        except ProxyError as exc:
            run.group_failed(name, exc)
            raise
        failed: dict[str, ProxyError] = {}
        retries = 0
        while True:
            if run.deadline.expired:
                raise self._deadline_error(name)
            try:
                deployment, slot = await self._choose(name, deps, failed)
            except ProxyError as exc:
                run.group_failed(name, exc)
                raise
            try:
                return await self._attempt(run, name, deployment, slot, attempt)
            except DeadlineExceededError as exc:
                run.attempted(name, deployment, exc)
                raise
            except ProxyError as exc:
                run.attempted(name, deployment, exc)
                failed[deployment.id] = exc
                cooled = await self.cooldowns.record_failure(deployment, exc)
                if cooled is not None:
                    run.cooled(deployment.id)
                if not may_retry_elsewhere(exc):
                    raise
                if retries >= retry_limit(self.settings, deployment):
                    # retries are spent: still fail over to an untried deployment at once
                    if not (self.settings.failover and await self._untried(deps, failed)):
                        raise
                    delay = 0.0
                else:
                    wait = await self._retry_delay(run, deps, failed, retries + 1)
                    if wait is None:
                        raise
                    delay = wait
            retries += 1
            run.ctx.retries += 1
            if delay > 0:
                await self.clock.sleep(delay)

    def _usable(
        self, deps: list[Deployment], cooling: dict[str, Cooldown], failed: dict[str, ProxyError]
    ) -> list[Deployment]:
        return [
            d
            for d in deps
            if d.id not in cooling and (d.id not in failed or failed[d.id].retryable)
        ]

    async def _choose(
        self, name: str, deps: list[Deployment], failed: dict[str, ProxyError]
    ) -> tuple[Deployment, Slot]:
        cooling = await self.cooldowns.active(deps)
        usable = self._usable(deps, cooling, failed)
        if not usable:
            now = self.clock.time()
            wait = min((c.remaining(now) for c in cooling.values()), default=0.0)
            raise GroupCooledDownError(
                f"Every deployment of model '{name}' is cooling down after failures; "
                f"retry in {math.ceil(wait)}s.",
                headers=retry_after_header(wait),
                retry_after=wait,
            )
        fresh = [d for d in usable if d.id not in failed]
        ranked = await order(
            self.settings.routing_strategy,
            fresh or usable,
            self.stats,
            self._rng,
            self.settings.routing_strategy_args,
        )
        refusals: list[Refusal] = []
        for deployment in ranked:
            got = await self.stats.acquire(deployment)
            if isinstance(got, Slot):
                return deployment, got
            refusals.append(got)
        wait = min(r.retry_after for r in refusals)
        limits = ", ".join(sorted({r.reason for r in refusals}))
        raise GroupAtCapacityError(
            f"Every deployment of model '{name}' is at its limit ({limits}); "
            f"retry in {math.ceil(wait)}s.",
            headers=retry_after_header(wait),
            retry_after=wait,
        )

    async def _untried(self, deps: list[Deployment], failed: dict[str, ProxyError]) -> bool:
        cooling = await self.cooldowns.active(deps)
        return any(d.id not in failed for d in self._usable(deps, cooling, failed))

    async def _retry_delay(
        self,
        run: RequestRun,
        deps: list[Deployment],
        failed: dict[str, ProxyError],
        retry_number: int,
    ) -> float | None:
        """Seconds to wait before the next retry, or ``None`` when it cannot happen."""
        cooling = await self.cooldowns.active(deps)
        usable = self._usable(deps, cooling, failed)
        if any(d.id not in failed for d in usable):
            return 0.0  # another deployment takes it at once
        if usable:  # only deployments that failed retryably are left: back off
            hints = [failed[d.id].retry_after or 0.0 for d in usable]
            delay = self.backoff.delay(retry_number, self._rng, min(hints))
        else:  # all resting: worth waiting only for a rate-limit rest to end
            now = self.clock.time()
            rests = [
                c.remaining(now)
                for c in cooling.values()
                if c.rate_limited
                and (c.deployment_id not in failed or failed[c.deployment_id].retryable)
            ]
            if not rests:
                return None
            delay = max(min(rests), self.settings.retry_after)
        if not run.deadline.allows_wait(delay):
            run.note(
                f"a retry in {delay:.1f}s would not fit in the remaining "
                f"{run.deadline.remaining():.1f}s of the request deadline"
            )
            return None
        return delay

    def _deadline_error(self, name: str) -> DeadlineExceededError:
        return DeadlineExceededError(
            f"The request deadline of {self.deadline_seconds:g}s ran out for model '{name}'."
        )

    async def _attempt(
        self,
        run: RequestRun,
        name: str,
        deployment: Deployment,
        slot: Slot,
        attempt: Attempt[T],
    ) -> T:
        ctx = run.ctx
        ctx.model_group = name
        ctx.deployment_id, ctx.provider = deployment.id, deployment.provider
        ctx.deployment = deployment  # keeps a wildcard's concrete deployment findable by id
        started = self.clock.monotonic()
        try:
            async with asyncio.timeout(run.deadline.remaining()):
                result = await attempt(deployment)
                if isinstance(result, StreamRelay):
                    await result.prime()
        except TimeoutError:
            await slot.release()
            raise self._deadline_error(name) from None
        except ProxyError as exc:
            await slot.release()
            if exc.retryable:  # slow or failing: let latency-based routing see it
                await self.stats.record_latency(deployment, self.clock.monotonic() - started)
            raise
        except BaseException:
            await slot.release()
            raise
        elapsed = self.clock.monotonic() - started
        await self.stats.record_latency(deployment, elapsed)
        run.attempted(name, deployment, None)
        if isinstance(result, StreamRelay):  # the slot is held until the stream closes
            result.on_close(partial(self._stream_closed, run, deployment, slot))
            return result
        await slot.release(total_tokens(ctx.usage))
        return result

    async def _stream_closed(self, run: RequestRun, deployment: Deployment, slot: Slot) -> None:
        await slot.release(total_tokens(run.ctx.usage))
        if run.ctx.status >= 500:  # broke after bytes flowed: cannot retry, but counts
            failure = UpstreamError(f"{deployment.provider} stream broke")
            if await self.cooldowns.record_failure(deployment, failure) is not None:
                run.cooled(deployment.id)
