"""GET /v1/models: public model names only, never parameters or secrets."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from proxy.api.endpoint import error_response, json_response
from proxy.errors import NotFoundError, ProxyError
from proxy.gateway import Gateway

router = APIRouter()


def _card(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "image-proxy"}


def visible_models(gateway: Gateway, allowed: tuple[str, ...]) -> list[str]:
    names = gateway.router.model_names()
    return [n for n in names if not allowed or n in allowed]


@router.get("/v1/models")
@router.get("/models", include_in_schema=False)
async def list_models(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    try:
        key = await gateway.auth.authenticate(request)
    except ProxyError as exc:
        return error_response(exc)
    names = visible_models(gateway, key.models)
    return json_response({"object": "list", "data": [_card(n) for n in names]})


@router.get("/v1/models/{model_id:path}")
@router.get("/models/{model_id:path}", include_in_schema=False)
async def get_model(request: Request, model_id: str) -> Response:
    gateway: Gateway = request.app.state.gateway
    try:
        key = await gateway.auth.authenticate(request)
        if model_id not in visible_models(gateway, key.models):
            raise NotFoundError(f"The model '{model_id}' does not exist.", param="model")
    except ProxyError as exc:
        return error_response(exc)
    return json_response(_card(model_id))
