"""Health probes: no auth, no upstream calls, no secrets."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from proxy.api.endpoint import json_response
from proxy.api.routes import route
from proxy.gateway import Gateway


async def liveness(request: Request) -> Response:
    return json_response({"status": "ok"})


async def readiness(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    deployments = gateway.config.deployments
    usable = sum(1 for d in deployments if d.available)
    checks = getattr(request.app.state, "readiness_checks", [])
    degraded = [name for name, check in checks if not check()]
    return json_response(
        {
            "status": "degraded" if degraded else "ok",
            "degraded": degraded,
            "model_groups": len(gateway.router.model_names()),
            "deployments": len(deployments),
            "deployments_usable": usable,
        }
    )


routes = [
    route("/health/liveness", liveness, "GET", "HEAD"),
    route("/health/liveliness", liveness, "GET", "HEAD"),
    route("/health/readiness", readiness, "GET", "HEAD"),
]
