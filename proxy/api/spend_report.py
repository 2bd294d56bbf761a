"""Spend over time and the spend logs as CSV: what the console's spend charts and its export
read, open to scripts alike.

``GET /spend/report`` buckets spend per hour or day, split by model, key, end user, deployment
or provider, with the filters of ``/spend/logs``. The master key sees everything; a virtual
key sees its own requests only (whatever key filter it sends). ``GET /spend/logs.csv`` is
``/spend/logs`` as a CSV file (master key only).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from proxy.api.admin import admin, query_int, require_master
from proxy.api.csv_export import spend_csv
from proxy.api.endpoint import json_response
from proxy.api.routes import Operation, route
from proxy.api.spend import fresh_store, log_filter
from proxy.context import request_id_of
from proxy.db.database import LogFilter, with_timeout
from proxy.db.reports import INTERVALS, MAX_BUCKETS, bucket_range, spend_record, spend_series
from proxy.errors import InvalidRequestError, NotFoundError
from proxy.pipeline import Pipeline
from proxy.schemas import checked_name
from proxy.schemas.admin import SpendLog
from proxy.schemas.console import SpendCsvQuery, SpendReport, SpendReportQuery

GROUPS = ("model", "key", "end_user", "deployment", "provider")
DEFAULT_SPAN = {"hour": 24 * 3600, "day": 14 * 86_400}
CSV_PAGE = 1000


def choice(request: Request, name: str, allowed: tuple[str, ...], default: str) -> str:
    value = request.query_params.get(name) or default
    if value not in allowed:
        raise InvalidRequestError(f"'{name}' must be one of {', '.join(allowed)}.", param=name)
    return value


async def report_filter(request: Request, interval: str) -> LogFilter:
    """The query's filters with a time range (by default the last 24 hours by hour, 14 days
    by day); a virtual key is held to its own requests."""
    pipeline: Pipeline = request.app.services.pipeline
    caller = await pipeline.auth.authenticate(request)
    f = await log_filter(request, SpendReportQuery)
    if not caller.is_master:
        f = dataclasses.replace(f, key_hash=caller.key_hash, key_alias=None)
    end = f.end if f.end is not None else time.time()
    start = f.start if f.start is not None else end - DEFAULT_SPAN[interval]
    if start >= end:
        raise InvalidRequestError("'start' must be before 'end'.", param="start")
    if len(bucket_range(start, end, INTERVALS[interval])) > MAX_BUCKETS:
        raise InvalidRequestError(
            f"The range holds more than {MAX_BUCKETS} buckets; narrow it or use a wider interval.",
            param="start",
        )
    return dataclasses.replace(f, start=start, end=end)


async def spend_report(request: Request) -> Response:
    async def handle() -> Response:
        group_by = choice(request, "group_by", GROUPS, "model")
        interval = choice(request, "interval", tuple(INTERVALS), "day")
        f = await report_filter(request, interval)
        store = await fresh_store(request)
        series = await with_timeout(spend_series(store, f, group_by, interval))
        return json_response({"group_by": group_by, "interval": interval, **series.public()})

    return await admin(request, handle)


async def spend_logs_csv(request: Request) -> Response:
    async def handle() -> Response:
        await require_master(request)
        f = await log_filter(request, SpendCsvQuery)
        limit = query_int(request, "limit", 10_000, 1, 100_000)
        store = await fresh_store(request)
        rows: list[dict[str, Any]] = []
        while len(rows) < limit:
            size = min(CSV_PAGE, limit - len(rows))
            records, _ = await with_timeout(store.query_logs(f, len(rows), size))
            rows.extend(r.public() for r in records)
            if len(records) < size:
                break
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        return Response(
            spend_csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={
                "content-disposition": f'attachment; filename="spend-logs-{stamp}.csv"',
                "cache-control": "no-store",
            },
        )

    return await admin(request, handle)


async def one_record(request: Request) -> Response:
    """One request's spend record: the master key reads any, a virtual key its own."""

    async def handle() -> Response:
        pipeline: Pipeline = request.app.services.pipeline
        caller = await pipeline.auth.authenticate(request)
        request_id = request_id_of(checked_name(request.path_params["request_id"], "request_id"))
        store = await fresh_store(request)
        record = await with_timeout(spend_record(store, request_id))
        if record is None or not (caller.is_master or record.key_hash == caller.key_hash):
            raise NotFoundError("No spend record of this request for this key.", code="not_found")
        return json_response(record.public())

    return await admin(request, handle)


TAG = "spend"
routes = [
    route(
        "/spend/report",
        spend_report,
        "GET",
        doc=Operation(
            summary="Spend over time",
            tag=TAG,
            query=SpendReportQuery,
            response=SpendReport,
            description="Spend, requests, images and requests of unknown cost per hour or "
            "day, split by model, key, end user, deployment or provider; every bucket of the "
            "range is listed, empty ones too. A virtual key sees its own requests only.",
        ),
    ),
    route(
        "/spend/logs/{request_id}",
        one_record,
        "GET",
        doc=Operation(
            summary="One request's spend record",
            tag=TAG,
            response=SpendLog,
            description="By its `x-request-id`: the master key reads any record, a virtual "
            "key its own (a streamed answer's cost, known only once the stream has ended).",
        ),
    ),
    route(
        "/spend/logs.csv",
        spend_logs_csv,
        "GET",
        doc=Operation(
            summary="Spend logs as CSV",
            tag=TAG,
            query=SpendCsvQuery,
            media_type="text/csv",
            description="The records of `/spend/logs` with the same filters, newest first, "
            "as a CSV file (no image, no key; prompts only when the proxy stores them).",
        ),
    ),
]
