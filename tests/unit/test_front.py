"""The front door: direct model paths, the trailing slash, in-flight counting, the route."""

from __future__ import annotations

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from proxy.api.routes import Operation, route
from proxy.errors import InvalidRequestError
from proxy.observability.record import CURRENT_ROUTE
from proxy.server.front import App


class Gauge:
    def __init__(self) -> None:
        self.value = 0.0
        self.seen: list[float] = []

    def inc(self, amount: float = 1) -> None:
        self.value += amount
        self.seen.append(self.value)

    def dec(self, amount: float = 1) -> None:
        self.value -= amount


def make_app() -> tuple[App, Gauge, list[str]]:
    calls: list[str] = []

    async def direct(request: Request) -> Response:
        calls.append("direct")
        if (await request.body()) == b"refuse":
            raise InvalidRequestError("refused by the handler", param="prompt")
        return JSONResponse({"route": CURRENT_ROUTE.get(), "path": request.url.path})

    async def routed(request: Request) -> Response:
        calls.append("routed")
        return JSONResponse({"route": CURRENT_ROUTE.get()})

    other = route("/other", routed, "GET", doc=Operation(summary="other", tag="test"))
    app = App(routes=[other])  # /v1/x: the front door only
    app.serve_directly("/v1/x", direct)
    gauge = Gauge()
    app.in_flight = gauge
    return app, gauge, calls


async def call(app: App, method: str, path: str, body: bytes = b"{}") -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as client:
        return await client.request(method, path, content=body)


async def test_a_direct_path_reaches_its_handler_counted_and_named() -> None:
    app, gauge, calls = make_app()
    for path in ("/v1/x", "/v1/x/"):
        r = await call(app, "POST", path)
        assert r.status_code == 200
        assert r.json() == {"route": "/v1/x", "path": "/v1/x"}
    assert calls == ["direct", "direct"]
    assert gauge.seen == [1, 1] and gauge.value == 0


async def test_a_proxy_error_from_a_direct_handler_is_an_openai_error_body() -> None:
    app, gauge, _ = make_app()
    r = await call(app, "POST", "/v1/x", b"refuse")
    assert r.status_code == 400
    assert r.json()["error"]["message"] == "refused by the handler"
    assert r.json()["error"]["param"] == "prompt"
    assert gauge.value == 0


async def test_other_methods_and_paths_go_through_starlette() -> None:
    app, gauge, calls = make_app()
    assert (await call(app, "GET", "/other/")).json() == {"route": "/other"}
    assert (await call(app, "GET", "/v1/x")).status_code == 404  # Starlette's answer
    assert calls == ["routed"]
    assert gauge.value == 0


def test_only_exact_paths_are_served_directly() -> None:
    app, _, _ = make_app()
    with pytest.raises(ValueError, match="exact paths"):
        app.serve_directly("/openai/deployments/{deployment}/x", app.direct["/v1/x"])
