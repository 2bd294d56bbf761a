"""What the store writes: one spend record per request, and budget-period resets."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from proxy.context import KeyInfo
from proxy.names import MAX_NAME_LENGTH

MAX_TEXT = MAX_NAME_LENGTH
# The width of each clipped column (proxy/db/schema.py): a longer value is refused by
# PostgreSQL, and one refused value used to hold up every record behind it.
CLIPPED = {
    "key_alias": MAX_TEXT,
    "user_id": MAX_TEXT,
    "end_user": MAX_TEXT,
    "model_group": MAX_TEXT,
    "deployment_id": 128,  # model_info.id from the config, unbounded there
}


def clip(value: str | None, limit: int = MAX_TEXT) -> str | None:
    return value[:limit] if isinstance(value, str) else None


def billed_key(key: KeyInfo | None) -> str | None:
    """The key hash a record bills: a virtual key's; the master key has no budget."""
    return key.key_hash if key is not None and not key.is_master else None


@dataclass(slots=True)
class SpendRecord:
    request_id: str
    time: float
    endpoint: str
    status: int
    key_hash: str | None = None
    key_alias: str | None = None
    user_id: str | None = None
    end_user: str | None = None
    model_group: str | None = None
    deployment_id: str | None = None
    provider: str | None = None
    stream: bool = False
    latency_ms: float = 0.0
    upstream_ms: float = 0.0
    retries: int = 0
    fallbacks: int = 0
    images: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost: float | None = None
    cost_basis: str = "unknown"
    error_class: str | None = None
    usage: dict[str, Any] | None = None
    prompt: str | None = None
    # Not stored: the key's budget period the cost belongs to (guards the spend increment).
    key_period: int = 0

    def row(self) -> dict[str, Any]:
        # Field by field, not dataclasses.asdict: that deep-copies recursively and was 4% of
        # the proxy's CPU per request (bench/, py-spy). ``usage`` is copied one level deep.
        out = {name: getattr(self, name) for name in ROW_FIELDS}
        if self.usage is not None:
            out["usage"] = dict(self.usage)
        for k, limit in CLIPPED.items():
            out[k] = clip(out[k], limit)
        return out

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> SpendRecord:
        fields = {k: row[k] for k in cls.__dataclass_fields__ if k in row}
        return cls(**fields)

    def public(self) -> dict[str, Any]:
        """The API shape: everything but internal fields, with an ISO timestamp."""
        out = self.row()
        out["time_iso"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.time))
        return out


ROW_FIELDS = tuple(name for name in SpendRecord.__dataclass_fields__ if name != "key_period")


@dataclass(frozen=True, slots=True)
class BudgetReset:
    """Start a key's next budget period (spend back to 0) if it is still in ``period``."""

    key_hash: str
    period: int
    next_reset_at: float | None


Op = SpendRecord | BudgetReset
