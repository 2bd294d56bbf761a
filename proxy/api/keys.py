"""Virtual keys admin API (master key only): generate, info, update, delete, list."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from proxy.api.admin import admin, body_model, page_params, paged, query_str, require_master
from proxy.api.endpoint import json_response
from proxy.api.routes import Operation, route
from proxy.errors import InvalidRequestError, NotFoundError
from proxy.keys.records import KeyDelete, KeyFields, KeyUpdate
from proxy.keys.service import KeyService
from proxy.pipeline import Pipeline
from proxy.schemas.admin import (
    DeletedKeys,
    GeneratedKey,
    KeyInfoQuery,
    KeyInfoResponse,
    KeyPage,
    KeyView,
    PageQuery,
)


def key_service(request: Request) -> KeyService:
    service: KeyService = request.app.services.keys
    return service


def not_found() -> NotFoundError:
    return NotFoundError("No such key.", param="key", code="key_not_found")


async def generate(request: Request) -> Response:
    async def handle() -> Response:
        await require_master(request)
        fields = await body_model(request, KeyFields)
        key, state = await key_service(request).generate(fields)
        return json_response({"key": key, **state.public()})

    return await admin(request, handle)


async def info(request: Request) -> Response:
    async def handle() -> Response:
        pipeline: Pipeline = request.app.services.pipeline
        caller = await pipeline.auth.authenticate(request)
        service = key_service(request)
        wanted = query_str(request, "key")
        if not wanted:
            if caller.is_master:
                raise InvalidRequestError("'key' is required.", param="key")
            key_hash: str | None = caller.key_hash  # a key may always read itself
        else:
            await require_master(request)
            key_hash = await service.resolve(wanted)
        state = await service.info(key_hash) if key_hash else None
        if state is None:
            raise not_found()
        return json_response({"key": state.key_hash, "info": state.public()})

    return await admin(request, handle)


async def update(request: Request) -> Response:
    async def handle() -> Response:
        await require_master(request)
        fields = await body_model(request, KeyUpdate)
        service = key_service(request)
        key_hash = await service.resolve(fields.key)
        state = await service.update(key_hash, fields) if key_hash else None
        if state is None:
            raise not_found()
        return json_response(state.public())

    return await admin(request, handle)


async def delete(request: Request) -> Response:
    async def handle() -> Response:
        await require_master(request)
        body = await body_model(request, KeyDelete)
        if not body.keys and not body.key_aliases:
            raise InvalidRequestError("Give 'keys' (keys or key hashes) or 'key_aliases'.")
        service = key_service(request)
        hashes = []
        for value in [*body.keys, *body.key_aliases]:
            h = await service.resolve(value)
            if h is not None:
                hashes.append(h)
        deleted = await service.delete(hashes)
        if not deleted:
            raise not_found()
        return json_response({"deleted_keys": deleted})

    return await admin(request, handle)


async def list_keys(request: Request) -> Response:
    async def handle() -> Response:
        await require_master(request)
        page, size = page_params(request)
        items, total = await key_service(request).list((page - 1) * size, size)
        return json_response(paged(items, total, page, size, name="keys"))

    return await admin(request, handle)


TAG = "keys"
routes = [
    route(
        "/key/generate",
        generate,
        "POST",
        doc=Operation(
            summary="Create a virtual key", tag=TAG, body=KeyFields, response=GeneratedKey
        ),
    ),
    route(
        "/key/info",
        info,
        "GET",
        doc=Operation(summary="Read a key", tag=TAG, query=KeyInfoQuery, response=KeyInfoResponse),
    ),
    route(
        "/key/update",
        update,
        "POST",
        doc=Operation(summary="Change a key", tag=TAG, body=KeyUpdate, response=KeyView),
    ),
    route(
        "/key/delete",
        delete,
        "POST",
        doc=Operation(summary="Delete keys", tag=TAG, body=KeyDelete, response=DeletedKeys),
    ),
    route(
        "/key/list",
        list_keys,
        "GET",
        doc=Operation(summary="List keys", tag=TAG, query=PageQuery, response=KeyPage),
    ),
]
