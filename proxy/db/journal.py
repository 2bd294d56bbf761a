"""The spend journal: every spend op on local disk before the answer goes out, so a process
that is killed (``kill -9``, the OOM killer) loses no spend.

* One journal per process, in segments ``spend-journal-<pid>-<start ns>-<seq>.jsonl`` of the
  journal directory (the start time keeps a restarted container's pid 1 apart from the last
  one). The owner holds an exclusive ``flock`` on each segment it keeps: a segment nobody
  holds belongs to a process that is gone. A segment is created under a hidden name, locked,
  then renamed into place, so no other process ever sees it unlocked.
* One JSON line per event, appended with one ``os.write`` on an ``O_APPEND`` descriptor: in
  the page cache when the call returns, so it survives the process (not the machine):
  ``intent`` when a call is about to go upstream (what its interrupted record would say:
  who, which model and deployment, when), ``record`` and ``reset`` for the spend writer's
  ops, when submitted. A line is an array, the kind then the values; each segment starts
  with the field names of each kind (orjson writes a tuple three times faster than the
  dataclass, and building no dict per line halves the cost again).
* Trimming: when the writer begins a flush, the active segment is sealed (``seal``) and a
  spare one, made ready off the event loop, takes what follows, starting with the intents
  still open. Once the flush committed all that was queued when it began, the sealed
  segments are deleted and the next spare made (``trim``, off the loop).
* Replay (``take_orphans``): every segment no process holds is locked and read; its records
  and resets are queued in order, and each intent without a record becomes an interrupted
  record. The segments are deleted once all that is committed; a process that dies first
  leaves them to the next start (writes are idempotent). Spool files of versions before the
  journal (``spend-spool-*.jsonl``, one JSON object a line) replay the same way.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Any

import orjson

from proxy.context import RequestContext
from proxy.db.records import BudgetReset, Op, SpendRecord, billed_key

log = logging.getLogger("proxy.db")

PREFIX = "spend-journal-"
LEGACY_SPOOL = "spend-spool-*.jsonl"
INTERRUPTED = "interrupted"  # error_class and cost_basis of a call cut off by the process's end
INTERRUPTED_STATUS = 500  # no answer was sent: the gateway failed
_CUT_OFF: dict[str, Any] = {
    "status": INTERRUPTED_STATUS,
    "cost_basis": INTERRUPTED,
    "error_class": INTERRUPTED,
}

RECORD_FIELDS = tuple(SpendRecord.__dataclass_fields__)  # key_period included
RESET_FIELDS = tuple(BudgetReset.__dataclass_fields__)
INTENT_FIELDS = (  # the order of ``SpendJournal.intent``'s values
    "request_id",
    "time",
    "endpoint",
    "key_hash",
    "key_alias",
    "user_id",
    "end_user",
    "model_group",
    "deployment_id",
    "provider",
    "stream",
    "retries",
    "fallbacks",
)
HEADER = orjson.dumps(
    {"type": "fields", "record": RECORD_FIELDS, "reset": RESET_FIELDS, "intent": INTENT_FIELDS}
)
_record_values = attrgetter(*RECORD_FIELDS)
_reset_values = attrgetter(*RESET_FIELDS)


def _line(values: tuple[Any, ...]) -> bytes:
    try:
        return orjson.dumps(values, option=orjson.OPT_NON_STR_KEYS) + b"\n"
    except TypeError as exc:  # orjson.JSONEncodeError: a value JSON cannot hold
        log.error("spend journal: a %s could not be encoded (%s); not journaled", values[0], exc)
        return b""


def op_line(op: Op) -> bytes:
    if isinstance(op, SpendRecord):
        return _line(("record", *_record_values(op)))
    return _line(("reset", *_reset_values(op)))


def decode_line(line: bytes, names: dict[str, list[str]]) -> tuple[str, Op] | None:
    """One line: (kind, op), or None for a header (whose field names go to ``names``).
    Raises ValueError (or TypeError, KeyError) for a line cut short or not understood."""
    data = orjson.loads(line)
    if isinstance(data, dict):  # a segment's header, or a line of a spool file
        kind = data.pop("type")
        if kind == "fields":
            names.update(data)
            return None
        fields = data
    else:
        kind, fields = data[0], dict(zip(names[data[0]], data[1:], strict=True))
    if kind == "reset":
        return kind, BudgetReset(**fields)
    if kind == "intent":
        return kind, SpendRecord(**fields, **_CUT_OFF)
    return kind, SpendRecord(**fields)


@dataclass(slots=True)
class Segment:
    path: Path
    fd: int

    def close(self, *, remove: bool) -> None:
        if remove:  # unlinked while still locked: a process that opens it next sees nlink 0
            self.path.unlink(missing_ok=True)
        os.close(self.fd)


def _order(path: Path) -> tuple[int, ...]:
    """``spend-journal-<pid>-<ns>-<seq>``: by owner, then in the order they were written."""
    return tuple(int(part) for part in path.stem[len(PREFIX) :].split("-") if part.isdigit())


@dataclass(slots=True)
class Orphans:
    """What processes that are gone left: their ops, and their segments, locked until the
    ops are committed (``remove``) or this process stops first (``release``)."""

    ops: list[Op] = field(default_factory=list)
    interrupted: int = 0
    segments: list[Segment] = field(default_factory=list)

    def remove(self) -> None:
        for segment in self.segments:
            segment.close(remove=True)
        self.segments = []

    def release(self) -> None:
        for segment in self.segments:
            segment.close(remove=False)
        self.segments = []


class SpendJournal:
    """This process's journal. ``intent``, ``append`` and ``seal`` run on the event loop
    (one ``os.write`` each at most); ``open``, ``trim``, ``close`` and ``take_orphans``
    touch the file system and run in a worker thread."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.owner = ""  # "<pid>-<start ns>", set when opened (in the worker, after a fork)
        self.healthy = True  # False while lines cannot be written (readiness says so)
        self._seq = 0
        self._active: Segment | None = None
        self._spare: Segment | None = None  # the next active segment, made off the loop
        self._ops_in_active = 0
        self._sealed: list[Segment] = []
        self._open: dict[str, bytes] = {}  # request id -> its intent line, until its record

    # --- the owner's side -----------------------------------------------------------------

    def open(self) -> None:
        """Start this process's first segment and its spare."""
        self.owner = f"{os.getpid()}-{time.time_ns()}"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._active = self._create()
            self._spare = self._create()
        except OSError as exc:
            self._broken(exc)

    def _create(self) -> Segment:
        self._seq += 1
        name = f"{PREFIX}{self.owner}-{self._seq:06d}.jsonl"
        hidden = self.directory / f".{name}.new"
        fd = os.open(hidden, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, HEADER + b"\n")
            os.rename(hidden, self.directory / name)
        except OSError:
            os.close(fd)
            hidden.unlink(missing_ok=True)
            raise
        return Segment(self.directory / name, fd)

    def intent(self, ctx: RequestContext) -> None:
        """A call of ``ctx`` is about to go upstream: what its interrupted record would say."""
        if self._active is None:
            return
        key = ctx.key
        line = _line(
            (
                "intent",
                ctx.request_id,
                ctx.wall_time,
                ctx.endpoint,
                billed_key(key),
                key.alias if key is not None else None,
                key.user_id if key is not None else None,
                ctx.end_user,
                ctx.model_group,
                ctx.deployment_id,
                ctx.provider,
                ctx.stream,
                ctx.retries,
                ctx.fallbacks,
            )
        )
        if line:
            self._open[ctx.request_id] = line
            self._write(line)

    def append(self, op: Op) -> None:
        """A spend op the writer queued; a record closes its request's intent."""
        if self._active is None:
            return
        if isinstance(op, SpendRecord):
            self._open.pop(op.request_id, None)
        line = op_line(op)
        if line:
            self._write(line)
            self._ops_in_active += 1

    def _write(self, data: bytes) -> None:
        assert self._active is not None
        try:
            written = os.write(self._active.fd, data)
            while written < len(data):  # a regular file takes it all, unless the disk is full
                written += os.write(self._active.fd, data[written:])
        except OSError as exc:
            self._broken(exc)
            return
        if not self.healthy:
            log.warning("spend journal: writes recovered")
            self.healthy = True

    def _broken(self, exc: OSError) -> None:
        if self.healthy:
            log.error(
                "spend journal %s: write failed (%s); spend not on disk until it recovers",
                self.directory,
                exc.strerror or type(exc).__name__,
            )
        self.healthy = False

    def seal(self) -> tuple[Segment, ...]:
        """The writer begins a flush: the spare segment takes what follows (the intents still
        open first), unless the active one holds no op. Returns every sealed segment: all of
        their ops are in the writer's queue now, or committed. Without a spare (the last
        flush failed) the active segment goes on; the next flush that succeeds makes one."""
        if self._active is not None and self._ops_in_active and self._spare is not None:
            self._sealed.append(self._active)
            self._active, self._spare, self._ops_in_active = self._spare, None, 0
            if self._open:
                self._write(b"".join(self._open.values()))
        return tuple(self._sealed)

    @property
    def needs_trim(self) -> bool:
        """Sealed segments wait for deletion, or a spare for its making."""
        return bool(self._sealed) or (self._spare is None and self._active is not None)

    def trim(self, committed: tuple[Segment, ...]) -> None:
        """Everything in ``committed`` is in the database: delete them; make a spare."""
        for segment in committed:
            self._sealed.remove(segment)
            segment.close(remove=True)
        if self._spare is None and self._active is not None:
            try:
                self._spare = self._create()
            except OSError as exc:
                self._broken(exc)

    def close(self, *, committed: bool) -> None:
        """At shutdown. ``committed``: every op journaled is in the database. Kept for the
        next start: the segments with ops not committed, and the active one while intents
        are still open."""
        for segment in self._sealed:
            segment.close(remove=committed)
        if self._active is not None:
            keep = bool(self._open) or (not committed and self._ops_in_active > 0)
            self._active.close(remove=not keep)
        if self._spare is not None:
            self._spare.close(remove=True)
        self._sealed, self._active, self._spare = [], None, None

    # --- the next start's side ------------------------------------------------------------

    def take_orphans(self) -> Orphans:
        """Lock and read every segment of a process that is gone."""
        found = Orphans()
        if not self.directory.is_dir():
            return found
        mine = f"{PREFIX}{self.owner}-" if self.owner else None
        paths = sorted(self.directory.glob(f"{PREFIX}*.jsonl"), key=_order)
        paths += sorted(self.directory.glob(LEGACY_SPOOL))
        intents: dict[str, SpendRecord] = {}
        recorded: set[str] = set()
        for path in paths:
            if mine is not None and path.name.startswith(mine):
                continue
            segment = _lock_orphan(path)
            if segment is None:
                continue
            found.segments.append(segment)
            names: dict[str, list[str]] = {}
            for line in path.read_bytes().splitlines():
                try:
                    decoded = decode_line(line, names) if line.strip() else None
                except (ValueError, TypeError, KeyError, IndexError):
                    # a line cut short by the kill: its answer never went out
                    log.error("spend journal: skipping an unreadable line in %s", path.name)
                    continue
                if decoded is None:
                    continue
                kind, op = decoded
                if kind == "intent" and isinstance(op, SpendRecord):
                    intents[op.request_id] = op  # the last try's deployment
                    continue
                if isinstance(op, SpendRecord):
                    recorded.add(op.request_id)
                found.ops.append(op)
        cut = [op for rid, op in intents.items() if rid not in recorded]
        found.ops.extend(cut)
        found.interrupted = len(cut)
        return found


def _lock_orphan(path: Path) -> Segment | None:
    """``path`` locked, when no process holds it and it was not deleted meanwhile."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.fstat(fd).st_nlink == 0:  # its owner committed and deleted it as we opened it
            os.close(fd)
            return None
    except BlockingIOError:  # its process is alive
        os.close(fd)
        return None
    return Segment(path, fd)
