"""The spend journal: what a process journaled survives its ``kill -9`` and is replayed once,
by one process, at the next start; intents without a record become interrupted records; the
segments the database committed are deleted. On SQLite and (when TEST_DATABASE_URL names
one) PostgreSQL."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from proxy.context import KeyInfo, RequestContext
from proxy.db.database import LogFilter, Store
from proxy.db.journal import INTERRUPTED, INTERRUPTED_STATUS, SpendJournal
from proxy.db.records import BudgetReset, SpendRecord
from proxy.db.writer import SpendWriter, op_fields
from tests.db.conftest import key_row, spend_record

REPO = Path(__file__).resolve().parents[2]
KEY = "j" * 64

# A process that journals what it reads from stdin (one JSON line each: a record, an intent
# given as the context's fields, or a seal), says "ok" after each, and waits to be killed.
CHILD = """
import sys
from pathlib import Path
import orjson
from proxy.context import KeyInfo, RequestContext
from proxy.db.journal import SpendJournal
from proxy.db.records import SpendRecord

journal = SpendJournal(Path(sys.argv[1]))
journal.open()
print("ok", flush=True)
for line in sys.stdin:
    data = orjson.loads(line)
    kind = data.pop("type")
    if kind == "intent":
        key = data.pop("key")
        ctx = RequestContext(**data)
        ctx.key = KeyInfo(**key) if key else None
        journal.intent(ctx)
    elif kind == "seal":  # what a flush does first
        journal.seal()
    else:
        journal.append(SpendRecord(**data))
    print("ok", flush=True)
"""


class Child:
    """Another process with a journal in ``directory``, killed with SIGKILL at the end."""

    def __init__(self, directory: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(directory)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        self._ok()

    def _ok(self) -> None:
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline() == b"ok\n"

    def send(self, line: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + b"\n")
        self.proc.stdin.flush()
        self._ok()  # the line is in its journal

    def record(self, record: SpendRecord) -> None:
        self.send(orjson.dumps(op_fields(record)))

    def intent(self, request_id: str, **fields: object) -> None:
        line = {"type": "intent", "endpoint": "images", "request_id": request_id, **fields}
        self.send(orjson.dumps(line))

    def seal(self) -> None:
        self.send(b'{"type": "seal"}')

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def children() -> Iterator[list[Child]]:
    started: list[Child] = []
    yield started
    for child in started:
        if child.proc.poll() is None:
            child.kill()


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("spend-journal-*.jsonl"))


async def replay(store: Store, directory: Path) -> tuple[SpendWriter, int]:
    """A start-up: the journal opened, what dead processes left queued and written."""
    writer = SpendWriter(store, journal=SpendJournal(directory))
    replayed = await writer.restore()
    assert await writer.flush() is True
    return writer, replayed


async def by_id(store: Store) -> dict[str, SpendRecord]:
    rows, _ = await store.query_logs(LogFilter(), 0, 1000)
    return {r.request_id: r for r in rows}


async def test_a_killed_process_leaves_its_records_and_its_calls_in_flight(
    store: Store, tmp_path: Path, children: list[Child]
) -> None:
    await store.insert_key(key_row(KEY, "team"))
    directory = tmp_path / "journal"
    child = Child(directory)
    children.append(child)
    answered = [spend_record(key_hash=KEY, cost=0.25) for _ in range(3)]
    key = {"key_hash": KEY, "alias": "team", "user_id": "owner"}
    child.intent(answered[0].request_id, key=key)
    child.record(answered[0])
    child.intent("cut", key=key, end_user="alice", model_group="m", deployment_id="d1")
    child.intent("retried", key=key, deployment_id="d1")
    child.intent("retried", key=key, deployment_id="d2", retries=1)  # the last try counts
    child.seal()  # a second segment: "cut" and "master" carried into it
    child.intent("master", key={"key_hash": "m" * 64, "is_master": True}, stream=True)
    child.record(answered[1])
    child.record(answered[2])

    # while it lives, its segments are its own: a start-up beside it takes nothing
    beside, replayed = await replay(store, directory)
    assert replayed == 0 and await by_id(store) == {}
    await beside.close()

    child.kill()
    writer, replayed = await replay(store, directory)
    await writer.close()
    assert replayed == 6
    rows = await by_id(store)
    assert set(rows) == {r.request_id for r in answered} | {"cut", "retried", "master"}
    assert all(rows[r.request_id].cost == 0.25 for r in answered)
    cut = rows["cut"]
    assert (cut.status, cut.error_class, cut.cost_basis, cut.cost) == (
        INTERRUPTED_STATUS,
        INTERRUPTED,
        INTERRUPTED,
        None,
    )
    assert (cut.key_hash, cut.key_alias, cut.user_id, cut.end_user, cut.model_group) == (
        KEY,
        "team",
        "owner",
        "alice",
        "m",
    )
    assert (rows["retried"].deployment_id, rows["retried"].retries) == ("d2", 1)
    master = rows["master"]
    assert master.key_hash is None and master.stream and master.error_class == INTERRUPTED
    key_row_now = await store.get_key(KEY)
    assert key_row_now is not None and key_row_now["spend"] == pytest.approx(0.75)
    assert segments(directory) == []  # the dead process's segments went once committed


async def test_a_replay_of_what_was_committed_counts_nothing_twice(
    store: Store, tmp_path: Path, children: list[Child]
) -> None:
    """Killed again after the commit, before the segments were deleted: the next start
    replays them once more, and the key's spend is what it was."""
    await store.insert_key(key_row(KEY))
    directory = tmp_path / "journal"
    child = Child(directory)
    children.append(child)
    for _ in range(4):
        child.record(spend_record(key_hash=KEY, cost=0.5))
    child.intent("cut", key={"key_hash": KEY})
    child.kill()
    kept = tmp_path / "kept"
    shutil.copytree(directory, kept)
    first, _ = await replay(store, directory)
    await first.close()
    shutil.copytree(kept, directory, dirs_exist_ok=True)  # as if the deletion never happened

    again, replayed = await replay(store, directory)
    await again.close()
    totals = await store.totals(LogFilter())
    key = await store.get_key(KEY)
    assert (replayed, totals["requests"], totals["spend"]) == (5, 5, pytest.approx(2.0))
    assert key is not None and key["spend"] == pytest.approx(2.0)  # not 4.0


