"""Spend reporting (master key only): logs, per-end-user totals, global totals."""

from __future__ import annotations

import contextlib

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from proxy.api.admin import (
    admin,
    known_params,
    page_params,
    paged,
    query_int,
    query_str,
    query_time,
    require_master,
)
from proxy.api.endpoint import json_response
from proxy.api.routes import Operation, route
from proxy.context import request_id_of
from proxy.db.database import LogFilter, Store, with_timeout
from proxy.db.writer import SpendWriter
from proxy.keys.service import KeyService
from proxy.schemas.admin import (
    EndUserSpendPage,
    SpendFilter,
    SpendLogPage,
    SpendQuery,
    SpendTotals,
)


async def log_filter(request: Request, query: type[BaseModel] = SpendQuery) -> LogFilter:
    known_params(request, query)
    keys: KeyService = request.app.services.keys
    key = query_str(request, "key", "api_key")
    key_hash = query_str(request, "key_hash")
    if key is not None:
        key_hash = await keys.resolve(key) or "-"  # "-" matches nothing
    status = query_int(request, "status", 0, 100, 599) or None
    return LogFilter(
        request_id=request_id_of(query_str(request, "request_id", "call_id") or "") or None,
        key_hash=key_hash,
        key_alias=query_str(request, "key_alias"),
        user_id=query_str(request, "user_id"),
        end_user=query_str(request, "end_user", "user"),
        model_group=query_str(request, "model"),
        status=status,
        start=query_time(request, "start", "start_date", "start_time"),
        end=query_time(request, "end", "end_date", "end_time"),
    )


async def fresh_store(request: Request) -> Store:
    """The store, after writing what is queued (best effort) so reads see recent requests."""
    writer: SpendWriter = request.app.services.spend_writer
    if writer.pending:
        with contextlib.suppress(TimeoutError):
            await with_timeout(writer.flush(), 5.0)
    store: Store = request.app.services.store
    return store


async def spend_logs(request: Request) -> Response:
    async def handle() -> Response:
        await require_master(request)
        f = await log_filter(request)
        page, size = page_params(request)
        store = await fresh_store(request)
        records, total = await with_timeout(store.query_logs(f, (page - 1) * size, size))
        return json_response(paged([r.public() for r in records], total, page, size))

    return await admin(request, handle)


async def spend_users(request: Request) -> Response:
    async def handle() -> Response:
        await require_master(request)
        f = await log_filter(request)
        page, size = page_params(request)
        store = await fresh_store(request)
        rows, total = await with_timeout(store.spend_by_end_user(f, (page - 1) * size, size))
        return json_response(paged(rows, total, page, size))

    return await admin(request, handle)


async def global_spend(request: Request) -> Response:
    async def handle() -> Response:
        await require_master(request)
        f = await log_filter(request, SpendFilter)
        store = await fresh_store(request)
        writer: SpendWriter = request.app.services.spend_writer
        totals = await with_timeout(store.totals(f))
        return json_response({**totals, "records_pending": writer.pending})

    return await admin(request, handle)


TAG = "spend"
routes = [
    route(
        "/spend/logs",
        spend_logs,
        "GET",
        doc=Operation(
            summary="Spend logs",
            tag=TAG,
            query=SpendQuery,
            response=SpendLogPage,
            description="One record per request, newest first, filtered by the query.",
        ),
    ),
    route(
        "/spend/users",
        spend_users,
        "GET",
        doc=Operation(
            summary="Spend per end user", tag=TAG, query=SpendQuery, response=EndUserSpendPage
        ),
    ),
    route(
        "/global/spend",
        global_spend,
        "GET",
        doc=Operation(summary="Spend totals", tag=TAG, query=SpendFilter, response=SpendTotals),
    ),
]
