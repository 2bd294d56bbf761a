"""The gateway's ASGI application: FastAPI with a front door.

Every HTTP request first passes ``App.__call__``, which

- drops a trailing slash (``/v1/images/generations/`` is the same route). Starlette would
  answer it with a 307 whose ``Location`` is rebuilt from the ``Host`` header: an open
  redirect for anyone who can set that header, and a dropped body for clients that do not
  follow redirects on POST;
- counts the request in flight until its last body byte (streams included) and makes its
  path available to the request record (``CURRENT_ROUTE``);
- sends a model endpoint's own path (``POST``, exact match) straight to its handler.

Everything else goes through FastAPI as usual: its router, 404/405 answers and exception
handlers. The OpenAPI document is built once, from each route's declared ``Operation``
(``proxy.api.openapi``); the model endpoints are in it like every other route. They handle
their own errors (``proxy.api.endpoint.run``), so those
layers only added work there: some ten coroutine frames and their calls on every model
request, which showed in the CPU per request and in the memory each held request costs
(``bench/``: small-c64, hold-c5000).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from proxy import __version__
from proxy.api.endpoint import error_response
from proxy.api.openapi import build_document
from proxy.api.routes import Endpoint
from proxy.errors import ProxyError
from proxy.observability.metrics import InFlight
from proxy.observability.record import CURRENT_ROUTE
from proxy.server.http import HttpLimits
from proxy.services import Services

NOT_IN_FLIGHT = ("/metrics", "/health")


DESCRIPTION = (
    "An OpenAI-compatible gateway for image generation: the OpenAI SDKs work against it "
    "unchanged (`base_url` = this server + `/v1`). Errors are OpenAI error bodies. "
    "Model requests accept parameters beyond those listed and forward them to the provider."
)


class App(FastAPI):
    """The application. ``services`` is everything the routes use (``request.app.services``);
    ``in_flight`` counts requests in flight (the metrics gauge); ``http_limits`` are the
    HTTP connection's limits (``proxy.server.http``)."""

    def __init__(
        self,
        services: Services | None = None,
        *,
        in_flight: InFlight | None = None,
        http_limits: HttpLimits | None = None,
        **kwargs: Any,
    ) -> None:
        # /openapi.json and /docs are the gateway's own routes (proxy.api.docs): served
        # with orjson, and the docs page from vendored assets, so it works offline.
        super().__init__(
            title="image-proxy",
            version=__version__,
            description=DESCRIPTION,
            openapi_url=None,
            docs_url=None,
            redoc_url=None,
            **kwargs,
        )
        self.router.redirect_slashes = False  # the front door serves those paths directly
        self.direct: dict[str, Endpoint] = {}  # exact path -> handler, POST only
        self.in_flight = in_flight
        self.http_limits = http_limits or HttpLimits()
        self.services = services  # None only in the front door's own tests

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            self.openapi_schema = build_document(
                self.routes, title=self.title, version=self.version, description=DESCRIPTION
            )
        return self.openapi_schema

    def serve_directly(self, path: str, endpoint: Endpoint) -> None:
        if "{" in path:
            raise ValueError(f"only exact paths are served directly, not {path!r}")
        self.direct[path] = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        path: str = scope["path"]
        if len(path) > 1 and path.endswith("/"):
            scope = dict(scope)
            path = scope["path"] = path.rstrip("/") or "/"
        token = CURRENT_ROUTE.set(path)
        in_flight = None if path.startswith(NOT_IN_FLIGHT) else self.in_flight
        if in_flight is not None:
            in_flight.inc()
        try:
            endpoint = self.direct.get(path) if scope["method"] == "POST" else None
            if endpoint is None or scope.get("root_path"):
                await super().__call__(scope, receive, send)
            else:  # the handler answers its own errors; a ProxyError raised before is one too
                scope["app"] = self
                try:
                    response = await endpoint(Request(scope, receive, send))
                except ProxyError as exc:
                    response = error_response(exc)
                await response(scope, receive, send)
        finally:
            if in_flight is not None:
                in_flight.dec()
            CURRENT_ROUTE.reset(token)