async def test_a_flush_deletes_what_it_committed_and_carries_open_intents_forward(
    store: Store, tmp_path: Path
) -> None:
    directory = tmp_path / "journal"
    journal = SpendJournal(directory)
    writer = SpendWriter(store, journal=journal)
    await writer.restore()
    first, spare = segments(directory)  # the active one, and the next, made ahead
    open_call = RequestContext("images", end_user="still-running")
    done_call = RequestContext("images")
    journal.intent(open_call)
    journal.intent(done_call)
    writer.submit(spend_record(request_id=done_call.request_id))
    writer.submit(BudgetReset("r" * 64, 0, None))
    assert await writer.flush() is True
    active, next_spare = segments(directory)
    assert active == spare and first != next_spare  # the first sealed, committed, deleted
    header, *lines = [orjson.loads(line) for line in active.read_bytes().splitlines()]
    assert header["type"] == "fields"
    assert [line[:2] for line in lines] == [["intent", open_call.request_id]]

    assert await writer.flush() is True  # nothing new: no new segment
    assert segments(directory) == [active, next_spare]
    await writer.drain()  # the open call is kept for the next start, the spare is not
    assert segments(directory) == [active]
    again, replayed = await replay(store, directory)
    await again.close()
    assert replayed == 1
    [row] = [r for r in (await by_id(store)).values() if r.error_class == INTERRUPTED]
    assert row.request_id == open_call.request_id and row.end_user == "still-running"
    assert segments(directory) == []


async def test_a_graceful_stop_with_everything_written_leaves_no_segment(
    store: Store, tmp_path: Path
) -> None:
    directory = tmp_path / "journal"
    writer = SpendWriter(store, journal=SpendJournal(directory))
    await writer.restore()
    ctx = RequestContext("images", key=KeyInfo("m" * 64, is_master=True))
    assert writer.journal is not None
    writer.journal.intent(ctx)
    writer.submit(spend_record(request_id=ctx.request_id))
    await writer.drain()
    assert list(directory.iterdir()) == []
    assert [r.error_class for r in (await by_id(store)).values()] == [None]


async def test_a_line_cut_short_by_the_kill_is_skipped_and_the_rest_replayed(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture, children: list[Child]
) -> None:
    directory = tmp_path / "journal"
    child = Child(directory)
    children.append(child)
    whole = [spend_record() for _ in range(3)]
    for record in whole:
        child.record(record)
    child.kill()
    written = [p for p in segments(directory) if p.read_bytes().count(b"\n") > 1]
    [segment] = written
    with segment.open("ab") as f:  # what a kill in the middle of a write leaves
        f.write(b'["record","' + uuid.uuid4().hex.encode() + b'",17')
    writer, replayed = await replay(store, directory)
    await writer.close()
    assert replayed == 3 and set(await by_id(store)) == {r.request_id for r in whole}
    assert "unreadable line" in caplog.text


async def test_an_unwritable_directory_keeps_serving_and_says_so(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_bytes(b"")  # a file where the directory should be
    journal = SpendJournal(blocked / "journal")
    journal.open()
    assert not journal.healthy
    journal.intent(RequestContext("images"))  # nothing to write to: no error
    journal.append(spend_record())
