"""Health: the probes (no auth, no upstream calls) and LiteLLM's ``GET /health`` (master key
only): every deployment probed at once by a ``GET`` that generates nothing
(``proxy.attempt.probe``), each bounded by a timeout; no secrets in the answer."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from proxy.api.admin import admin, query_str, require_master
from proxy.api.endpoint import json_response
from proxy.api.model_info import public_base
from proxy.api.routes import Operation, route
from proxy.attempt.probe import ProbeResult, probe_all
from proxy.errors import NotFoundError
from proxy.pipeline import Pipeline
from proxy.schemas.admin import HealthQuery, HealthReport, Liveness, Readiness
from proxy.services import Services

PROBE_TIMEOUT = 10.0  # seconds, each deployment; all run at once


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


async def endpoints(request: Request) -> Response:
    async def handle() -> Response:
        await require_master(request)
        pipeline: Pipeline = request.app.services.pipeline
        group = query_str(request, "model")
        model_id = query_str(request, "model_id")
        chosen = [
            d
            for d in pipeline.config.deployments
            if (group is None or d.model_name == group) and (model_id is None or d.id == model_id)
        ]
        if (group or model_id) and not chosen:
            raise NotFoundError("No deployment matches.", param="model_id" if model_id else "model")
        results = await probe_all(pipeline.caller, chosen, PROBE_TIMEOUT)
        healthy = [endpoint(r) for r in results if r.healthy]
        unhealthy = [endpoint(r) for r in results if not r.healthy]
        return json_response(
            {
                "healthy_endpoints": healthy,
                "unhealthy_endpoints": unhealthy,
                "healthy_count": len(healthy),
                "unhealthy_count": len(unhealthy),
            }
        )

    return await admin(request, handle)


def endpoint(result: ProbeResult) -> dict[str, object]:
    d = result.deployment
    out: dict[str, object] = {
        "model": f"{d.provider}/{d.model}",
        "model_name": d.model_name,
        "model_id": d.id,
        "api_base": public_base(d.params.api_base),
        "status_code": result.status,
    }
    if result.error is not None:
        out["error"] = result.error
    return out


ENDPOINTS = Operation(
    summary="Probe every deployment (LiteLLM's /health)",
    tag="health",
    query=HealthQuery,
    response=HealthReport,
    description="Master key only. Each deployment is probed at once by a GET of its API URL "
    f"with its credentials (nothing is generated), at most {PROBE_TIMEOUT:g} s each.",
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
    route("/health", endpoints, "GET", doc=ENDPOINTS),
]
