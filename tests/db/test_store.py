"""The store and the batched writer, on SQLite and (when available) PostgreSQL."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from proxy.db.database import LogFilter, Store
from proxy.db.journal import SpendJournal
from proxy.db.records import BudgetReset, Op, SpendRecord
from proxy.db.schema import LATEST
from proxy.db.writer import SpendWriter
from tests.db.conftest import backend_url, key_row, unique_prefix


def record(**kw: Any) -> SpendRecord:
    base: dict[str, Any] = {
        "request_id": uuid.uuid4().hex,
        "time": time.time(),
        "endpoint": "images",
        "status": 200,
    }
    return SpendRecord(**{**base, **kw})


async def test_migrations_are_versioned_and_idempotent(store: Store) -> None:
    assert await store.migrate() == LATEST
    assert await store.migrate() == LATEST
    async with store.engine.connect() as conn:
        versions = (await conn.execute(sa.select(store.t.migrations.c.version))).scalars().all()
    assert versions == list(range(1, LATEST + 1))


async def test_a_database_from_before_key_settings_gains_them(backend: str, tmp_path: Path) -> None:
    """Migration 2 adds ``team_id`` and ``settings`` to a keys table made without them."""
    store = Store(backend_url(backend, tmp_path), unique_prefix())
    old = sa.MetaData()
    columns = [c._copy() for c in store.t.keys.columns if c.name not in ("team_id", "settings")]
    legacy = sa.Table(store.t.keys.name, old, *columns)
    try:
        async with store.engine.begin() as conn:
            await conn.run_sync(lambda sync: store.t.migrations.create(sync))
            await conn.run_sync(lambda sync: legacy.create(sync))
            await conn.execute(
                sa.insert(store.t.migrations).values(version=1, name="old", applied_at=1.0)
            )
        assert await store.migrate() == LATEST
        row = {**key_row("k" * 64, "old"), "team_id": "t1", "settings": {"a": 1}}
        await store.insert_key(row)
        got = await store.get_key("k" * 64)
        assert got is not None and got["team_id"] == "t1" and got["settings"] == {"a": 1}
    finally:
        await store.drop_all()
        await store.aclose()


async def test_replayed_batch_never_counts_twice(store: Store) -> None:
    await store.insert_key(key_row("h" * 64, "team-a"))
    batch: list[Op] = [record(key_hash="h" * 64, cost=0.04) for _ in range(5)]
    assert await store.write(batch) == 5
    assert await store.write(batch) == 0  # e.g. the commit's acknowledgement was lost
    key = await store.get_key("h" * 64)
    assert key is not None and key["spend"] == pytest.approx(0.2)
    _, total = await store.query_logs(LogFilter(), 0, 100)
    assert total == 5


async def test_budget_reset_is_ordered_with_records(store: Store) -> None:
    h = "a" * 64
    await store.insert_key(key_row(h, max_budget=1.0, budget_duration="1d"))
    await store.write(
        [
            record(key_hash=h, cost=0.3, key_period=0),
            BudgetReset(h, 0, time.time() + 86400),
            record(key_hash=h, cost=0.1, key_period=1),
            record(key_hash=h, cost=5.0, key_period=0),  # a straggler from the old period
            BudgetReset(h, 0, time.time()),  # a second replica's duplicate reset: no effect
        ]
    )
    key = await store.get_key(h)
    assert key is not None
    assert key["spend"] == pytest.approx(0.1) and key["budget_period"] == 1


async def test_filters_pagination_and_totals(store: Store) -> None:
    t0 = 1_700_000_000.0
    recs = [
        record(
            time=t0 + i,
            key_hash="k1" if i % 2 else "k2",
            key_alias="a1" if i % 2 else "a2",
            end_user=f"user-{i % 3}",
            model_group="dalle" if i < 6 else "gpt",
            cost=0.01 * i if i != 9 else None,
            images=1,
            total_tokens=10,
        )
        for i in range(10)
    ]
    recs.append(record(time=t0 + 20, status=401, error_class="AuthenticationError"))
    await store.write(recs)
    page1, total = await store.query_logs(LogFilter(), 0, 4)
    page3, _ = await store.query_logs(LogFilter(), 8, 4)
    assert total == 11 and len(page1) == 4 and len(page3) == 3
    assert page1[0].status == 401  # newest first
    assert {r.request_id for r in page1}.isdisjoint(r.request_id for r in page3)
    odd, n = await store.query_logs(LogFilter(key_alias="a1"), 0, 100)
    assert n == 5 and all(r.key_hash == "k1" for r in odd)
    _, n = await store.query_logs(LogFilter(key_hash="k2", model_group="dalle"), 0, 100)
    assert n == 3  # 0, 2, 4
    _, n = await store.query_logs(LogFilter(start=t0 + 3, end=t0 + 7), 0, 100)
    assert n == 4
    _, n = await store.query_logs(LogFilter(end_user="user-1", status=200), 0, 100)
    assert n == 3  # 1, 4, 7
    totals = await store.totals(LogFilter())
    assert totals["spend"] == pytest.approx(0.01 * (45 - 9))
    assert totals["requests"] == 11 and totals["requests_cost_unknown"] == 2
    assert totals["images"] == 10
    users, n_users = await store.spend_by_end_user(LogFilter(), 0, 10)
    assert n_users == 3
    assert users[0]["end_user"] == "user-2" and users[0]["spend"] == pytest.approx(0.15)
    assert await store.end_user_spend("user-0", t0 + 1) == pytest.approx(0.03 + 0.06)


async def test_hostile_strings_are_data(store: Store) -> None:
    evil = "x' OR '1'='1'; DROP TABLE imgproxy_keys; --"
    await store.write([record(end_user=evil, key_alias=evil, cost=0.5)])
    assert (await store.query_logs(LogFilter(key_alias="x' OR '1'='1"), 0, 10))[1] == 0
    rows, n = await store.query_logs(LogFilter(end_user=evil), 0, 10)
    assert n == 1 and rows[0].end_user == evil
    assert await store.key_hash_for_alias(evil) is None


class FlakyStore:
    """The real store behind a switch that makes writes fail like an unreachable database."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.down = True
        self.attempts = 0
        self.unseen: list[bool] = []

    async def write(self, ops: Sequence[Op], *, unseen: bool = False) -> int:
        self.attempts += 1
        self.unseen.append(unseen)
        if self.down:
            raise ConnectionRefusedError("database down")
        return await self.store.write(ops, unseen=unseen)


