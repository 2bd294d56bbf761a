"""Health probes: no auth, no upstream calls, no secrets."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from proxy.api.endpoint import json_response
from proxy.api.routes import Operation, route
from proxy.schemas.admin import Liveness, Readiness
from proxy.services import Services


async def liveness(request: Request) -> Response:
    return json_response({"status": "ok"})


async def readiness(request: Request) -> Response:
    services: Services = request.app.services
    pipeline = services.pipeline
    deployments = pipeline.config.deployments
    usable = sum(1 for d in deployments if d.available)
    degraded = services.degraded()
    return json_response(
        {
            "status": "degraded" if degraded else "ok",
            "degraded": degraded,
            "model_groups": len(pipeline.router.model_names()),
            "deployments": len(deployments),
            "deployments_usable": usable,
        }
    )


LIVE = Operation(
    summary="Liveness probe", tag="health", response=Liveness, errors=(), authenticated=False
)
READY = Operation(
    summary="Readiness probe",
    tag="health",
    response=Readiness,
    errors=(),
    authenticated=False,
    description="`degraded` names what does not work (the spend database, shared state, ...).",
)
routes = [
    route("/health/liveness", liveness, "GET", "HEAD", doc=LIVE),
    route("/health/liveliness", liveness, "GET", "HEAD", doc=LIVE),
    route("/health/readiness", readiness, "GET", "HEAD", doc=READY),
]
