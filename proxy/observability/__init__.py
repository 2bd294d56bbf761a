"""Observability: structured request logs, Prometheus metrics and callbacks.

All three read the finished ``RequestContext`` in post-call hooks; nothing here touches the
request path beyond appending to a queue or bumping a counter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from proxy.config import ProxyConfig
from proxy.context import RequestContext
from proxy.guardrails.engine import prompt_parts
from proxy.hooks import Observer, PreCall
from proxy.lifecycle import Lifecycle
from proxy.observability.callbacks import Callbacks
from proxy.observability.logging import log_request
from proxy.observability.metrics import Metrics
from proxy.observability.record import capture_prompt, remember_prompt
from proxy.observability.settings import ObservabilitySettings, parse_observability
from proxy.pacing import Pacer


@dataclass(frozen=True, slots=True)
class ObservabilityParts:
    settings: ObservabilitySettings
    metrics: Metrics
    keep_prompt: PreCall  # a pre-call stage: the prompt, for logs or for scrubbing echoes
    observers: tuple[Observer, ...]  # in order: metrics, the log line, callbacks
    lifecycle: Lifecycle


def build_observability(config: ProxyConfig, pacer: Pacer) -> ObservabilityParts:
    settings = parse_observability(dict(config.raw))
    metrics = Metrics(list(config.groups()), {d.id: d.model_name for d in config.deployments})

    async def keep_prompt(ctx: RequestContext, request: Any) -> None:
        if settings.log_prompts:
            capture_prompt(ctx, [p.text for p in prompt_parts(request)])
        else:  # only to scrub a provider's echo of it from the logged error message
            remember_prompt(ctx, request)

    http = None
    if settings.webhook is not None:
        import httpx  # only a webhook needs it

        http = httpx.AsyncClient(
            follow_redirects=False, trust_env=False, headers={"user-agent": "image-proxy-callbacks"}
        )

    def dropped(name: str, n: int) -> None:
        metrics.callback_dropped.labels(name).inc(n)

    callbacks = Callbacks(settings, http, dropped)
    observers: tuple[Observer, ...] = (metrics.observe, log_request)
    startup: tuple[Any, ...] = ()
    shutdown: list[Any] = []
    if callbacks:
        observers += (callbacks.on_request,)
        startup = (callbacks.start,)
        shutdown.append(callbacks.stop)
    if http is not None:
        shutdown.append(http.aclose)

    async def worker_exit() -> None:
        metrics.worker_exit()

    async def run_waiting_observers() -> None:
        pacer.close()

    # Last, so first at shutdown: observers still waiting for a quiet loop run before the
    # callbacks stop and the metrics files close.
    shutdown += [worker_exit, run_waiting_observers]
    return ObservabilityParts(
        settings=settings,
        metrics=metrics,
        keep_prompt=keep_prompt,
        observers=observers,
        lifecycle=Lifecycle(startup=startup, shutdown=tuple(shutdown)),
    )
