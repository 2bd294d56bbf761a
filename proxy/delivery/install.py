"""Wiring: the delivery service on the app, its lifespan and its pre-call hook."""

from __future__ import annotations

from starlette.applications import Starlette

from proxy.config import ProxyConfig
from proxy.delivery.chat import take_image_format
from proxy.delivery.service import Delivery


def install_delivery(app: Starlette, config: ProxyConfig) -> Delivery:
    """Create the delivery service for ``app``, tied to the app's lifespan and hooks."""
    delivery = Delivery.from_config(config)
    app.state.delivery = delivery
    app.state.on_startup.append(delivery.start)
    app.state.on_shutdown.append(delivery.aclose)
    app.state.gateway.hooks.pre_call.append(take_image_format)
    return delivery
