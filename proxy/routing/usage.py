"""Per-deployment load: in-flight calls, recent latency, requests and tokens per minute.

``acquire`` takes a slot before an attempt (refused when ``max_parallel_requests`` calls are
already in flight, or, under usage-based routing, when the sliding minute is at ``rpm`` /
``tpm``); the slot is released when the answer (or the whole stream) is over. A slot is a
``hold`` on the state store: with shared state, a lease of the replica that took it, so the
slots of a replica that died come back by themselves (``proxy/state/redis.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from proxy.config import Deployment, RouterSettings
from proxy.state.base import StateStore

MINUTE = 60.0
PARALLEL_RETRY_AFTER = 1.0


def _in_flight(dep_id: str) -> str:
    return f"inflight:{dep_id}"


def _latency(dep_id: str) -> str:
    return f"latency:{dep_id}"


def _rpm(dep_id: str) -> str:
    return f"rpm:{dep_id}"


def _tpm(dep_id: str) -> str:
    return f"tpm:{dep_id}"


@dataclass(slots=True)
class Refusal:
    reason: str
    retry_after: float


class Slot:
    """One attempt's hold on a deployment; ``release`` exactly once."""

    def __init__(self, stats: DeploymentStats, deployment: Deployment) -> None:
        self._stats = stats
        self.deployment = deployment
        self._released = False

    async def release(self, tokens: float | None = None) -> None:
        if self._released:
            return
        self._released = True
        await self._stats.release(self.deployment, tokens)


class DeploymentStats:
    def __init__(self, state: StateStore, settings: RouterSettings) -> None:
        self.state = state
        self.settings = settings
        args = settings.routing_strategy_args
        self.latency_ttl = args.ttl
        self.smoothing = args.latency_smoothing
        self.enforce_usage = settings.routing_strategy == "usage-based-routing"
        # Only latency-based routing reads latencies: under any other strategy recording
        # them cost a read and a write to the shared state (two Redis calls) per request.
        self.track_latency = settings.routing_strategy == "latency-based-routing"

    def max_parallel(self, deployment: Deployment) -> int | None:
        own = deployment.params.max_parallel_requests
        return own if own is not None else self.settings.default_max_parallel_requests

    async def acquire(self, deployment: Deployment) -> Slot | Refusal:
        limit = self.max_parallel(deployment)
        if await self.state.hold(_in_flight(deployment.id), 1, limit) is not None:
            return Refusal(f"max_parallel_requests={limit}", PARALLEL_RETRY_AFTER)
        if self.enforce_usage:
            refusal = await self._usage_room(deployment)
            if refusal is not None:
                await self.state.release(_in_flight(deployment.id), 1)
                return refusal
        return Slot(self, deployment)

    async def _usage_room(self, deployment: Deployment) -> Refusal | None:
        tpm = deployment.params.tpm
        if tpm is not None:
            # amount 0 against tpm - 1: refused once the minute holds tpm tokens already
            wait = await self.state.window_reserve(_tpm(deployment.id), 0.0, tpm - 1, MINUTE)
            if wait is not None:
                return Refusal(f"tpm={tpm}", wait)
        rpm = deployment.params.rpm
        if rpm is not None:
            wait = await self.state.window_reserve(_rpm(deployment.id), 1.0, rpm, MINUTE)
            if wait is not None:
                return Refusal(f"rpm={rpm}", wait)
        return None

    async def release(self, deployment: Deployment, tokens: float | None) -> None:
        await self.state.release(_in_flight(deployment.id), 1)
        if tokens and deployment.params.tpm is not None:
            await self.state.window_add(_tpm(deployment.id), tokens, MINUTE)

    async def in_flight(self, deployments: list[Deployment]) -> list[float]:
        return await self.state.held_totals([_in_flight(d.id) for d in deployments])

    async def latencies(self, deployments: list[Deployment]) -> list[float | None]:
        values = await self.state.get_many([_latency(d.id) for d in deployments])
        return [float(v) if v is not None else None for v in values]

    async def record_latency(self, deployment: Deployment, seconds: float) -> None:
        if not self.track_latency:
            return
        previous = await self.state.get(_latency(deployment.id))
        value = seconds
        if previous is not None:
            value = self.smoothing * seconds + (1 - self.smoothing) * float(previous)
        await self.state.set_with_ttl(_latency(deployment.id), repr(value), self.latency_ttl)

    async def requests_this_minute(self, deployments: list[Deployment]) -> list[float]:
        return [await self.state.window_total(_rpm(d.id), MINUTE) for d in deployments]

    async def tokens_this_minute(self, deployments: list[Deployment]) -> list[float]:
        return [await self.state.window_total(_tpm(d.id), MINUTE) for d in deployments]
