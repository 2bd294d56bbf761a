"""Spend records as CSV: one header row, one row per record, safe to open in a spreadsheet.

A cell that a spreadsheet would take for a formula (it begins with ``=``, ``+``, ``-``, ``@``,
a tab or a carriage return: a prompt or an alias is user text) is prefixed with ``'``, the
OWASP advice against CSV injection. Numbers are written as numbers; an unknown cost is an empty
cell, never a 0.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from proxy.db.records import ROW_FIELDS

COLUMNS = ("time_iso", *(name for name in ROW_FIELDS if name != "usage"))  # usage: JSON
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> str | int | float:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def spend_csv(records: Iterable[dict[str, Any]]) -> str:
    """The records (``SpendRecord.public()`` shapes) as CSV text, CRLF line ends (RFC 4180)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for record in records:
        writer.writerow([cell(record.get(name)) for name in COLUMNS])
    return out.getvalue()
