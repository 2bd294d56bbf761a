"""The router: model group -> deployment, and the attempt loop around one call.

``execute`` runs one *attempt* (a coroutine that calls one deployment and raises a
``ProxyError`` on failure) against a deployment of the group. Deployments whose
configuration is incomplete (a missing environment variable) are never chosen; when nothing
else is left the caller gets a 503 that names what is missing.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from proxy.config import Deployment, ProxyConfig
from proxy.context import RequestContext
from proxy.credentials.base import Credentials
from proxy.errors import NotFoundError, ProxyError, ServiceUnavailableError
from proxy.providers.registry import PROVIDERS

T = TypeVar("T")
Attempt = Callable[[Deployment], Awaitable[T]]


class Router:
    def __init__(self, config: ProxyConfig, *, rng: random.Random | None = None) -> None:
        self.config = config
        self.groups: dict[str, tuple[Deployment, ...]] = {
            name: tuple(deps) for name, deps in config.groups().items()
        }
        self.credentials: dict[str, Credentials] = {
            d.id: PROVIDERS[d.provider].credentials(d) for d in config.deployments if d.available
        }
        self._rng = rng or random.Random()

    def model_names(self) -> list[str]:
        return list(self.groups)

    def group(self, name: str) -> tuple[Deployment, ...]:
        deps = self.groups.get(name)
        if deps is None:
            raise NotFoundError(
                f"The model '{name}' does not exist or is not served by this proxy.",
                param="model",
            )
        return deps

    def candidates(self, name: str) -> list[Deployment]:
        deps = self.group(name)
        ready = [d for d in deps if d.available]
        if not ready:
            reasons = "; ".join(d.missing_env_message() for d in deps)
            raise ServiceUnavailableError(f"No deployment of model '{name}' is usable: {reasons}")
        return ready

    def pick(self, name: str) -> Deployment:
        return self._rng.choice(self.candidates(name))

    async def execute(self, ctx: RequestContext, name: str, attempt: Attempt[T]) -> T:
        ctx.model_group = name
        deployment = self.pick(name)
        ctx.deployment_id = deployment.id
        ctx.provider = deployment.provider
        started = time.perf_counter()
        try:
            return await attempt(deployment)
        except ProxyError:
            raise
        finally:
            ctx.extra.setdefault("attempt_seconds", time.perf_counter() - started)
