"""A failed write: did the database refuse the data, or could it not be reached?

The answer decides what the spend writer does. An unreachable database is worth waiting for:
everything stays queued and is retried. Refused data fails the same way on every retry, so
waiting on it held up every record behind it for good (a NUL in ``user`` did that on
PostgreSQL); such a record is set aside instead, in a dead-letter file.

PostgreSQL tells which in the SQLSTATE: class 22 is a data exception, class 23 an integrity
constraint violation. Through SQLAlchemy's asyncpg dialect only class 23 arrives as its
PEP 249 class (``IntegrityError``); a class-22 error is a bare ``DBAPIError`` whose ``orig``
carries the SQLSTATE:

* a NUL in a text value: ``DBAPIError``, ``orig.sqlstate == "22021"``
  (asyncpg's ``CharacterNotInRepertoireError``, "invalid byte sequence for encoding UTF8: 0x00");
* a string longer than its VARCHAR: ``DBAPIError``, ``orig.sqlstate == "22001"``
  (``StringDataRightTruncationError``, "value too long for type character varying(n)");
* a value asyncpg cannot encode at all: ``DBAPIError``, ``"22000"`` (its client-side
  ``DataError``);
* a NULL in a NOT NULL column: ``IntegrityError``, ``"23502"``.

SQLite accepts NULs and over-long strings; what it refuses arrives as ``IntegrityError`` or
``DataError`` without a SQLSTATE.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

DATA_CLASSES = ("22", "23")  # SQLSTATE classes about the data, not the connection
DEAD_LETTER_PREFIX = "spend-deadletter-"


@dataclass(frozen=True, slots=True)
class Refusal:
    error: str  # the exception's class name
    sqlstate: str | None

    @property
    def reason(self) -> str:
        """``DBAPIError 22021``: what a log line or dead letter says; never the value."""
        return f"{self.error} {self.sqlstate}" if self.sqlstate else self.error


def refusal(exc: BaseException) -> Refusal | None:
    """The database's refusal of the data behind ``exc``; None for anything else (a lost
    connection, a timeout, a full pool: worth a retry)."""
    if not isinstance(exc, DBAPIError):
        return None
    state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    sqlstate = state if isinstance(state, str) else None
    refused = isinstance(exc, DataError | IntegrityError) or (
        sqlstate is not None and sqlstate[:2] in DATA_CLASSES
    )
    return Refusal(type(exc).__name__, sqlstate) if refused else None


def dead_letter_path(directory: Path) -> Path:
    return directory / f"{DEAD_LETTER_PREFIX}{os.getpid()}.jsonl"


def append_dead_letter(directory: Path, line: bytes) -> Path:
    """Append one JSON line to this process's dead-letter file (kept, never replayed)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = dead_letter_path(directory)
    with path.open("ab") as f:
        f.write(line + b"\n")
        f.flush()
        os.fsync(f.fileno())
    return path
