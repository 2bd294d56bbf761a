"""Wiring shared state into the app: the Redis store under the router, the replica events
listener, start/stop with the app, and the readiness check (``redis``: degraded while the
breaker is open)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from starlette.applications import Starlette

from proxy.config import ProxyConfig
from proxy.state.settings import redis_settings

if TYPE_CHECKING:  # the redis client library loads only when a Redis is configured
    from proxy.gateway import Gateway
    from proxy.state.events import Events
    from proxy.state.shared import SharedState

log = logging.getLogger("proxy.state")


def build_state(config: ProxyConfig) -> SharedState | None:
    """The shared store when ``router_settings`` names a Redis; None: in-process state."""
    settings = redis_settings(config.router)
    if settings is None:
        return None
    from proxy.state.redis import RedisState, make_client
    from proxy.state.shared import SharedState

    client = make_client(settings)
    return SharedState(
        RedisState(client, settings.key_prefix, lease_ttl=settings.lease_ttl),
        retry_interval=settings.retry_interval,
        operation_timeout=2 * max(settings.socket_timeout, settings.connect_timeout),
    )


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

    from proxy.keys.replicas import install_replica_keys

    install_replica_keys(app, gateway, state, events)  # key limits, budgets, key changes
    return events
