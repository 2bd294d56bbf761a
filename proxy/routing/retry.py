"""Which failures are worth another attempt, where, and after how long.

The error's class decides (``proxy/errors.py``): ``retryable`` errors (429 from the provider,
5xx, timeouts, connection errors, malformed answers) may be retried on any deployment of the
group, the same one included; ``cooldown`` errors (401/403/404 from the provider: this
deployment is misconfigured) only on *another* deployment; everything else (400, content
policy, the caller's own limits) is final. A retry on another deployment goes at once; a
retry on the same deployment waits an exponential backoff with jitter, at least the
provider's ``Retry-After`` and ``router_settings.retry_after``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from proxy.config import Deployment, RouterSettings
from proxy.errors import ProxyError


def retry_limit(settings: RouterSettings, deployment: Deployment) -> int:
    """``litellm_params.num_retries`` of the deployment that failed, else the router's."""
    own = deployment.params.num_retries
    return own if own is not None else settings.num_retries


def may_retry_elsewhere(exc: ProxyError) -> bool:
    return exc.retryable or exc.cooldown


def may_retry_same(exc: ProxyError) -> bool:
    return exc.retryable


@dataclass(frozen=True, slots=True)
class Backoff:
    base: float = 0.5
    cap: float = 8.0
    floor: float = 0.0  # router_settings.retry_after

    @classmethod
    def from_settings(cls, settings: RouterSettings) -> Backoff:
        return cls(settings.retry_backoff_base, settings.retry_backoff_max, settings.retry_after)

    def delay(self, retry_number: int, rng: random.Random, retry_after: float | None) -> float:
        """Seconds before retry ``retry_number`` (1-based) on the same deployment: half to all
        of ``base * 2**(n-1)`` capped at ``cap``, never less than the provider's hint."""
        exp = min(self.cap, self.base * (2 ** max(0, retry_number - 1)))
        jittered = exp * rng.uniform(0.5, 1.0)
        return float(max(jittered, self.floor, retry_after or 0.0))
