"""Data the database refuses never stops the spend writer: the refused record is set aside in
the dead-letter file, every other record is stored, and the writer stays healthy. On SQLite
and (when TEST_DATABASE_URL names one) PostgreSQL, against the real database: what it
refuses, and how the refusal arrives, is what these tests are about."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from proxy.db.database import LogFilter, Store
from proxy.db.journal import SpendJournal
from proxy.db.records import BudgetReset, Op, SpendRecord
from proxy.db.refusal import Refusal, refusal
from proxy.db.writer import SpendWriter
from tests.db.conftest import key_row, spend_record

# What each poison is, and how the database refuses it. PostgreSQL refuses a NUL in any text
# column and a string longer than its VARCHAR (``provider`` is VARCHAR(64) and, unlike the
# name columns, not clipped); SQLite stores both, so there only the NOT NULL violation is
# refused.
POISONS: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
    "nul": ({"end_user": "poison\x00pill"}, {"postgresql": "DBAPIError 22021"}),
    "too_long": ({"provider": "p" * 65}, {"postgresql": "DBAPIError 22001"}),
    "not_null": (
        {"endpoint": None},
        {"postgresql": "IntegrityError 23502", "sqlite": "IntegrityError"},
    ),
}


def poison(name: str, backend: str) -> tuple[SpendRecord, str]:
    """A record ``backend`` refuses, and the reason it gives (skips when it takes it)."""
    fields, reasons = POISONS[name]
    if backend not in reasons:
        pytest.skip(f"{backend} stores it")
    return spend_record(**fields), reasons[backend]


async def add_key(store: Store, key_hash: str) -> None:
    await store.insert_key(key_row(key_hash))


def dead_letters(spool: Path) -> list[dict[str, Any]]:
    return [
        orjson.loads(line)
        for path in sorted(spool.glob("spend-deadletter-*.jsonl"))
        for line in path.read_bytes().splitlines()
    ]


async def stored_ids(store: Store) -> set[str]:
    rows, _ = await store.query_logs(LogFilter(), 0, 1000)
    return {r.request_id for r in rows}


@pytest.mark.parametrize("kind", list(POISONS))
async def test_the_database_refuses_the_poison_as_data(
    store: Store, backend: str, kind: str
) -> None:
    """What the driver really raises is recognised as a refusal of the data."""
    bad, reason = poison(kind, backend)
    for unseen in (True, False):  # the plain INSERT, and the one after a look-up
        with pytest.raises(sa.exc.DBAPIError) as caught:
            await store.write([bad], unseen=unseen)
        refused = refusal(caught.value)
        assert refused is not None and refused.reason == reason


def test_only_data_errors_count_as_refusals() -> None:
    class Orig(Exception):
        def __init__(self, sqlstate: str | None) -> None:
            super().__init__("driver error")
            self.sqlstate = sqlstate

    def wrapped(sqlstate: str | None) -> sa.exc.DBAPIError:
        return sa.exc.DBAPIError("INSERT", None, Orig(sqlstate))

    assert refusal(wrapped("22021")) == Refusal("DBAPIError", "22021")
    assert refusal(wrapped("23505")) == Refusal("DBAPIError", "23505")
    assert refusal(sa.exc.IntegrityError("INSERT", None, Orig(None))) == Refusal(
        "IntegrityError", None
    )
    for unreachable in (
        wrapped("08006"),  # connection failure
        wrapped("57P01"),  # admin shutdown
        wrapped(None),
        sa.exc.OperationalError("INSERT", None, Orig(None)),  # SQLite: database is locked
        ConnectionRefusedError("database down"),
        TimeoutError(),
    ):
        assert refusal(unreachable) is None


@pytest.mark.parametrize("kind", list(POISONS))
async def test_a_refused_record_is_set_aside_and_the_rest_are_stored(
    store: Store, backend: str, kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bad, reason = poison(kind, backend)
    h = "k" * 64
    await add_key(store, h)
    spool = tmp_path / "spool"
    writer = SpendWriter(store, journal=SpendJournal(spool))
    acked: list[Op] = []
    refusals: list[Refusal] = []
    writer.listeners.append(acked.extend)
    writer.refusal_listeners.append(refusals.append)
    good = [spend_record(key_hash=h, cost=0.01) for _ in range(20)]
    for op in [*good[:7], bad, *good[7:]]:
        writer.submit(op)
    with caplog.at_level(logging.INFO, logger="proxy.db"):
        assert await writer.flush() is True
    assert writer.pending == 0 and writer.healthy
    assert writer.dead_lettered == 1 and [r.reason for r in refusals] == [reason]
    assert await stored_ids(store) == {r.request_id for r in good}
    assert all(isinstance(op, SpendRecord) for op in acked)
    acked_ids = [op.request_id if isinstance(op, SpendRecord) else op for op in acked]
    assert acked_ids == [r.request_id for r in good]  # in order
    key = await store.get_key(h)
    assert key is not None and key["spend"] == pytest.approx(0.2)

    [letter] = dead_letters(spool)
    assert letter["refused"] == reason and letter["op"]["type"] == "record"
    assert SpendRecord(**{k: v for k, v in letter["op"].items() if k != "type"}) == bad
    # the log names the reason and the request, never the refused value
    assert reason in caplog.text and bad.request_id in caplog.text
    assert "poison" not in caplog.text and "p" * 65 not in caplog.text

    later = spend_record()  # and the writer keeps going
    writer.submit(later)
    assert await writer.flush() is True
    assert later.request_id in await stored_ids(store)


async def test_budget_resets_keep_their_place_around_a_refused_record(
    store: Store, backend: str, tmp_path: Path
) -> None:
    bad, _ = poison("not_null", backend)
    h = "r" * 64
    await add_key(store, h)
    writer = SpendWriter(store, journal=SpendJournal(tmp_path / "spool"))
    ops: list[Op] = [
        spend_record(key_hash=h, cost=0.3, key_period=0),
        bad,
        BudgetReset(h, 0, time.time() + 86400),
        spend_record(key_hash=h, cost=0.1, key_period=1),
        spend_record(key_hash=h, cost=5.0, key_period=0),  # a straggler from the old period
    ]
    for op in ops:
        writer.submit(op)
    assert await writer.flush() is True
    key = await store.get_key(h)
    assert key is not None and key["budget_period"] == 1
    assert key["spend"] == pytest.approx(0.1)
    assert writer.dead_lettered == 1 and len(await stored_ids(store)) == 3


async def test_many_refused_records_anywhere_in_a_batch(
    store: Store, backend: str, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    writer = SpendWriter(store, batch_size=64, journal=SpendJournal(spool))
    ops: list[SpendRecord] = []
    bad_ids = []
    for i in range(150):  # three batches; refused ones first, last and in between
        if i in (0, 5, 6, 63, 64, 100, 149):
            bad, _ = poison("not_null", backend)
            bad_ids.append(bad.request_id)
            ops.append(bad)
        else:
            ops.append(spend_record())
    for op in ops:
        writer.submit(op)
    assert await writer.flush() is True
    assert writer.pending == 0 and writer.healthy and writer.dead_lettered == len(bad_ids)
    assert [d["op"]["request_id"] for d in dead_letters(spool)] == bad_ids
    assert await stored_ids(store) == {r.request_id for r in ops} - set(bad_ids)


class GoesDown:
    """The real store, unreachable from the ``fail_at``-th write on, until ``up`` is set."""

    def __init__(self, store: Store, fail_at: int) -> None:
        self.store = store
        self.fail_at = fail_at
        self.writes = 0
        self.up = False

    async def write(self, ops: Sequence[Op], *, unseen: bool = False) -> int:
        self.writes += 1
        if self.writes >= self.fail_at and not self.up:
            raise ConnectionRefusedError("database down")
        return await self.store.write(ops, unseen=unseen)


async def test_an_outage_while_isolating_keeps_the_rest_queued(
    store: Store, backend: str, tmp_path: Path
) -> None:
    bad, _ = poison("not_null", backend)
    spool = tmp_path / "spool"
    flaky = GoesDown(store, fail_at=3)  # the batch is refused, its left half stored, then down
    # A failing Store double
    writer = SpendWriter(flaky, journal=SpendJournal(spool))  # type: ignore[arg-type]
    good = [spend_record() for _ in range(10)]
    for op in [*good[:7], bad, *good[7:]]:
        writer.submit(op)
    assert await writer.flush() is False
    assert not writer.healthy and writer.pending == 6  # the first 5 are stored
    assert await stored_ids(store) == {r.request_id for r in good[:5]}
    assert dead_letters(spool) == []
    flaky.up = True
    assert await writer.flush() is True
    assert writer.healthy and writer.pending == 0 and writer.dead_lettered == 1
    assert await stored_ids(store) == {r.request_id for r in good}


async def test_a_journaled_refused_record_replays_without_wedging(
    store: Store, backend: str, tmp_path: Path
) -> None:
    bad, reason = poison("not_null", backend)
    spool = tmp_path / "journal"
    good = [spend_record() for _ in range(5)]
    before = SpendWriter(store, journal=SpendJournal(spool))
    await before.restore()
    for op in [good[0], bad, *good[1:]]:
        before.submit(op)
    await before.close()  # a shutdown that could not write them
    assert len(list(spool.glob("spend-journal-*.jsonl"))) == 1

    again = SpendWriter(store, journal=SpendJournal(spool))  # the next start-up
    assert await again.restore() == 6
    assert await again.flush() is True
    assert again.pending == 0 and again.healthy and again.dead_lettered == 1
    assert await stored_ids(store) == {r.request_id for r in good}
    await again.close()
    assert list(spool.glob("spend-journal-*.jsonl")) == []  # replayed, so removed
    assert [(d["refused"], d["op"]["request_id"]) for d in dead_letters(spool)] == [
        (reason, bad.request_id)
    ]


async def test_without_a_journal_a_refused_record_is_dropped_not_kept(
    store: Store, backend: str
) -> None:
    bad, _ = poison("not_null", backend)
    writer = SpendWriter(store)
    ok = spend_record()
    writer.submit(bad)
    writer.submit(ok)
    assert await writer.flush() is True
    assert writer.pending == 0 and writer.healthy and writer.dead_lettered == 1
    assert await stored_ids(store) == {ok.request_id}
