"""The router's state store, built with the gateway: shared (Redis) when ``router_settings``
names a Redis, else in-process. The app wiring around it (events, lifecycle, readiness) is
``proxy.replicas``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from proxy.config import ProxyConfig
from proxy.state.settings import redis_settings

if TYPE_CHECKING:  # the redis client library loads only when a Redis is configured
    from proxy.state.shared import SharedState


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
