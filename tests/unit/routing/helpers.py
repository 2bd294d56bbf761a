"""Building routers over fake attempts: no network, seeded randomness, a manual clock."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from proxy.attempt.caller import Caller
from proxy.config import Deployment, ProxyConfig
from proxy.configure import parse_config
from proxy.context import RequestContext
from proxy.routing.router import Router
from proxy.state.memory import MemoryState
from proxy.transport import Transport
from tests.fakes.clock import ManualClock


def make_config(groups: dict[str, list[dict[str, Any]]], **router: Any) -> ProxyConfig:
    """``{"g": [{params}, ...]}``: deployment ids are ``g-0``, ``g-1``…"""
    model_list = []
    for group, deployments in groups.items():
        for i, params in enumerate(deployments):
            model_list.append(
                {
                    "model_name": group,
                    "litellm_params": {
                        "model": "openai/gpt-image-1",
                        "api_key": "sk-test",
                        "api_base": f"http://upstream.invalid/{group}/{i}",
                        **params,
                    },
                    "model_info": {"id": f"{group}-{i}"},
                }
            )
    return parse_config({"model_list": model_list, "router_settings": router}, env={})


def make_router(
    groups: dict[str, list[dict[str, Any]]], seed: int = 7, **router: Any
) -> tuple[Router, ManualClock]:
    clock = ManualClock()
    router.setdefault("failover", False)  # tests of one rule at a time; failover has its own
    r = Router(
        make_config(groups, **router),
        Caller(Transport(), {}),  # unused: these tests run scripted attempts
        rng=random.Random(seed),
        clock=clock,
        state=MemoryState(clock),
    )
    return r, clock


Outcome = Any  # an exception to raise, a callable(deployment) -> awaitable, or a value


class Script:
    """A fake attempt: per deployment id, a queue of outcomes (the last one repeats)."""

    def __init__(self, outcomes: dict[str, list[Outcome]] | None = None, default: Any = None):
        self.outcomes = outcomes or {}
        self.default = default if default is not None else {"data": [{"b64_json": "x"}]}
        self.calls: list[str] = []

    async def __call__(self, deployment: Deployment) -> Any:
        self.calls.append(deployment.id)
        queue = self.outcomes.get(deployment.id)
        outcome = (queue.pop(0) if len(queue) > 1 else queue[0]) if queue else self.default
        if isinstance(outcome, BaseException):
            raise outcome
        if callable(outcome):
            return await outcome(deployment)
        return outcome


def ctx() -> RequestContext:
    return RequestContext("images")


def counts(ids: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for i in ids:
        out[i] = out.get(i, 0) + 1
    return out


Factory = Callable[..., tuple[Router, ManualClock]]
