"""LiteLLM's model information routes: ``/model/info`` (one entry per deployment) and
``/model_group/info`` (one per public model name), for any key, listing only the groups the
key may use.

``litellm_params`` are shown through an allow-list: the provider model, the API base (without
user info or query), version, region and the limits. Keys, tokens, AWS secrets and credential
files are never among them, whatever the config holds.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import Response

from proxy.api.admin import admin
from proxy.api.endpoint import json_response
from proxy.api.routes import Operation, route
from proxy.config import Deployment
from proxy.pipeline import Pipeline
from proxy.providers.base import ImageEditor, ImageVariator, capable
from proxy.providers.registry import PROVIDERS
from proxy.schemas.admin import ModelGroupInfoList, ModelInfoList

SHOWN_PARAMS = (
    "api_version",
    "custom_llm_provider",
    "aws_region_name",
    "vertex_location",
    "rpm",
    "tpm",
    "max_parallel_requests",
    "timeout",
    "stream_timeout",
    "weight",
    "num_retries",
)


def public_base(url: str | None) -> str | None:
    """An API base fit to show: scheme, host, port and path only."""
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def public_params(d: Deployment) -> dict[str, Any]:
    out: dict[str, Any] = {"model": f"{d.provider}/{d.model}"}
    base = public_base(d.params.api_base)
    if base:
        out["api_base"] = base
    for name in SHOWN_PARAMS:
        value = d.param(name)
        if isinstance(value, str | int | float | bool):
            out[name] = value
    return out


def mode(d: Deployment) -> str:
    """``model_info.mode`` when set; else what the provider's model-kind test says of the
    model (a chat model served for ``/v1/chat/completions`` is ``chat``); else by what the
    provider serves."""
    if d.info.mode:
        return d.info.mode
    spec = PROVIDERS[d.provider]
    if spec.model_kind is not None and spec.model_kind(d.model) == "chat":
        return "chat"
    return "image_generation" if spec.images is not None else "chat"


def model_info(pipeline: Pipeline, d: Deployment) -> dict[str, Any]:
    spec = PROVIDERS[d.provider]
    entry = pipeline.pricer.entry(d)
    rates: dict[str, float] = {}
    for layer in reversed(entry.layers):  # the declared prices win
        rates.update(layer.rates)
    return {
        "id": d.id,
        "mode": mode(d),
        "litellm_provider": d.provider,
        **rates,
        "supports_image_generation": spec.images is not None,
        "supports_image_edit": capable(spec.images, ImageEditor),
        "supports_image_variation": capable(spec.images, ImageVariator),
        "supports_streaming": bool(spec.images is not None and spec.images.supports_stream),
        "available": d.available,
    }


async def visible(request: Request) -> tuple[Pipeline, list[Deployment]]:
    """The deployments of the groups the caller's key may use."""
    pipeline: Pipeline = request.app.services.pipeline
    key = await pipeline.auth.authenticate(request)
    return pipeline, [d for d in pipeline.config.deployments if key.may_use(d.model_name)]


async def deployments_info(request: Request) -> Response:
    async def handle() -> Response:
        pipeline, deployments = await visible(request)
        data = [
            {
                "model_name": d.model_name,
                "litellm_params": public_params(d),
                "model_info": model_info(pipeline, d),
            }
            for d in deployments
        ]
        return json_response({"data": data})

    return await admin(request, handle)


async def groups_info(request: Request) -> Response:
    async def handle() -> Response:
        pipeline, deployments = await visible(request)
        return json_response({"data": group_entries(pipeline, deployments)})

    return await admin(request, handle)


def group_entries(pipeline: Pipeline, deployments: list[Deployment]) -> list[dict[str, Any]]:
    groups: dict[str, list[Deployment]] = {}
    for d in deployments:
        groups.setdefault(d.model_name, []).append(d)
    data = []
    for name, deps in groups.items():
        first = model_info(pipeline, deps[0])
        data.append(
            {
                "model_group": name,
                "providers": sorted({d.provider for d in deps}),
                "mode": first["mode"],
                "deployments": len(deps),
                "rpm": total(d.params.rpm for d in deps),
                "tpm": total(d.params.tpm for d in deps),
                **{k: v for k, v in first.items() if k.endswith(("_cost_per_image", "_token"))},
                "supports_image_edit": any(
                    capable(PROVIDERS[d.provider].images, ImageEditor) for d in deps
                ),
            }
        )
    return data


def total(values: Any) -> int | None:
    """The sum of the deployments' limits, None when any is unlimited."""
    found = list(values)
    return None if any(v is None for v in found) else sum(found)


TAG = "models"
INFO = Operation(
    summary="Deployments (LiteLLM's model info)",
    tag=TAG,
    response=ModelInfoList,
    errors=(401,),
    description="One entry per deployment of the groups this key may use; `litellm_params` "
    "through an allow-list (never a key or credential).",
)
GROUPS = Operation(
    summary="Model groups (LiteLLM's model group info)",
    tag=TAG,
    response=ModelGroupInfoList,
    errors=(401,),
    description="One entry per public model name this key may use.",
)
routes = [
    route("/model/info", deployments_info, "GET", doc=INFO),
    route("/v1/model/info", deployments_info, "GET", doc=INFO),
    route("/model_group/info", groups_info, "GET", doc=GROUPS),
]
