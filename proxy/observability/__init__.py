"""Observability: structured request logs, Prometheus metrics and callbacks.

All three read the finished ``RequestContext`` in post-call hooks; nothing here touches the
request path beyond appending to a queue or bumping a counter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from proxy.context import RequestContext
from proxy.gateway import Gateway
from proxy.guardrails.engine import prompt_parts
from proxy.observability.callbacks import Callbacks
from proxy.observability.logging import log_request
from proxy.observability.metrics import InFlight, Metrics
from proxy.observability.record import capture_prompt, remember_prompt
from proxy.observability.settings import ObservabilitySettings, parse_observability

if TYPE_CHECKING:
    from starlette.datastructures import State


class ObservedApp(Protocol):
    """The app as observability installs into it (``proxy.api.front.GatewayApp``)."""

    state: State
    in_flight: InFlight | None


def install_observability(app: ObservedApp, gateway: Gateway) -> ObservabilitySettings:
    settings = parse_observability(dict(gateway.config.raw))
    metrics = Metrics(
        gateway.router.model_names(),
        {d.id: d.model_name for d in gateway.config.deployments},
    )
    app.state.metrics = metrics
    app.state.observability = settings
    app.in_flight = metrics.in_flight
    writer = getattr(app.state, "spend_writer", None)  # installed first (proxy.keys.wiring)
    if writer is not None:
        writer.refusal_listeners.append(lambda _refused: metrics.spend_dead_lettered.inc())

    async def keep_prompt(ctx: RequestContext, request: Any) -> None:
        if settings.log_prompts:
            capture_prompt(ctx, [p.text for p in prompt_parts(request)])
        else:  # only to scrub a provider's echo of it from the logged error message
            remember_prompt(ctx, request)

    gateway.hooks.pre_call.insert(0, keep_prompt)

    gateway.hooks.observers.append(metrics.observe)
    gateway.hooks.observers.append(log_request)

    http = None
    if settings.webhook is not None:
        import httpx  # only a webhook needs it

        http = httpx.AsyncClient(
            follow_redirects=False, trust_env=False, headers={"user-agent": "image-proxy-callbacks"}
        )

    def dropped(name: str, n: int) -> None:
        metrics.callback_dropped.labels(name).inc(n)

    callbacks = Callbacks(settings, http, dropped)
    app.state.callbacks = callbacks
    if callbacks:
        gateway.hooks.observers.append(callbacks.on_request)
        app.state.on_startup.append(callbacks.start)
        app.state.on_shutdown.append(callbacks.stop)
    if http is not None:
        app.state.on_shutdown.append(http.aclose)

    async def worker_exit() -> None:
        metrics.worker_exit()

    app.state.on_shutdown.append(worker_exit)

    async def run_waiting_observers() -> None:
        gateway.hooks.quiet.close()

    # Last in, so first at shutdown: observers still waiting for a quiet loop run before the
    # callbacks stop and the metrics files close.
    app.state.on_shutdown.append(run_waiting_observers)
    return settings
