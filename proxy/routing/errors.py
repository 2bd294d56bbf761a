"""Errors the router itself raises (on top of ``proxy/errors.py``)."""

from __future__ import annotations

from proxy.errors import (
    ProxyError,
    RateLimitError,
    ServiceUnavailableError,
    UpstreamTimeoutError,
)


class GroupCooledDownError(ServiceUnavailableError):
    """Every usable deployment of the group is cooling down: fail fast (or fall back)."""

    code = "all_deployments_cooling_down"


class GroupAtCapacityError(RateLimitError):
    """Every deployment is at its ``rpm`` / ``tpm`` / ``max_parallel_requests`` limit."""

    code = "deployments_at_capacity"
    fallback = True


class DeadlineExceededError(UpstreamTimeoutError):
    """The overall request deadline ran out: nothing more is tried."""

    code = "request_deadline_exceeded"
    retryable = False


def may_fall_back(exc: Exception) -> bool:
    if not isinstance(exc, ProxyError) or isinstance(exc, DeadlineExceededError):
        return False
    return (
        exc.retryable
        or exc.cooldown
        or isinstance(exc, ServiceUnavailableError)
        or getattr(exc, "fallback", False)
    )
