"""create_app(config): wires the gateway, the routers and the error handlers."""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from proxy.api import chat, files, health, images, metrics, models, routing_admin
from proxy.api.endpoint import error_response
from proxy.api.paths import StripTrailingSlash
from proxy.config import ProxyConfig
from proxy.delivery.install import install_delivery
from proxy.errors import InvalidRequestError, NotFoundError, ProxyError
from proxy.gateway import Gateway
from proxy.guardrails.setup import install_guardrails
from proxy.heap import settle as settle_heap
from proxy.keys.wiring import install_accounting
from proxy.observability import install_observability
from proxy.state.install import install_shared_state

log = logging.getLogger("proxy")


def _no_telemetry() -> dict[str, Any]:
    """Newer FastAPI checks OpenTelemetry providers on every request (an environment lookup
    each time); the gateway exports its own metrics, so switch that off where it exists."""
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters:
        return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    return {}


def create_app(config: ProxyConfig, gateway: Gateway | None = None) -> FastAPI:
    gateway = gateway or Gateway.build(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
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

    app = FastAPI(
        title="image-proxy",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,
        **_no_telemetry(),
    )
    app.state.gateway = gateway
    app.state.on_startup = []
    app.state.on_shutdown = []
    app.state.readiness_checks = []
    install_delivery(app, config)

    for module in (images, chat, models, health, files, routing_admin, metrics):
        app.include_router(module.router)
    install_accounting(app, gateway)  # pricing, keys, budgets, spend logs (before metrics)
    install_observability(app, gateway)
    install_guardrails(app, gateway)
    install_shared_state(app, gateway)  # last: shares what the steps above installed
    app.add_middleware(StripTrailingSlash)  # outermost: routing sees the canonical path

    @app.exception_handler(ProxyError)
    async def _proxy_error(request: Request, exc: ProxyError) -> Response:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error_response(InvalidRequestError(f"{where}: {first.get('msg', 'invalid')}"))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 404:
            return error_response(NotFoundError(f"No route {request.url.path}.", code="not_found"))
        err = ProxyError(str(exc.detail), status=exc.status_code, headers=dict(exc.headers or {}))
        err.type = "invalid_request_error"
        return error_response(err)

    return app
