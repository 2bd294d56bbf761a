"""Several replicas: wiring shared state into the app. The Redis store under the router (built
with the gateway, ``proxy.state.build``), the replica events listener, start/stop with the
app, the readiness check (``redis``: degraded while the breaker is open) and the key limits,
budgets and key changes shared across replicas (``proxy.keys.replicas``)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from starlette.applications import Starlette

from proxy.gateway import Gateway
from proxy.keys.replicas import install_replica_keys
from proxy.state.settings import redis_settings

if TYPE_CHECKING:  # the redis client library loads only when a Redis is configured
    from proxy.state.events import Events

log = logging.getLogger("proxy.state")


def install_shared_state(app: Starlette, gateway: Gateway) -> Events | None:
    settings = redis_settings(gateway.config.router)
    if settings is None:
        return None
    from proxy.state.events import Events
    from proxy.state.shared import SharedState

    state = gateway.router.state
    assert isinstance(state, SharedState)
    events = Events(
        state.redis.client,
        settings.key_prefix + "events",
        retry_interval=settings.retry_interval,
        operation_timeout=state.operation_timeout,
    )
    events.on_lost.append(state.breaker.trip)  # no request needed to notice an outage
    app.state.shared_state = state
    app.state.replica_events = events

    async def start() -> None:
        await state.start()
        events.start()
        log.info(
            "shared state: %s (prefix %r, lease %gs)",
            settings.describe(),
            settings.key_prefix,
            settings.lease_ttl,
        )

    async def stop() -> None:
        await events.aclose()
        await state.aclose()

    app.state.on_startup.append(start)
    app.state.on_shutdown.append(stop)
    app.state.readiness_checks.append(("redis", lambda: state.healthy))

    install_replica_keys(app, gateway, state, events)  # key limits, budgets, key changes
    return events
