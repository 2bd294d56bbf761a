"""``GET /router/deployments`` (master key only): every deployment with its provider, what it
supports, what it learned from its upstream (OpenRouter: which endpoint serves it), the
router's state of it (cooldown, calls in flight, smoothed latency) and its
recent traffic from the spend logs (requests, error rate, mean latency, spend in the last
hour). Deployment ids and names only: no parameter, URL or key is shown."""

from __future__ import annotations

import time
from typing import cast

from starlette.requests import Request
from starlette.responses import Response

from proxy.api.admin import admin, require_master
from proxy.api.endpoint import json_response
from proxy.api.routes import Operation, route
from proxy.api.routing_admin import deployment_states
from proxy.api.spend import fresh_store
from proxy.attempt.discovery import learned_facts
from proxy.config.deployment import Deployment
from proxy.db.database import with_timeout
from proxy.db.reports import Traffic, deployment_traffic
from proxy.pipeline import Pipeline
from proxy.providers.base import ImageEditor
from proxy.providers.registry import PROVIDERS, edit_refusal
from proxy.schemas.console import DeploymentList

RECENT_SECONDS = 3600


def capabilities(deployment: Deployment) -> dict[str, bool]:
    spec = PROVIDERS[deployment.provider]
    images = spec.images
    can_edit = images is not None and edit_refusal(deployment, spec) is None
    edit_stream = can_edit and cast(ImageEditor, images).supports_edit_stream
    return {
        "generate": images is not None,
        "edit": can_edit,
        "chat_images": spec.chat is not None,
        "stream": images is not None and images.supports_stream,
        "edit_stream": edit_stream,
    }


async def deployments(request: Request) -> Response:
    async def handle() -> Response:
        await require_master(request)
        pipeline: Pipeline = request.app.services.pipeline
        r = pipeline.router
        store = await fresh_store(request)
        traffic = await with_timeout(deployment_traffic(store, time.time() - RECENT_SECONDS))
        rows = await deployment_states(r)
        for d, row in zip(r.config.deployments, rows, strict=True):
            row["mode"] = d.info.mode
            row["supports"] = capabilities(d)
            row["learned"] = learned_facts(d)
            row["recent"] = traffic.get(d.id, Traffic()).public(RECENT_SECONDS)
        return json_response({"routing_strategy": r.settings.routing_strategy, "deployments": rows})

    return await admin(request, handle)


routes = [
    route(
        "/router/deployments",
        deployments,
        "GET",
        doc=Operation(
            summary="Deployments",
            tag="router",
            response=DeploymentList,
            description="Every deployment: provider, what it supports (generate, edit, chat "
            "images, stream), cooldown, calls in flight, the router's smoothed latency, and "
            "the last hour's requests, error rate, mean latency and spend from the spend logs.",
        ),
    ),
]
