"""Aggregates of the spend logs for reports: spend per time bucket and group, and each
deployment's recent traffic. Grouped in SQL (one row per bucket and group), so a report over
months of logs moves a few hundred rows, not the logs."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from proxy.db.database import LogFilter, Store
from proxy.db.records import SpendRecord

INTERVALS = {"hour": 3600, "day": 86_400}
MAX_BUCKETS = 2_000
NO_GROUP = "(none)"


@dataclass(slots=True)
class Amounts:
    spend: float = 0.0
    requests: int = 0
    images: int = 0
    requests_cost_unknown: int = 0

    def add(self, other: Amounts) -> None:
        self.spend += other.spend
        self.requests += other.requests
        self.images += other.images
        self.requests_cost_unknown += other.requests_cost_unknown

    def public(self) -> dict[str, Any]:
        return {
            "spend": round(self.spend, 10),
            "requests": self.requests,
            "images": self.images,
            "requests_cost_unknown": self.requests_cost_unknown,
        }


@dataclass(frozen=True, slots=True)
class BucketRow:
    """One (bucket, group) aggregate as the database returns it."""

    index: int  # the bucket's start divided by its width
    group: str | None
    amounts: Amounts


@dataclass(slots=True)
class Series:
    width: int
    start: float
    end: float
    buckets: list[tuple[float, dict[str, Amounts]]] = field(default_factory=list)
    group_totals: dict[str, Amounts] = field(default_factory=dict)
    totals: Amounts = field(default_factory=Amounts)

    def groups(self) -> list[str]:
        return sorted(self.group_totals, key=lambda g: (-self.group_totals[g].spend, g))

    def public(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "groups": self.groups(),
            "totals": self.totals.public(),
            "group_totals": {g: a.public() for g, a in self.group_totals.items()},
            "buckets": [
                {
                    "start": at,
                    "start_iso": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at)),
                    "groups": {g: a.public() for g, a in groups.items()},
                }
                for at, groups in self.buckets
            ],
        }


def bucket_range(start: float, end: float, width: int) -> range:
    """The bucket indexes covering [start, end): from the one holding ``start`` to the one
    holding the last instant before ``end``."""
    first = int(start // width)
    last = int(-(-end // width))  # ceil
    return range(first, max(last, first + 1))


def fill(rows: Iterable[BucketRow], start: float, end: float, width: int) -> Series:
    """Every bucket from ``start`` to ``end`` in order (the empty ones too, so a chart's time
    axis has no gaps), each with its groups' amounts, plus totals per group and overall."""
    series = Series(width, start, end)
    by_index: dict[int, dict[str, Amounts]] = {i: {} for i in bucket_range(start, end, width)}
    for row in rows:
        groups = by_index.get(row.index)
        if groups is None:
            continue  # outside the range (a clock edge): never invented, never shifted
        name = row.group if row.group is not None else NO_GROUP
        groups.setdefault(name, Amounts()).add(row.amounts)
        series.group_totals.setdefault(name, Amounts()).add(row.amounts)
        series.totals.add(row.amounts)
    series.buckets = [(float(i * width), g) for i, g in sorted(by_index.items())]
    return series


def group_column(store: Store, group_by: str) -> Any:
    c = store.t.spend_logs.c
    columns = {
        "model": c.model_group,
        "end_user": c.end_user,
        "deployment": c.deployment_id,
        "provider": c.provider,
        "key": sa.func.coalesce(c.key_alias, c.key_hash),
    }
    return columns[group_by]


def bucket_index(store: Store, width: int) -> Any:
    c = store.t.spend_logs.c
    if store.dialect == "postgresql":  # a float cast to integer rounds there: floor first
        return sa.cast(sa.func.floor(c.time / width), sa.BigInteger)
    return sa.cast(c.time / width, sa.Integer)  # truncates; times are positive


async def spend_rows(store: Store, f: LogFilter, group_by: str, width: int) -> Sequence[BucketRow]:
    c = store.t.spend_logs.c
    index = bucket_index(store, width).label("bucket")
    group = group_column(store, group_by).label("grp")
    stmt = (
        sa.select(
            index,
            group,
            sa.func.coalesce(sa.func.sum(c.cost), 0.0),
            sa.func.count(),
            sa.func.count(c.cost),
            sa.func.coalesce(sa.func.sum(c.images), 0),
        )
        .where(*store.where(f))
        .group_by(index, group)
    )
    async with store.engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return [
        BucketRow(
            int(i),
            str(g) if g is not None else None,
            Amounts(float(spend), int(n), int(images), int(n) - int(priced)),
        )
        for i, g, spend, n, priced, images in rows
    ]


async def spend_series(store: Store, f: LogFilter, group_by: str, interval: str) -> Series:
    """Spend from ``f.start`` to ``f.end`` (both required) per ``interval`` and group."""
    assert f.start is not None and f.end is not None
    width = INTERVALS[interval]
    rows = await spend_rows(store, f, group_by, width)
    return fill(rows, f.start, f.end, width)


@dataclass(frozen=True, slots=True)
class Traffic:
    requests: int = 0
    errors: int = 0
    latency_ms_avg: float | None = None
    spend: float = 0.0

    def public(self, window: int) -> dict[str, Any]:
        rate = self.errors / self.requests if self.requests else None
        return {
            "window_seconds": window,
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": round(rate, 4) if rate is not None else None,
            "latency_ms_avg": (
                round(self.latency_ms_avg, 1) if self.latency_ms_avg is not None else None
            ),
            "spend": round(self.spend, 10),
        }


async def deployment_traffic(store: Store, since: float) -> dict[str, Traffic]:
    """Each deployment's requests since ``since``: count, errors (status >= 400), mean
    latency, spend."""
    c = store.t.spend_logs.c
    errors = sa.func.sum(sa.case((c.status >= 400, 1), else_=0))
    stmt = (
        sa.select(
            c.deployment_id,
            sa.func.count(),
            sa.func.coalesce(errors, 0),
            sa.func.avg(c.latency_ms),
            sa.func.coalesce(sa.func.sum(c.cost), 0.0),
        )
        .where(c.time >= since, c.deployment_id.is_not(None))
        .group_by(c.deployment_id)
    )
    async with store.engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return {
        str(d): Traffic(int(n), int(e), float(lat) if lat is not None else None, float(s))
        for d, n, e, lat, s in rows
    }


async def spend_record(store: Store, request_id: str) -> SpendRecord | None:
    logs = store.t.spend_logs
    async with store.engine.connect() as conn:
        row = (
            (await conn.execute(sa.select(logs).where(logs.c.request_id == request_id)))
            .mappings()
            .first()
        )
    return SpendRecord.from_row({str(k): v for k, v in row.items()}) if row else None
