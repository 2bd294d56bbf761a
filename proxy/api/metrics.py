"""GET /metrics: Prometheus exposition (behind the master key when
``litellm_settings.require_auth_for_metrics_endpoint`` is true)."""

from __future__ import annotations

import asyncio

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response

from proxy.api.routes import Operation, route
from proxy.errors import PermissionDeniedError
from proxy.observability.metrics import Metrics
from proxy.observability.settings import ObservabilitySettings


async def metrics(request: Request) -> Response:
    settings: ObservabilitySettings = request.app.services.observability
    pipeline = request.app.services.pipeline
    if settings.metrics_require_auth:
        key = await pipeline.auth.authenticate(request)
        if not key.is_master:
            raise PermissionDeniedError("/metrics needs the master key.", code="forbidden")
    pipeline.hooks.pacer.drain()  # observers waiting for a quiet loop count before the scrape
    registry: Metrics = request.app.services.metrics
    body = await asyncio.to_thread(registry.exposition)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


SCRAPE = Operation(
    summary="Prometheus metrics",
    tag="operations",
    media_type="text/plain",
    errors=(401, 403),
    authenticated=False,
    description="Needs the master key when "
    "`litellm_settings.require_auth_for_metrics_endpoint` is true.",
)
# "/metrics/" too: the front door drops the slash
routes = [route("/metrics", metrics, "GET", doc=SCRAPE)]
