"""Cooldowns: a deployment that keeps failing rests, so routing skips it.

- ``allowed_fails`` retryable failures (5xx, timeouts, connection errors) within a
  sliding minute: rest ``cooldown_time`` seconds;
- a ``cooldown`` error (the provider answered 401/403/404: misconfigured, will not heal by
  itself): rest ``cooldown_time`` at once;
- a 429 from the provider: rest only for its ``Retry-After``; without one, a short
  ``RATE_LIMIT_REST`` (capped by ``cooldown_time``): a rate limit is not a broken deployment.

A deployment that is the only one of its group, with no fallback configured, never rests:
resting would only turn the provider's own error into a 503 with nowhere else to go.
Re-cooling a resting deployment keeps the later of the two deadlines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import orjson

from proxy.config import Deployment, RouterSettings
from proxy.errors import ProxyError
from proxy.state.base import Clock, StateStore

FAIL_WINDOW = 60.0
RATE_LIMIT_REST = 1.0  # seconds a 429 without Retry-After rests its deployment


@dataclass(frozen=True, slots=True)
class Cooldown:
    deployment_id: str
    until: float  # wall-clock seconds
    reason: str  # the error code that caused it, or "too_many_failures"
    status: int
    rate_limited: bool

    def remaining(self, now: float) -> float:
        return max(0.0, self.until - now)

    def as_dict(self, now: float) -> dict[str, object]:
        return {
            "deployment_id": self.deployment_id,
            "reason": self.reason,
            "status": self.status,
            "rate_limited": self.rate_limited,
            "remaining_seconds": round(self.remaining(now), 3),
            "until": self.until,
        }


def _key(deployment_id: str) -> str:
    return f"cooldown:{deployment_id}"


def _fails_key(deployment_id: str) -> str:
    return f"fails:{deployment_id}"


class Cooldowns:
    def __init__(
        self,
        state: StateStore,
        clock: Clock,
        settings: RouterSettings,
        may_cool: Callable[[Deployment], bool],
    ) -> None:
        self.state = state
        self.clock = clock
        self.settings = settings
        self.may_cool = may_cool

    async def active(self, deployments: Iterable[Deployment]) -> dict[str, Cooldown]:
        ids = [d.id for d in deployments]
        values = await self.state.get_many([_key(i) for i in ids])
        now = self.clock.time()
        out: dict[str, Cooldown] = {}
        for dep_id, raw in zip(ids, values, strict=True):
            if raw is None:
                continue
            data = orjson.loads(raw)
            entry = Cooldown(dep_id, data["until"], data["reason"], data["status"], data["rl"])
            if entry.until > now:
                out[dep_id] = entry
        return out

    async def record_failure(self, deployment: Deployment, exc: ProxyError) -> Cooldown | None:
        """Count a failed attempt; the new cooldown when this failure started one."""
        if self.settings.disable_cooldowns or not self.may_cool(deployment):
            return None
        if exc.status == 429 and exc.retryable:
            rest = exc.retry_after
            if rest is None:
                rest = min(RATE_LIMIT_REST, self.settings.cooldown_time)
            return await self.cool(deployment, rest, exc.code or "rate_limited", 429, True)
        if exc.cooldown:
            return await self.cool(
                deployment, self.settings.cooldown_time, exc.code or exc.error_class, exc.status
            )
        if not exc.retryable:
            return None
        await self.state.window_add(_fails_key(deployment.id), 1, FAIL_WINDOW)
        fails = await self.state.window_total(_fails_key(deployment.id), FAIL_WINDOW)
        if fails >= max(1, self.settings.allowed_fails):
            return await self.cool(
                deployment, self.settings.cooldown_time, "too_many_failures", exc.status
            )
        return None

    async def cool(
        self,
        deployment: Deployment,
        seconds: float,
        reason: str,
        status: int,
        rate_limited: bool = False,
    ) -> Cooldown | None:
        if seconds <= 0:
            return None
        now = self.clock.time()
        until = now + seconds
        current = (await self.active([deployment])).get(deployment.id)
        if current is not None and current.until >= until:
            return None  # already resting at least as long
        entry = Cooldown(deployment.id, until, reason, status, rate_limited)
        value = {"until": until, "reason": reason, "status": status, "rl": rate_limited}
        await self.state.set_with_ttl(_key(deployment.id), orjson.dumps(value).decode(), seconds)
        return entry

    async def clear(self, deployment: Deployment) -> None:
        await self.state.delete(_key(deployment.id))
        await self.state.delete(_fails_key(deployment.id))
