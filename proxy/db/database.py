"""The database behind keys and spend logs: SQLite by default, PostgreSQL by URL.

SQLAlchemy 2 Core on aiosqlite / asyncpg (``proxy.db.engine``). Every statement is built
with SQLAlchemy Core, so every value travels as a bound parameter; no SQL text is ever
assembled from input.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError

from proxy.db.engine import AsyncConnection, AsyncEngine
from proxy.db.records import BudgetReset, Op, SpendRecord
from proxy.db.schema import DEFAULT_PREFIX, MIGRATIONS, Tables, make_tables

log = logging.getLogger("proxy.db")

QUERY_TIMEOUT = 10.0
INSERT_SLICE = 50  # spend rows per INSERT statement (the loop is free between slices)
DB_ERRORS = (SQLAlchemyError, OSError, TimeoutError, ConnectionError)
MIGRATION_LOCK = 7_305_118_233  # pg_advisory_xact_lock id for migrations


def engine_url(url: str) -> str:
    """``postgresql://`` -> asyncpg, ``sqlite:///path`` or a bare path -> aiosqlite."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+asyncpg://" + url[len(plain) :]
    if url.startswith("postgresql+asyncpg://") or url.startswith("sqlite+aiosqlite://"):
        return url
    if url.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    if "://" in url:
        raise ValueError("only postgresql:// and sqlite:/// URLs are supported")
    return "sqlite+aiosqlite:///" + str(Path(url).expanduser())


def describe(url: str) -> str:
    """The URL without its password, for logs."""
    return sa.engine.make_url(engine_url(url)).render_as_string(hide_password=True)


class SpendInsert:
    """The spend-log ``INSERT ... ON CONFLICT DO NOTHING``, compiled once for the dialect.

    Rows go to the driver as plain tuples in the statement's parameter order (values still
    travel as bound parameters, the JSON column pre-serialised): through ``execute``,
    SQLAlchemy prepared every row's parameters on the event loop, 25-35 us a row, which
    held the loop for over 10 ms per 500-row batch."""

    def __init__(self, statement: Any, dialect: Any) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        order = compiled.positiontup
        if order is None:  # both dialects in use are positional (qmark, numeric_dollar)
            raise ValueError(f"{dialect.name}: named parameters are not supported here")
        self.order: tuple[str, ...] = tuple(order)

    def values(self, row: dict[str, Any]) -> tuple[Any, ...]:
        usage = row.get("usage")
        if usage is not None:
            row["usage"] = _json_text(usage)
        return tuple(row[name] for name in self.order)


@dataclass(frozen=True)
class KeyFilter:
    key_alias: str | None = None
    user_id: str | None = None
    team_id: str | None = None


@dataclass(frozen=True)
class LogFilter:
    request_id: str | None = None
    key_hash: str | None = None
    key_alias: str | None = None
    user_id: str | None = None
    end_user: str | None = None
    model_group: str | None = None
    status: int | None = None
    start: float | None = None
    end: float | None = None


