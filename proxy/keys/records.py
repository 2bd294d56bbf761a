"""Virtual keys: the admin API's request bodies and the stored record."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from proxy.context import KeyInfo
from proxy.keys.budget import Budget, RpmWindow, TpmWindow
from proxy.keys.durations import iso, parse_duration, parse_expiry
from proxy.keys.litellm_fields import SHOWN_UNSET, LiteLLMKeyFields
from proxy.names import CONTROL_PROBLEM, MAX_NAME_LENGTH, has_control, name_problem


class KeyFields(LiteLLMKeyFields):
    """Fields an admin may set on a key: LiteLLM's (``proxy.keys.litellm_fields``) and ours;
    a field LiteLLM does not know either is refused with a 400 naming it."""

    model_config = ConfigDict(extra="forbid")

    key: str | None = Field(
        default=None,
        min_length=24,
        max_length=MAX_NAME_LENGTH,
        pattern=r"^sk-[A-Za-z0-9_\-]+$",
        description="The key to create (LiteLLM's custom key): `sk-` and 21 or more characters.",
    )
    models: list[str] | None = None
    max_budget: float | None = Field(default=None, ge=0)
    budget_duration: str | None = None
    rpm_limit: int | None = Field(default=None, ge=0)
    expires: str | None = None
    duration: str | None = None  # LiteLLM's name for "expires after"
    metadata: dict[str, Any] | None = None
    user_id: str | None = Field(default=None, max_length=MAX_NAME_LENGTH)
    key_alias: str | None = Field(default=None, min_length=1, max_length=MAX_NAME_LENGTH)
    guardrails: list[str] | None = None  # pinned: the key's holder cannot switch them off

    @field_validator("budget_duration", "duration")
    @classmethod
    def _duration(cls, v: str | None) -> str | None:
        if v is not None:
            parse_duration(v)
        return v

    @field_validator("expires")
    @classmethod
    def _expires(cls, v: str | None) -> str | None:
        if v is not None:
            parse_expiry(v)
        return v

    @field_validator("key_alias", "user_id", "team_id")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        """Stored in the spend log beside every request (``proxy.names``)."""
        return None if v is None else valid_name(v)

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        """Metadata keys, nested ones included, are field names wherever the key is shown
        (``/key/info``, JSON exports); a control character in one is never meant, only
        smuggled."""
        if v is not None and any(has_control(k) for k in object_keys(v)):
            raise ValueError(f"keys {CONTROL_PROBLEM}")
        return v

    @field_validator("models", "guardrails")
    @classmethod
    def _names(cls, v: list[str] | None) -> list[str] | None:
        """Model and guardrail names: an unknown one is refused quoting it, so they are held
        to ``proxy.names`` here first."""
        for name in v or ():
            if not name:
                raise ValueError("every name must be a non-empty string")
            valid_name(name, "every name ")
        return v

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        """Alias and model group names are held to ``proxy.names`` like model names."""
        for alias, group in (v or {}).items():
            valid_name(alias, "every alias ")
            valid_name(group, "every model group ")
        return v


class KeyUpdate(KeyFields):
    key: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)

    @field_validator("key")
    @classmethod
    def _key(cls, v: str) -> str:
        """A key, key hash or alias to look up (``proxy.names``)."""
        return valid_name(v)


class KeyDelete(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keys: list[str] = Field(default_factory=list, max_length=1000)
    key_aliases: list[str] = Field(default_factory=list, max_length=1000)

    @field_validator("keys", "key_aliases")
    @classmethod
    def _names(cls, v: list[str]) -> list[str]:
        """Keys, key hashes and aliases to look up (``proxy.names``)."""
        for name in v:
            valid_name(name, "every item ")
        return v


def valid_name(value: str, subject: str = "") -> str:
    """``value`` when ``proxy.names`` accepts it, else the ValueError pydantic reports as a
    400 naming the field (``subject`` + why, never the value)."""
    problem = name_problem(value)
    if problem is not None:
        raise ValueError(f"{subject}{problem}")
    return value


def object_keys(value: Any) -> list[str]:
    """Every object key in ``value``, at any depth (iterative)."""
    keys: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            keys.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return keys


@dataclass
class KeyState:
    """One key as this process sees it: the stored record plus live budget and rate state."""

    row: dict[str, Any]
    budget: Budget
    rpm: RpmWindow | None
    tpm: TpmWindow | None = None
    loaded_at: float = field(default_factory=time.monotonic)
    refreshing: bool = False
    _info: KeyInfo | None = field(default=None, repr=False)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> KeyState:
        alias = row.get("key_alias") or row["key_name"]
        duration = parse_duration(row["budget_duration"]) if row.get("budget_duration") else None
        budget = Budget(
            owner=f"key '{alias}'",
            max_budget=row.get("max_budget"),
            duration=duration,
            reset_at=row.get("budget_reset_at"),
            period=int(row.get("budget_period") or 0),
            stored=float(row.get("spend") or 0.0),
        )
        rpm = RpmWindow(int(row["rpm_limit"])) if row.get("rpm_limit") is not None else None
        settings = row.get("settings")
        tpm_limit = settings.get("tpm_limit") if isinstance(settings, dict) else None
        tpm = TpmWindow(int(tpm_limit)) if tpm_limit is not None else None
        return cls(row=row, budget=budget, rpm=rpm, tpm=tpm)

    @property
    def key_hash(self) -> str:
        return str(self.row["key_hash"])

    @property
    def settings(self) -> dict[str, Any]:
        value = self.row.get("settings")
        return value if isinstance(value, dict) else {}

    @property
    def blocked(self) -> bool:
        return bool(self.settings.get("blocked"))

    @property
    def max_parallel_requests(self) -> int | None:
        value = self.settings.get("max_parallel_requests")
        return int(value) if value is not None else None

    @property
    def expires_at(self) -> float | None:
        value = self.row.get("expires_at")
        return float(value) if value is not None else None

    def info(self) -> KeyInfo:
        """Built once per loaded row (a changed key is reloaded as a new state)."""
        if self._info is None:
            self._info = self._build_info()
        return self._info

    def _build_info(self) -> KeyInfo:
        return KeyInfo(
            key_hash=self.key_hash,
            alias=self.row.get("key_alias") or self.row["key_name"],
            models=tuple(self.row.get("models") or ()),
            user_id=self.row.get("user_id"),
            metadata=dict(self.row.get("metadata") or {}),
            guardrails=tuple((self.row.get("metadata") or {}).get("guardrails") or ()),
            aliases=dict(self.settings.get("aliases") or {}),
        )

    def public(self) -> dict[str, Any]:
        """The admin API view: never the key itself, only its hash and a masked name."""
        r = self.row
        return {
            "token": r["key_hash"],  # LiteLLM's name for the key's hash
            "key_hash": r["key_hash"],
            "key_name": r["key_name"],
            "key_alias": r.get("key_alias"),
            "models": list(r.get("models") or []),
            "max_budget": r.get("max_budget"),
            "budget_duration": r.get("budget_duration"),
            "budget_reset_at": iso(self.budget.reset_at),
            "spend": round(self.budget.spend, 10),
            "reserved": round(self.budget.reserved, 10),
            "rpm_limit": r.get("rpm_limit"),
            "expires": iso(self.expires_at),
            "metadata": r.get("metadata") or {},
            "guardrails": list((r.get("metadata") or {}).get("guardrails") or []),
            "user_id": r.get("user_id"),
            "team_id": r.get("team_id"),
            "blocked": self.blocked,
            "max_parallel_requests": self.max_parallel_requests,
            "aliases": self.settings.get("aliases") or {},
            **SHOWN_UNSET,
            **{k: v for k, v in self.settings.items() if k not in SHOWN},
            "created_at": iso(r.get("created_at")),
            "updated_at": iso(r.get("updated_at")),
        }


SHOWN = frozenset({"blocked", "max_parallel_requests", "aliases"})
