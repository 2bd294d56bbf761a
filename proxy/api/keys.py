"""Virtual keys admin API (master key only; a key may read itself with ``/key/info``):
generate, info, update, delete, list, block, unblock, in LiteLLM's shapes."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from proxy.api.admin import (
    admin,
    body_model,
    page_params,
    paged,
    query_bool,
    query_str,
    require_master,
)
from proxy.api.endpoint import json_response
from proxy.api.routes import Operation, route
from proxy.db.database import KeyFilter
from proxy.errors import InvalidRequestError, NotFoundError
from proxy.keys.records import KeyDelete, KeyFields, KeyUpdate
from proxy.keys.service import KeyService
from proxy.pipeline import Pipeline
from proxy.schemas.admin import (
    DeletedKeys,
    GeneratedKey,
    KeyInfoQuery,
    KeyInfoResponse,
    KeyListQuery,
    KeyPage,
    KeyRef,
    KeyView,
    UpdatedKey,
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
        warnings = fields.warnings(fields.model_fields_set)
        body = {"key": key, "key_name": state.row["key_name"], **state.public()}
        return json_response({**body, "warnings": warnings}, headers=warning_header(warnings))

    return await admin(request, handle)


def warning_header(warnings: list[str]) -> dict[str, str]:
    """The fields stored but not acted on, named in a header too (ASCII field names only)."""
    if not warnings:
        return {}
    names = ", ".join(w.split(":", 1)[0] for w in warnings)
    return {"x-image-proxy-warning": f"stored, not acted on: {names}"}


async def info(request: Request) -> Response:
    """A key reads itself (without ``key``, or naming itself); the master key reads any."""

    async def handle() -> Response:
        pipeline: Pipeline = request.app.services.pipeline
        caller = await pipeline.auth.authenticate(request)
        service = key_service(request)
        wanted = query_str(request, "key")
        if not wanted:
            if caller.is_master:
                raise InvalidRequestError("'key' is required.", param="key")
            key_hash: str | None = caller.key_hash
        else:
            key_hash = await service.resolve(wanted)
            if key_hash != caller.key_hash or caller.is_master:
                await require_master(request)
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
        warnings = fields.warnings(fields.model_fields_set)
        return json_response(
            {**state.public(), "warnings": warnings}, headers=warning_header(warnings)
        )

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
        where = KeyFilter(
            key_alias=query_str(request, "key_alias"),
            user_id=query_str(request, "user_id"),
            team_id=query_str(request, "team_id"),
        )
        items, total = await key_service(request).list((page - 1) * size, size, where)
        full = query_bool(request, "return_full_object")
        keys = items if full else [item["token"] for item in items]
        # LiteLLM's names, then ours as every other paged answer has them
        return json_response(
            {
                "keys": keys,
                "total_count": total,
                "current_page": page,
                **paged(keys, total, page, size, name="keys"),
            }
        )

    return await admin(request, handle)


async def set_blocked(request: Request, blocked: bool) -> Response:
    async def handle() -> Response:
        await require_master(request)
        body = await body_model(request, KeyRef)
        service = key_service(request)
        key_hash = await service.resolve(body.key)
        change = KeyUpdate(key=key_hash or "-", blocked=blocked)
        state = await service.update(key_hash, change) if key_hash else None
        if state is None:
            raise not_found()
        return json_response(state.public())

    return await admin(request, handle)


async def regenerate(request: Request) -> Response:
    """LiteLLM's ``POST /key/regenerate`` (``{"key": ...}``)."""

    async def handle() -> Response:
        await require_master(request)
        ref = await body_model(request, KeyRef)
        service = key_service(request)
        key_hash = await service.resolve(ref.key)
        made = await service.regenerate(key_hash) if key_hash else None
        if made is None:
            raise not_found()
        key, state = made
        return json_response({"key": key, **state.public(), "warnings": []})

    return await admin(request, handle)


async def block(request: Request) -> Response:
    return await set_blocked(request, True)


async def unblock(request: Request) -> Response:
    return await set_blocked(request, False)


TAG = "keys"
routes = [
    route(
        "/key/generate",
        generate,
        "POST",
        doc=Operation(
            summary="Create a virtual key",
            tag=TAG,
            body=KeyFields,
            response=GeneratedKey,
            description="Takes LiteLLM's GenerateKeyRequest; `warnings` (and the "
            "`x-image-proxy-warning` header) name each field stored but not acted on.",
        ),
    ),
    route(
        "/key/info",
        info,
        "GET",
        doc=Operation(
            summary="Read a key",
            tag=TAG,
            query=KeyInfoQuery,
            response=KeyInfoResponse,
            description="The master key reads any key; a key reads itself.",
        ),
    ),
    route(
        "/key/update",
        update,
        "POST",
        doc=Operation(summary="Change a key", tag=TAG, body=KeyUpdate, response=UpdatedKey),
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
        doc=Operation(summary="List keys", tag=TAG, query=KeyListQuery, response=KeyPage),
    ),
    route(
        "/key/regenerate",
        regenerate,
        "POST",
        doc=Operation(
            summary="Regenerate a key",
            tag=TAG,
            body=KeyRef,
            response=GeneratedKey,
            description="A new key for the same record (settings, spend, budget); the old key "
            "is refused from then on. LiteLLM's `/key/{key}/regenerate` form is not served: a "
            "key in a URL ends up in access logs.",
        ),
    ),
    route(
        "/key/block",
        block,
        "POST",
        doc=Operation(
            summary="Block a key",
            tag=TAG,
            body=KeyRef,
            response=KeyView,
            description="The key is refused (401 `key_blocked`) until `/key/unblock`.",
        ),
    ),
    route(
        "/key/unblock",
        unblock,
        "POST",
        doc=Operation(summary="Unblock a key", tag=TAG, body=KeyRef, response=KeyView),
    ),
]
