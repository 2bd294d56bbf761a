"""Names a client chooses (model, end user, key alias, key owner): what the gateway accepts.

Such a name travels far: into the spend log's VARCHAR(256) columns, into log lines, metric
labels and the ``x-model-group`` response header. PostgreSQL refuses a NUL in any text
column, and a string longer than its column; a CR or LF splits a log line or a header. So
every name is checked once, at the edge: no control characters (U+0000-U+001F, U+007F) and
at most ``MAX_NAME_LENGTH`` characters. Anything else (non-ASCII letters included) is allowed.

The reasons returned here never quote the value: an error message or log line must not echo
the very bytes that were refused.
"""

from __future__ import annotations

import re

# The VARCHAR size of the name columns (proxy/db/schema.py builds them from this constant;
# changing it needs a migration).
MAX_NAME_LENGTH = 256

_CONTROL = re.compile("[\x00-\x1f\x7f]")
CONTROL_PROBLEM = "must not contain control characters (U+0000-U+001F, U+007F)"


def has_control(value: str) -> bool:
    return _CONTROL.search(value) is not None


def name_problem(value: str, limit: int = MAX_NAME_LENGTH) -> str | None:
    """Why ``value`` cannot be a name (a phrase to follow the field's name), or None."""
    if has_control(value):
        return CONTROL_PROBLEM
    if len(value) > limit:
        return f"must be at most {limit} characters"
    return None
