"""Router state for operators (master key only): cooldowns, in-flight calls, latencies.

``GET /router/cooldowns`` lists every deployment with its cooldown (if resting), in-flight
count and smoothed latency; ``DELETE /router/cooldowns/{deployment_id}`` ends a cooldown by
hand (after fixing a key, say). Deployment ids only: no parameter, URL or key is shown.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from proxy.api.endpoint import error_response, json_response
from proxy.api.routes import Operation, route
from proxy.errors import NotFoundError, PermissionDeniedError, ProxyError
from proxy.pipeline import Pipeline
from proxy.routing.router import Router
from proxy.schemas.admin import CooldownCleared, RouterState


async def _require_master(request: Request) -> Pipeline:
    pipeline: Pipeline = request.app.services.pipeline
    key = await pipeline.auth.authenticate(request)
    if not pipeline.auth.is_master(key):
        raise PermissionDeniedError("Only the master key may read or change router state.")
    return pipeline


async def deployment_states(r: Router) -> list[dict[str, Any]]:
    """Each deployment (config order) with its cooldown, calls in flight, smoothed latency."""
    deployments = list(r.config.deployments)
    active = await r.cooldowns.active(deployments)
    in_flight = await r.stats.in_flight(deployments)
    latencies = await r.stats.latencies(deployments)
    now = r.clock.time()
    rows = []
    for d, busy, latency in zip(deployments, in_flight, latencies, strict=True):
        entry = active.get(d.id)
        rows.append(
            {
                "deployment_id": d.id,
                "model_group": d.model_name,
                "provider": d.provider,
                "available": d.available,
                "cooling_down": entry is not None,
                "cooldown": entry.as_dict(now) if entry is not None else None,
                "in_flight": int(busy),
                "latency_seconds": round(latency, 4) if latency is not None else None,
            }
        )
    return rows


async def cooldowns(request: Request) -> Response:
    try:
        pipeline = await _require_master(request)
    except ProxyError as exc:
        return error_response(exc)
    r = pipeline.router
    rows = await deployment_states(r)
    return json_response(
        {
            "routing_strategy": r.settings.routing_strategy,
            "cooling_down": [row["deployment_id"] for row in rows if row["cooling_down"]],
            "deployments": rows,
        }
    )


async def clear_cooldown(request: Request) -> Response:
    deployment_id: str = request.path_params["deployment_id"]
    try:
        pipeline = await _require_master(request)
        deployment = pipeline.router.deployment(deployment_id)
        if deployment is None:
            raise NotFoundError(f"No deployment with id '{deployment_id}'.", code="not_found")
    except ProxyError as exc:
        return error_response(exc)
    await pipeline.router.cooldowns.clear(deployment)
    return json_response({"deployment_id": deployment_id, "cooling_down": False})


STATE = Operation(
    summary="Router state",
    tag="router",
    response=RouterState,
    description="Every deployment with its cooldown, calls in flight and smoothed latency.",
)
CLEAR = Operation(summary="End a cooldown", tag="router", response=CooldownCleared)
routes = [
    route("/router/cooldowns", cooldowns, "GET", doc=STATE),
    route("/router/cooldowns/{deployment_id}", clear_cooldown, "DELETE", doc=CLEAR),
]
