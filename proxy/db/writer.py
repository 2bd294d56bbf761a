"""Spend records leave the request path here: journaled, queued in memory, written in batches.

* ``submit`` appends the op to the process's journal (``proxy.db.journal``: one line, in the
  page cache before the answer goes out) and to a queue; the request never waits for the
  database.
* A background task writes everything queued (in batches of ``batch_size``, all of what was
  queued when the flush began, never "the first N and the rest later") every ``interval``
  seconds, or sooner when a batch is full. A flush seals the journal's segment first and
  deletes the sealed segments once it committed everything.
* An op leaves the queue only after the transaction that wrote it committed. When the
  database is down the queue keeps growing and the writer retries with backoff; nothing is
  dropped. Writes are idempotent (``request_id`` is the primary key), so a retry after an
  unknown outcome cannot count twice.
* ``restore`` (start-up) queues what processes that are gone left in the journal directory,
  ahead of anything new: ``kill -9`` included. ``drain`` (graceful shutdown) writes
  everything; what the database still does not take stays in the journal for the next start.
* Data the database refuses (``proxy.db.refusal``: a NUL, an over-long string) would fail
  every retry and hold up everything behind it. When a batch is refused, its halves are
  written, then their halves, and so on: every op the database takes is stored, in order
  (budget resets stay between the records around them), and each single op it refuses goes
  to a dead-letter file (``spend-deadletter-<pid>.jsonl`` in the journal directory, with the
  reason) and is counted. Replayed ops go through the same path.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from proxy.db.database import Store
from proxy.db.journal import Orphans, Segment, SpendJournal
from proxy.db.records import Op, SpendRecord
from proxy.db.refusal import Refusal, append_dead_letter, refusal
from proxy.pacing import Pacer

log = logging.getLogger("proxy.db")

Listener = Callable[[Sequence[Op]], None]
RefusalListener = Callable[[Refusal], None]


def op_fields(op: Op) -> dict[str, Any]:
    kind = "record" if isinstance(op, SpendRecord) else "reset"
    return {"type": kind, **dataclasses.asdict(op)}


class SpendWriter:
    def __init__(
        self,
        store: Store,
        *,
        interval: float = 0.5,
        batch_size: int = 500,
        journal: SpendJournal | None = None,
        max_backoff: float = 30.0,
        pacer: Pacer | None = None,
    ) -> None:
        self.store = store
        self.interval = interval
        self.batch_size = batch_size
        self.journal = journal  # None: nothing on disk (a kill loses what is queued)
        self._replaying: list[Orphans] = []
        self.max_backoff = max_backoff
        self.pacer = pacer  # a flush waits (up to an interval) for a busy loop to quiet down
        self.queue: deque[Op] = deque()
        # How many ops at the head of the queue a write may already have stored (a journal
        # replay, or a batch whose write failed with an unknown outcome): those are looked up
        # before inserting; everything behind them was never sent to the database.
        self._maybe_stored = 0
        self.listeners: list[Listener] = []  # told of ops the database stored
        self.refusal_listeners: list[RefusalListener] = []  # told of each op set aside
        self.written = 0
        self.dead_lettered = 0
        self.healthy = True
        self._failures = 0
        self._wake = asyncio.Event()
        self.lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def pending(self) -> int:
        return len(self.queue)

    def submit(self, op: Op) -> None:
        if self.journal is not None:
            self.journal.append(op)
        self.queue.append(op)
        if len(self.queue) >= self.batch_size:
            self._wake.set()
        if len(self.queue) % 10_000 == 0:
            log.warning("spend writer: %d records waiting for the database", len(self.queue))

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="spend-writer")

    async def _run(self) -> None:
        while not self._stopping:
            delay = self.interval
            if self._failures:
                delay = min(self.max_backoff, self.interval * 2 ** min(self._failures, 10))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            self._wake.clear()
            if self.pacer is not None and not self._stopping:
                await self.pacer.settled(self.interval)
            if self._stopping:
                return
            await self.flush()

    async def flush(self) -> bool:
        """Write everything queued when the flush began; False when the database could not
        be reached (ops kept; data it refuses is set aside instead). What arrives while it
        writes waits for the next flush: looping until the queue was empty turned a flush
        under steady traffic into a transaction every few tens of milliseconds (one per
        commit's worth of arrivals), not one per interval."""
        async with self.lock:
            sealed = self.journal.seal() if self.journal is not None else ()
            pending = len(self.queue)
            while pending > 0 and self.queue:
                batch = [self.queue[i] for i in range(min(self.batch_size, pending))]
                pending -= len(batch)
                unseen = self._maybe_stored == 0
                # Until the commit is known, this batch may be stored (a failure or a
                # cancellation mid-write leaves it at the head of the queue).
                self._maybe_stored = max(self._maybe_stored, len(batch))
                if not await self._write_or_set_aside(batch, unseen):
                    return False
            if self._replaying or (self.journal is not None and self.journal.needs_trim):
                await asyncio.to_thread(self._trim, sealed, self._take_replaying())
            return True

    def _take_replaying(self) -> list[Orphans]:
        replaying, self._replaying = self._replaying, []
        return replaying

    def _trim(self, sealed: tuple[Segment, ...], replayed: list[Orphans]) -> None:
        """Everything in these journal segments is committed: delete them (blocking)."""
        if self.journal is not None:
            self.journal.trim(sealed)
        for orphans in replayed:
            orphans.remove()

    async def _write(self, ops: list[Op], unseen: bool) -> Refusal | None:
        """Write ``ops``, the head of the queue: None once they are stored (they leave the
        queue), the database's refusal when it refused them (a refused transaction rolled
        back: nothing of ``ops`` is stored, and ``unseen`` still holds for their parts).
        Raises when the database could not be reached."""
        try:
            written = await self.store.write(ops, unseen=unseen)
        except Exception as exc:
            refused = refusal(exc)
            if refused is None:
                raise
            return refused
        self._acknowledge(ops, written)
        return None

    async def _write_or_set_aside(self, ops: list[Op], unseen: bool) -> bool:
        """Store ``ops``, the head of the queue, setting aside what the database refuses;
        False when it could not be reached (what is left stays queued)."""
        try:
            refused = await self._write(ops, unseen)
        except Exception as exc:
            self._failed(exc)
            return False
        return refused is None or await self._isolate(ops, unseen, refused)

    async def _isolate(self, ops: list[Op], unseen: bool, refused: Refusal) -> bool:
        """Write refused ``ops`` half by half (each refused half in halves again), left to
        right, so every op the database takes is stored, in order, and each one it refuses
        on its own is set aside. A batch of 500 with one bad record costs 18 more writes.
        False when the database became unreachable meanwhile."""
        if len(ops) == 1:
            await self._dead_letter(ops[0], refused)
            return True
        half = len(ops) // 2
        if not await self._write_or_set_aside(ops[:half], unseen):
            return False
        return await self._write_or_set_aside(ops[half:], unseen)

    def _acknowledge(self, ops: list[Op], written: int) -> None:
        """``ops``, the head of the queue, are committed: they leave it."""
        for _ in ops:
            self.queue.popleft()
        self._maybe_stored -= len(ops)
        self.written += written
        self._recovered()
        for listener in self.listeners:
            listener(ops)

    async def _dead_letter(self, op: Op, refused: Refusal) -> None:
        """Set aside ``op``, the head of the queue, which the database refused.

        It leaves the queue only once its line is in the dead-letter file, so a shutdown
        meanwhile leaves it in the journal (and the next start sets it aside again: a dead
        letter may repeat; its ``request_id`` tells). Its cost stays counted in the key's
        budget in memory; only the database never has it. The log line names the reason and the
        gateway's request id, never the refused value."""
        what = f"request {op.request_id}" if isinstance(op, SpendRecord) else "a budget reset"
        letter = {
            "refused": refused.reason,
            "sqlstate": refused.sqlstate,
            "at": time.time(),
            "op": op_fields(op),
        }
        where = await self._set_aside(letter)
        log.error("spend writer: the database refused %s (%s); %s", what, refused.reason, where)
        self.queue.popleft()
        self._maybe_stored -= 1
        self.dead_lettered += 1
        self._recovered()  # the database answered: it is reachable
        for listener in self.refusal_listeners:
            listener(refused)

    def _failed(self, exc: Exception) -> None:
        self._failures += 1
        if self.healthy:
            log.error(
                "spend writer: database write failed (%s); %d records kept, retrying",
                type(exc).__name__,
                len(self.queue),
            )
        self.healthy = False

    def _recovered(self) -> None:
        if not self.healthy:
            log.warning("spend writer: database writes recovered")
        self.healthy = True
        self._failures = 0

    async def _set_aside(self, letter: dict[str, Any]) -> str:
        """Append a dead letter; says where it went. One that cannot be written (no journal
        dir, a full disk, text JSON cannot hold) is dropped rather than kept: kept, it would
        stop the writer again."""
        if self.journal is None:
            return "no journal dir, dropped"
        try:
            line = orjson.dumps(letter)
            path = await asyncio.to_thread(append_dead_letter, self.journal.directory, line)
        except (OSError, TypeError) as exc:  # orjson.JSONEncodeError is a TypeError
            return f"the dead-letter file failed ({type(exc).__name__}), dropped"
        return f"set aside in {path}"

    async def drain(self, deadline: float = 10.0) -> None:
        """Graceful shutdown: write everything; what the database will not take stays in
        the journal, for the next start."""
        until = time.monotonic() + deadline
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            # Let a write in progress finish (cancelling it mid-transaction could wedge the
            # connection); cancel only a task stuck past the deadline.
            done, _ = await asyncio.wait({self._task}, timeout=deadline)
            if not done:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        pause = 0.1
        while self.queue and time.monotonic() < until:
            if await self.flush():
                continue  # what finished meanwhile is written by the next round
            await asyncio.sleep(min(pause, max(0.0, until - time.monotonic())))
            pause = min(pause * 2, 2.0)
        await self.close()

    async def close(self) -> None:
        """Let go of the journal: its segments are deleted when everything is committed,
        kept for the next start when not."""
        kept = len(self.queue)
        replaying = self._take_replaying()
        if self.journal is not None:
            await asyncio.to_thread(self._close_journal, self.journal, replaying, kept == 0)
        if not kept:
            return
        if self.journal is None:
            log.error("spend writer: %d records lost: database down, no journal dir", kept)
            return
        log.error(
            "spend writer: database unreachable at shutdown; %d records kept in the journal "
            "in %s (written at the next start)",
            kept,
            self.journal.directory,
        )

    @staticmethod
    def _close_journal(journal: SpendJournal, replaying: list[Orphans], committed: bool) -> None:
        journal.close(committed=committed)
        for orphans in replaying:
            if committed:
                orphans.remove()
            else:
                orphans.release()

    async def restore(self) -> int:
        """Open this process's journal and queue what processes that are gone left in its
        directory (a ``kill -9``, a shutdown with the database down), ahead of anything new.

        Their segments are removed only once everything queued has been written, so a crash
        meanwhile replays them again (harmless: writes are idempotent).
        """
        if self.journal is None:
            return 0
        journal = self.journal
        await asyncio.to_thread(journal.open)
        orphans = await asyncio.to_thread(journal.take_orphans)
        if orphans.ops:
            self.queue.extendleft(reversed(orphans.ops))
            self._maybe_stored += len(orphans.ops)
            log.warning(
                "spend writer: replaying %d records (%d of them calls cut off) that processes "
                "now gone left in %s",
                len(orphans.ops),
                orphans.interrupted,
                journal.directory,
            )
        if orphans.segments:
            self._replaying.append(orphans)
        return len(orphans.ops)