async def test_writer_keeps_everything_while_the_database_is_down(store: Store) -> None:
    flaky = FlakyStore(store)
    # A Store double
    writer = SpendWriter(flaky, batch_size=100)  # type: ignore[arg-type]
    acked: list[int] = []
    writer.listeners.append(lambda ops: acked.append(len(ops)))
    for _ in range(1234):
        writer.submit(record(cost=0.001))
    assert await writer.flush() is False and writer.pending == 1234 and not writer.healthy
    assert await writer.flush() is False and writer.pending == 1234
    flaky.down = False
    assert await writer.flush() is True
    assert writer.pending == 0 and writer.healthy and sum(acked) == 1234
    assert max(acked) == 100  # batched, and every batch written, not only the first
    assert (await store.totals(LogFilter()))["requests"] == 1234


class LostAckStore(FlakyStore):
    """Writes, then fails as if the commit's acknowledgement was lost (the first time)."""

    async def write(self, ops: Sequence[Op], *, unseen: bool = False) -> int:
        self.unseen.append(unseen)
        written = await self.store.write(ops, unseen=unseen)
        if self.down:
            self.down = False
            raise ConnectionResetError("connection lost during COMMIT")
        return written


async def test_a_retry_after_an_unknown_outcome_never_counts_twice(store: Store) -> None:
    h = "u" * 64
    await store.insert_key(key_row(h))
    lost = LostAckStore(store)
    # A Store double
    writer = SpendWriter(lost, batch_size=10)  # type: ignore[arg-type]
    for _ in range(25):
        writer.submit(record(key_hash=h, cost=0.01))
    assert await writer.flush() is False  # the first batch of 10 is stored, unacknowledged
    assert await writer.flush() is True
    assert writer.pending == 0
    # fresh records skip the lookup; the batch that may be stored is looked up on retry
    assert lost.unseen == [True, False, True, True]
    key = await store.get_key(h)
    assert key is not None and key["spend"] == pytest.approx(0.25)
    assert (await store.totals(LogFilter()))["requests"] == 25
    writer.submit(record())
    assert await writer.flush() is True and lost.unseen[-1] is True


