"""GET /v1/models: public model names only, never parameters or secrets."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from proxy.api.endpoint import error_response, json_response
from proxy.api.routes import Operation, route
from proxy.context import KeyInfo
from proxy.errors import NotFoundError, ProxyError
from proxy.pipeline import Pipeline
from proxy.schemas.wire import ModelCard, ModelList


def _card(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "image-proxy"}


def visible_models(pipeline: Pipeline, key: KeyInfo, wildcards: bool = False) -> list[str]:
    """The groups ``key`` may use, then the models the price table knows that a wildcard
    route serves (as LiteLLM lists a wildcard route's known models); with ``wildcards``
    (LiteLLM's ``return_wildcard_routes``) the routes' patterns too; then the aliases."""
    router = pipeline.router
    names = [*router.model_names(), *router.wildcard_models(pipeline.pricer.table.model_names)]
    if wildcards:
        names = [*names, *router.wildcard_patterns()]
    visible = [n for n in names if key.may_use(n)]
    aliases = pipeline.config.router.group_aliases().items()
    # model_group_alias names (not the hidden ones) of groups the key may use
    return visible + [a for a, t in aliases if not t.hidden and key.may_use(t.model)]


async def list_models(request: Request) -> Response:
    pipeline: Pipeline = request.app.services.pipeline
    try:
        key = await pipeline.auth.authenticate(request)
    except ProxyError as exc:
        return error_response(exc)
    wildcards = request.query_params.get("return_wildcard_routes", "").lower() == "true"
    names = visible_models(pipeline, key, wildcards)
    return json_response({"object": "list", "data": [_card(n) for n in names]})


async def get_model(request: Request) -> Response:
    model_id: str = request.path_params["model_id"]
    pipeline: Pipeline = request.app.services.pipeline
    try:
        key = await pipeline.auth.authenticate(request)
        if model_id not in visible_models(pipeline, key):
            raise NotFoundError(f"The model '{model_id}' does not exist.", param="model")
    except ProxyError as exc:
        return error_response(exc)
    return json_response(_card(model_id))


LIST = Operation(
    summary="List models",
    tag="models",
    response=ModelList,
    errors=(401,),
    description="The public model names this key may use.",
)
GET = Operation(summary="Retrieve a model", tag="models", response=ModelCard, errors=(401, 404))
routes = [
    route("/v1/models", list_models, "GET", doc=LIST),
    route("/models", list_models, "GET", doc=LIST),
    route("/v1/models/{model_id:path}", get_model, "GET", doc=GET),
    route("/models/{model_id:path}", get_model, "GET", doc=GET),
]