class Store:
    def __init__(self, url: str, prefix: str = DEFAULT_PREFIX) -> None:
        self.url = engine_url(url)
        self.t: Tables = make_tables(prefix)
        self.dialect = "postgresql" if self.url.startswith("postgresql") else "sqlite"
        # JSON columns (usage, metadata) serialised by orjson rather than the json module.
        kwargs: dict[str, Any] = {"json_serializer": _json_text}
        if self.dialect == "postgresql":
            kwargs.update(
                pool_size=5,
                max_overflow=5,
                pool_pre_ping=True,
                pool_timeout=5,
                connect_args={"timeout": 5, "command_timeout": 30},
            )
        else:
            kwargs.update(connect_args={"timeout": 30})
        # Only the dialect in use is loaded (PostgreSQL's costs ~2 MiB and 40 ms for nothing).
        self._insert_into: Callable[[sa.Table], Any]
        if self.dialect == "postgresql":
            from sqlalchemy.dialects import postgresql

            self._insert_into = postgresql.insert
        else:
            from sqlalchemy.dialects import sqlite

            self._insert_into = sqlite.insert
        self.engine = AsyncEngine(self.url, **kwargs)
        self._spend_insert = SpendInsert(
            self._insert(self.t.spend_logs).on_conflict_do_nothing(
                index_elements=[self.t.spend_logs.c.request_id]
            ),
            self.engine.sync_engine.dialect,
        )
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)

    async def aclose(self) -> None:
        await self.engine.dispose()

    # --- schema ---------------------------------------------------------------------------

    async def migrate(self) -> int:
        """Apply pending migrations; returns the schema version."""
        async with self.engine.begin() as conn:
            await conn.run_sync(
                lambda c: self.t.metadata.create_all(c, tables=[self.t.migrations], checkfirst=True)
            )
        version = 0
        for number, name, step in MIGRATIONS:
            async with self.engine.begin() as conn:
                if self.dialect == "postgresql":
                    await conn.execute(
                        sa.select(sa.func.pg_advisory_xact_lock(sa.literal(MIGRATION_LOCK)))
                    )
                done = await conn.scalar(
                    sa.select(self.t.migrations.c.version).where(
                        self.t.migrations.c.version == number
                    )
                )
                if done is None:
                    await step(conn, self.t)
                    await conn.execute(
                        self._insert(self.t.migrations)
                        .values(version=number, name=name, applied_at=time.time())
                        .on_conflict_do_nothing()
                    )
                    log.info("database migration %d (%s) applied", number, name)
            version = number
        return version

    async def drop_all(self) -> None:
        """Remove every table of this prefix (tests)."""
        async with self.engine.begin() as conn:
            await conn.run_sync(lambda c: self.t.metadata.drop_all(c, checkfirst=True))

    def _insert(self, table: sa.Table) -> Any:
        return self._insert_into(table)

    # --- keys -----------------------------------------------------------------------------

    async def insert_key(self, row: dict[str, Any]) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(sa.insert(self.t.keys).values(**row))

    async def get_key(self, key_hash: str) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (
                (
                    await conn.execute(
                        sa.select(self.t.keys).where(self.t.keys.c.key_hash == key_hash)
                    )
                )
                .mappings()
                .first()
            )
        return _plain(row) if row else None

    async def key_hash_for_alias(self, alias: str) -> str | None:
        async with self.engine.connect() as conn:
            found = await conn.scalar(
                sa.select(self.t.keys.c.key_hash).where(self.t.keys.c.key_alias == alias)
            )
        return str(found) if found is not None else None

    async def update_key(self, key_hash: str, values: dict[str, Any]) -> dict[str, Any] | None:
        """Change the key's ``values`` (a new ``key_hash`` among them: the key regenerated)."""
        found = values.get("key_hash", key_hash)
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.update(self.t.keys).where(self.t.keys.c.key_hash == key_hash).values(**values)
            )
            row = (
                (await conn.execute(sa.select(self.t.keys).where(self.t.keys.c.key_hash == found)))
                .mappings()
                .first()
            )
        return _plain(row) if row else None

    async def delete_keys(self, hashes: Sequence[str]) -> list[str]:
        if not hashes:
            return []
        async with self.engine.begin() as conn:
            found = (
                (
                    await conn.execute(
                        sa.select(self.t.keys.c.key_hash).where(self.t.keys.c.key_hash.in_(hashes))
                    )
                )
                .scalars()
                .all()
            )
            if found:
                await conn.execute(sa.delete(self.t.keys).where(self.t.keys.c.key_hash.in_(found)))
        return [str(h) for h in found]

    async def list_keys(
        self, offset: int, limit: int, where: KeyFilter
    ) -> tuple[list[dict[str, Any]], int]:
        k = self.t.keys
        match = [
            getattr(k.c, name) == value
            for name, value in (
                ("key_alias", where.key_alias),
                ("user_id", where.user_id),
                ("team_id", where.team_id),
            )
            if value is not None
        ]
        async with self.engine.connect() as conn:
            total = await conn.scalar(sa.select(sa.func.count()).select_from(k).where(*match))
            rows = (
                (
                    await conn.execute(
                        sa.select(k)
                        .where(*match)
                        .order_by(k.c.created_at, k.c.key_hash)
                        .offset(offset)
                        .limit(limit)
                    )
                )
                .mappings()
                .all()
            )
        return [_plain(r) for r in rows], int(total or 0)

    # --- spend ----------------------------------------------------------------------------

    async def write(self, ops: Sequence[Op], *, unseen: bool = False) -> int:
        """Apply spend records and budget resets in order, in one transaction.

        Records are inserted with ``ON CONFLICT DO NOTHING``; only the ones actually inserted
        add to their key's spend, so replaying a batch (after a lost commit acknowledgement,
        or from the spend journal) never counts anything twice. ``unseen`` says no write
        of these records was ever attempted (request ids are the gateway's own 128-bit random
        ids), which skips the lookup of what is already stored. Returns rows inserted.
        """
        inserted = 0
        async with self.engine.begin() as conn:
            chunk: list[SpendRecord] = []
            for op in ops:
                if isinstance(op, SpendRecord):
                    chunk.append(op)
                    continue
                inserted += await self._write_records(conn, chunk, unseen)
                chunk = []
                await self._reset_budget(conn, op)
            inserted += await self._write_records(conn, chunk, unseen)
        return inserted

    async def _write_records(
        self, conn: AsyncConnection, records: list[SpendRecord], unseen: bool
    ) -> int:
        if not records:
            return 0
        logs = self.t.spend_logs
        fresh: dict[str, SpendRecord] = {}
        stored: set[str] = set()
        # Slice by slice, so the event loop is free while the driver works on each: which of
        # the slice are already stored (a replayed batch; one indexed lookup), then the rest
        # as one plain executemany (an INSERT ... RETURNING over many rows would be built row
        # by row on the loop instead).
        for start in range(0, len(records), INSERT_SLICE):
            part = records[start : start + INSERT_SLICE]
            if not unseen:
                ids = [r.request_id for r in part]
                lookup = sa.select(logs.c.request_id).where(logs.c.request_id.in_(ids))
                stored = set((await conn.execute(lookup)).scalars().all())
            new: dict[str, SpendRecord] = {}
            for r in part:
                if r.request_id not in stored and r.request_id not in fresh:
                    new.setdefault(r.request_id, r)
            if new:
                rows = [self._spend_insert.values(r.row()) for r in new.values()]
                await conn.exec_driver_sql(self._spend_insert.sql, rows)
                fresh.update(new)
        spend: dict[tuple[str, int], float] = {}
        for r in fresh.values():
            if r.key_hash and r.cost:
                slot = (r.key_hash, r.key_period)
                spend[slot] = spend.get(slot, 0.0) + r.cost
        keys = self.t.keys
        for (key_hash, period), amount in spend.items():
            await conn.execute(
                sa.update(keys)
                .where(keys.c.key_hash == key_hash, keys.c.budget_period == period)
                .values(spend=keys.c.spend + amount)
            )
        return len(fresh)

    async def _reset_budget(self, conn: AsyncConnection, op: BudgetReset) -> None:
        keys = self.t.keys
        await conn.execute(
            sa.update(keys)
            .where(keys.c.key_hash == op.key_hash, keys.c.budget_period == op.period)
            .values(spend=0.0, budget_period=op.period + 1, budget_reset_at=op.next_reset_at)
        )

    def where(self, f: LogFilter) -> list[Any]:
        """The spend-log conditions of ``f`` (``proxy.db.reports`` builds on them)."""
        return self._where(f)

    def _where(self, f: LogFilter) -> list[Any]:
        c = self.t.spend_logs.c
        out: list[Any] = []
        if f.request_id is not None:
            out.append(c.request_id == f.request_id)
        if f.key_hash is not None:
            out.append(c.key_hash == f.key_hash)
        if f.key_alias is not None:
            out.append(c.key_alias == f.key_alias)
        if f.user_id is not None:
            out.append(c.user_id == f.user_id)
        if f.end_user is not None:
            out.append(c.end_user == f.end_user)
        if f.model_group is not None:
            out.append(c.model_group == f.model_group)
        if f.status is not None:
            out.append(c.status == f.status)
        if f.start is not None:
            out.append(c.time >= f.start)
        if f.end is not None:
            out.append(c.time < f.end)
        return out

    async def query_logs(
        self, f: LogFilter, offset: int, limit: int
    ) -> tuple[list[SpendRecord], int]:
        logs = self.t.spend_logs
        where = self._where(f)
        async with self.engine.connect() as conn:
            total = await conn.scalar(sa.select(sa.func.count()).select_from(logs).where(*where))
            rows = (
                (
                    await conn.execute(
                        sa.select(logs)
                        .where(*where)
                        .order_by(logs.c.time.desc(), logs.c.request_id)
                        .offset(offset)
                        .limit(limit)
                    )
                )
                .mappings()
                .all()
            )
        return [SpendRecord.from_row(_plain(r)) for r in rows], int(total or 0)

    async def totals(self, f: LogFilter) -> dict[str, Any]:
        c = self.t.spend_logs.c
        stmt = sa.select(
            sa.func.coalesce(sa.func.sum(c.cost), 0.0),
            sa.func.count(),
            sa.func.count(c.cost),
            sa.func.coalesce(sa.func.sum(c.images), 0),
            sa.func.coalesce(sa.func.sum(c.total_tokens), 0),
        ).where(*self._where(f))
        async with self.engine.connect() as conn:
            spend, requests, priced, images, tokens = (await conn.execute(stmt)).one()
        return {
            "spend": float(spend),
            "requests": int(requests),
            "requests_cost_unknown": int(requests) - int(priced),
            "images": int(images),
            "total_tokens": int(tokens),
        }

    async def spend_by_end_user(
        self, f: LogFilter, offset: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        c = self.t.spend_logs.c
        where = [*self._where(f), c.end_user.is_not(None)]
        spend = sa.func.coalesce(sa.func.sum(c.cost), 0.0).label("spend")
        grouped = (
            sa.select(
                c.end_user,
                spend,
                sa.func.count().label("requests"),
                sa.func.coalesce(sa.func.sum(c.images), 0).label("images"),
                sa.func.max(c.time).label("last_seen"),
            )
            .where(*where)
            .group_by(c.end_user)
        )
        async with self.engine.connect() as conn:
            total = await conn.scalar(
                sa.select(sa.func.count(sa.distinct(c.end_user))).where(*where)
            )
            rows = (
                (
                    await conn.execute(
                        grouped.order_by(spend.desc(), c.end_user).offset(offset).limit(limit)
                    )
                )
                .mappings()
                .all()
            )
        return [_plain(r) for r in rows], int(total or 0)

    async def end_user_spend(self, end_user: str, since: float | None) -> float:
        c = self.t.spend_logs.c
        where = [c.end_user == end_user]
        if since is not None:
            where.append(c.time >= since)
        async with self.engine.connect() as conn:
            value = await conn.scalar(
                sa.select(sa.func.coalesce(sa.func.sum(c.cost), 0.0)).where(*where)
            )
        return float(value or 0.0)


def _plain(row: Any) -> dict[str, Any]:
    """A result row as a dict with plain ``str`` keys (SQLAlchemy may hand str subclasses)."""
    return {str(k): v for k, v in row.items()}


def _json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _sqlite_pragmas(dbapi_connection: Any, record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


async def with_timeout(coro: Any, seconds: float = QUERY_TIMEOUT) -> Any:
    return await asyncio.wait_for(coro, seconds)
