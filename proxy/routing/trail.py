"""What one request tried: attempts, waits, cooldowns it caused, for the final error message
and for the logs and metrics (``ctx.attempts``, ``ctx.cooldowns``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from proxy.config import Deployment
from proxy.context import RequestContext
from proxy.errors import ProxyError
from proxy.routing.deadline import Deadline


@dataclass
class RequestRun:
    ctx: RequestContext
    deadline: Deadline
    trail: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.ctx.attempts is None:
            self.ctx.attempts = []
        if self.ctx.cooldowns is None:
            self.ctx.cooldowns = []

    @property
    def attempts(self) -> list[dict[str, Any]]:
        assert self.ctx.attempts is not None
        return self.ctx.attempts

    def attempted(self, group: str, deployment: Deployment, exc: ProxyError | None) -> None:
        self.attempts.append(
            {
                "model_group": group,
                "deployment_id": deployment.id,
                "provider": deployment.provider,
                "status": exc.status if exc is not None else 200,
                "error": exc.error_class if exc is not None else None,
            }
        )
        if exc is not None:
            self.trail.append(f"{group}/{deployment.id}: {exc.status} {exc.code or exc.type}")

    def group_failed(self, group: str, exc: ProxyError) -> None:
        self.trail.append(f"{group}: {exc.status} {exc.code or exc.type}")

    def note(self, text: str) -> None:
        self.trail.append(text)

    def cooled(self, deployment_id: str) -> None:
        cooled = self.ctx.cooldowns
        assert cooled is not None
        if deployment_id not in cooled:
            cooled.append(deployment_id)

    def explain(self, exc: ProxyError) -> ProxyError:
        """``exc`` with what was tried appended, when more than one thing was."""
        if len(self.trail) > 1 or self.ctx.fallbacks or self.ctx.retries:
            exc.message = f"{exc.message} [tried: {'; '.join(self.trail)}]"
        return exc