async def test_unseen_records_still_count_a_duplicate_once(store: Store) -> None:
    h = "d" * 64
    await store.insert_key(key_row(h))
    one = record(key_hash=h, cost=0.5)
    assert await store.write([one, one, record(key_hash=h, cost=0.25)], unseen=True) == 2
    key = await store.get_key(h)
    assert key is not None and key["spend"] == pytest.approx(0.75)


async def test_drain_keeps_what_cannot_be_written_in_the_journal_and_next_start_replays(
    store: Store, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    flaky = FlakyStore(store)
    # A Store double
    writer = SpendWriter(flaky, journal=SpendJournal(journal))  # type: ignore[arg-type]
    await writer.restore()
    records = [record(cost=0.002, key_hash=None) for _ in range(50)]
    for r in records:
        writer.submit(r)
    await writer.drain(deadline=0.3)
    assert len(list(journal.glob("spend-journal-*.jsonl"))) == 1
    assert (await store.totals(LogFilter()))["requests"] == 0

    back = FlakyStore(store)
    back.down = False
    # A Store double; the next start-up
    again = SpendWriter(back, journal=SpendJournal(journal))  # type: ignore[arg-type]
    assert await again.restore() == 50
    again.submit(record())
    assert await again.flush() is True
    assert back.unseen == [False]  # replayed records are looked up before they are inserted
    await again.drain()
    assert list(journal.glob("spend-journal-*.jsonl")) == []
    rows, total = await store.query_logs(LogFilter(), 0, 100)
    assert total == 51
    assert {r.request_id for r in records} <= {r.request_id for r in rows}


async def test_background_writer_flushes_and_drain_writes_the_rest(store: Store) -> None:
    writer = SpendWriter(store, interval=0.05)
    writer.start()
    for _ in range(20):
        writer.submit(record())
    deadline = time.monotonic() + 10
    while writer.pending and time.monotonic() < deadline:  # the task flushes by itself
        await asyncio.sleep(0.02)
    assert writer.pending == 0
    for _ in range(7):
        writer.submit(record())
    await writer.drain()
    assert (await store.totals(LogFilter()))["requests"] == 27


async def test_every_stored_field_reads_back_as_written(store: Store) -> None:
    usage = {
        "prompt_tokens": 12,
        "completion_tokens": 3,
        "total_tokens": 15,
        "prompt_tokens_details": {"cached_tokens": 2},
        "input_tokens_details": None,
    }
    written = record(
        key_hash="k" * 64,
        key_alias="team",
        user_id="u1",
        end_user="e1",
        model_group="g",
        deployment_id="d",
        provider="openai",
        stream=True,
        latency_ms=12.5,
        upstream_ms=10.25,
        retries=1,
        fallbacks=1,
        images=2,
        prompt_tokens=12,
        completion_tokens=3,
        total_tokens=15,
        cost=0.0123,
        cost_basis="per_image",
        error_class=None,
        usage=usage,
        prompt="a cat 'quoted'; --",
    )
    bare = record(cost=None, usage=None)
    assert await store.write([written, bare]) == 2
    rows, _ = await store.query_logs(LogFilter(), 0, 10)
    by_id = {r.request_id: r for r in rows}
    assert by_id[written.request_id].row() == written.row()
    assert by_id[written.request_id].usage == usage  # a JSON object, not its text
    assert by_id[bare.request_id].cost is None and by_id[bare.request_id].usage is None


async def test_batches_larger_than_a_slice_count_each_record_once(store: Store) -> None:
    from proxy.db.database import INSERT_SLICE

    h = "s" * 64
    await store.insert_key(key_row(h))
    records = [record(key_hash=h, cost=0.01) for _ in range(2 * INSERT_SLICE + 7)]
    twice = records[3]  # the same record again, in a later slice of the same batch
    assert await store.write([*records[: INSERT_SLICE + 5], twice]) == INSERT_SLICE + 5
    # a replay overlapping what is stored, then the rest
    assert await store.write(records) == len(records) - (INSERT_SLICE + 5)
    _, total = await store.query_logs(LogFilter(), 0, 1)
    assert total == len(records)
    key = await store.get_key(h)
    assert key is not None and key["spend"] == pytest.approx(0.01 * len(records))
