"""create_app(config): wires the gateway, the routes and the error handlers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from proxy.api import (
    chat,
    docs,
    files,
    health,
    images,
    keys,
    metrics,
    models,
    routing_admin,
    spend,
)
from proxy.api.endpoint import error_response
from proxy.api.front import GatewayApp
from proxy.config import ProxyConfig
from proxy.delivery.install import install_delivery
from proxy.errors import NotFoundError, ProxyError
from proxy.gateway import Gateway
from proxy.guardrails.setup import install_guardrails
from proxy.heap import settle as settle_heap
from proxy.keys.wiring import install_accounting
from proxy.observability import install_observability
from proxy.replicas import install_shared_state

log = logging.getLogger("proxy")


async def proxy_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProxyError)
    return error_response(exc)


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (no route: 404, wrong method: 405) as OpenAI error bodies."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(NotFoundError(f"No route {request.url.path}.", code="not_found"))
    err = ProxyError(str(exc.detail), status=exc.status_code, headers=dict(exc.headers or {}))
    err.type = "invalid_request_error"
    return error_response(err)


def create_app(config: ProxyConfig, gateway: Gateway | None = None) -> GatewayApp:
    gateway = gateway or Gateway.build(config)

    @asynccontextmanager
    async def lifespan(app: GatewayApp) -> AsyncIterator[None]:
        for start in app.state.on_startup:
            await start()
        settle_heap()
        try:
            yield
        finally:
            for stop in reversed(app.state.on_shutdown):
                try:
                    await stop()
                except Exception as exc:
                    log.error("shutdown step failed: %s", type(exc).__name__)
            await gateway.aclose()

    app = GatewayApp(
        lifespan=lifespan,
        exception_handlers={ProxyError: proxy_error, HTTPException: http_error},
    )
    app.state.gateway = gateway
    app.state.on_startup = []
    app.state.on_shutdown = []
    app.state.readiness_checks = []
    install_delivery(app, config)

    for module in (images, chat, models, health, files, routing_admin, metrics, keys, spend, docs):
        app.router.routes.extend(module.routes)
    for path, endpoint in (*images.direct, *chat.direct):
        app.serve_directly(path, endpoint)
    install_accounting(app, gateway)  # pricing, keys, budgets, spend logs (before metrics)
    install_observability(app, gateway)
    install_guardrails(app, gateway)
    install_shared_state(app, gateway)  # last: shares what the steps above installed
    return app
