"""Virtual keys: generation, lookup (cached), and the admin operations.

Keys are ``sk-`` + 43 random URL-safe characters, shown once at generation and stored only as
their SHA-256 hash. Lookup hashes what the caller presented and reads the hash, so the path is
the same whatever the caller sends, the query is parameterised, and a failed lookup writes
nothing. Known keys are served from memory; a key older than ``ttl`` seconds is re-read in the
background (picking up updates and deletes from other replicas) while the cached copy keeps
serving, so a database outage never stops known keys. Unknown hashes are remembered briefly so
a flood of bad keys costs one query each per ``negative_ttl``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from proxy.auth import hash_key
from proxy.context import KeyInfo
from proxy.db.database import KeyFilter, Store, with_timeout
from proxy.db.records import BudgetReset, Op, SpendRecord
from proxy.db.writer import SpendWriter
from proxy.errors import AuthenticationError, InvalidRequestError, ServiceUnavailableError
from proxy.keys.durations import iso, parse_duration, parse_expiry
from proxy.keys.litellm_fields import merged
from proxy.keys.records import KeyFields, KeyState
from proxy.model_patterns import is_pattern, pattern_matches

log = logging.getLogger("proxy.keys")

NEGATIVE_CACHE_SIZE = 10_000
HASH_LENGTH = 64


def new_key() -> str:
    return "sk-" + secrets.token_urlsafe(32)


def masked(key: str) -> str:
    return f"sk-...{key[-4:]}"


def looks_like_hash(value: str) -> bool:
    return len(value) == HASH_LENGTH and all(c in "0123456789abcdef" for c in value)


class KeyService:
    def __init__(
        self,
        store: Store,
        writer: SpendWriter,
        *,
        known_models: Sequence[str] = (),
        known_guardrails: Sequence[str] = (),
        ttl: float = 30.0,
        negative_ttl: float = 5.0,
    ) -> None:
        self.store = store
        self.writer = writer
        self.known_models = set(known_models)
        self.known_guardrails = set(known_guardrails)
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self.cache: dict[str, KeyState] = {}
        self._unknown: OrderedDict[str, float] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        # (op, key hash) after a key is created / changed / deleted here (replica events)
        self.changed: list[Callable[[str, str], Awaitable[None]]] = []
        writer.listeners.append(self._flushed)

    # --- the request path -----------------------------------------------------------------

    async def lookup(self, presented: str) -> KeyInfo | None:
        """The key's info, None when unknown, 401 when expired."""
        return await self.lookup_hash(hash_key(presented))

    async def lookup_hash(self, key_hash: str) -> KeyInfo | None:
        """``Authenticator.lookup``: ``lookup`` of the key whose hash this is."""
        state = self.cache.get(key_hash)
        if state is None:
            state = await self._load(key_hash)
            if state is None:
                return None
        elif time.monotonic() - state.loaded_at > self.ttl and not state.refreshing:
            self._refresh_later(state)
        expires = state.expires_at
        if expires is not None and time.time() >= expires:
            raise AuthenticationError(f"API key expired at {iso(expires)}.", code="expired_api_key")
        if state.blocked:
            raise AuthenticationError(
                "This key is blocked; an admin can lift it with POST /key/unblock.",
                code="key_blocked",
            )
        return state.info()

    def state(self, key_hash: str) -> KeyState | None:
        return self.cache.get(key_hash)

    async def _load(self, key_hash: str) -> KeyState | None:
        now = time.monotonic()
        seen = self._unknown.get(key_hash)
        if seen is not None and now - seen < self.negative_ttl:
            return None
        try:
            row = await with_timeout(self.store.get_key(key_hash), 5.0)
        except Exception as exc:
            log.error("key lookup failed: database unavailable (%s)", type(exc).__name__)
            raise ServiceUnavailableError(
                "The key store is unavailable; try again shortly.", code="key_store_unavailable"
            ) from None
        if row is None:
            self._unknown[key_hash] = now
            self._unknown.move_to_end(key_hash)
            while len(self._unknown) > NEGATIVE_CACHE_SIZE:
                self._unknown.popitem(last=False)
            return None
        return self._cache_row(row)

    def _cache_row(self, row: dict[str, Any]) -> KeyState:
        state = KeyState.from_row(row)
        self._unknown.pop(state.key_hash, None)
        old = self.cache.get(state.key_hash)
        if old is not None:
            state.budget.reserved = old.budget.reserved
            state.budget.in_flight = old.budget.in_flight
            if old.budget.period == state.budget.period:
                state.budget.unflushed = old.budget.unflushed
            if old.rpm is not None and state.rpm is not None:
                state.rpm.stamps = old.rpm.stamps
            if old.tpm is not None and state.tpm is not None:
                state.tpm.used, state.tpm.total = old.tpm.used, old.tpm.total
        self.cache[state.key_hash] = state
        return state

    def _refresh_later(self, state: KeyState) -> None:
        state.refreshing = True
        task = asyncio.create_task(self._refresh(state.key_hash))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _refresh(self, key_hash: str) -> None:
        try:
            # Under the writer's lock: a batch is never half-acknowledged while we read.
            async with self.writer.lock:
                row = await with_timeout(self.store.get_key(key_hash), 5.0)
                if row is None:
                    self.cache.pop(key_hash, None)
                else:
                    self._cache_row(row)
        except Exception as exc:
            log.warning("key refresh failed (%s); serving the cached key", type(exc).__name__)
            state = self.cache.get(key_hash)
            if state is not None:
                state.loaded_at = time.monotonic()
                state.refreshing = False

    async def reload(self, key_hash: str) -> None:
        """Another replica changed this key: re-read it if held here, forget any miss."""
        self._unknown.pop(key_hash, None)
        if key_hash in self.cache:
            await self._refresh(key_hash)

    def forget(self, key_hash: str) -> None:
        """Another replica deleted this key."""
        self.cache.pop(key_hash, None)
        self._unknown[key_hash] = time.monotonic()

    async def _announce(self, op: str, key_hash: str) -> None:
        for listener in self.changed:
            try:
                await listener(op, key_hash)
            except Exception as exc:
                log.error("key change listener failed (%s)", type(exc).__name__)

    def roll_budget(self, state: KeyState, now: float) -> None:
        old_period = state.budget.period
        if state.budget.roll(now):
            state.row["budget_reset_at"] = state.budget.reset_at
            self.writer.submit(BudgetReset(state.key_hash, old_period, state.budget.reset_at))

    def _flushed(self, ops: Sequence[Op]) -> None:
        for op in ops:
            if isinstance(op, SpendRecord) and op.key_hash and op.cost:
                state = self.cache.get(op.key_hash)
                if state is not None:
                    state.budget.flushed(op.cost, op.key_period)

    # --- admin ----------------------------------------------------------------------------

    def _check_models(self, models: list[str] | None, param: str = "models") -> None:
        unknown = sorted(
            m
            for m in set(models or ()) - self.known_models
            if not is_pattern(m)  # a pattern (openai/*) may match groups to come
            and not any(pattern_matches(p, m) for p in self.known_models if is_pattern(p))
        )
        if unknown:
            raise InvalidRequestError(
                f"{param}: {', '.join(repr(m) for m in unknown)} not served by this proxy.",
                param=param,
            )

    def _check_guardrails(self, names: list[str] | None) -> None:
        unknown = sorted(set(names or ()) - self.known_guardrails)
        if unknown:
            raise InvalidRequestError(
                f"guardrails: {', '.join(repr(n) for n in unknown)} not configured.",
                param="guardrails",
            )

    async def _check_alias(self, alias: str | None, own_hash: str | None = None) -> None:
        if alias is None:
            return
        if looks_like_hash(alias) or alias.startswith("sk-"):
            raise InvalidRequestError(
                "key_alias must not look like a key or a key hash.", param="key_alias"
            )
        holder = await self.store.key_hash_for_alias(alias)
        if holder is not None and holder != own_hash:
            raise InvalidRequestError(
                f"key_alias {alias!r} is already used by another key.", param="key_alias"
            )

    async def generate(self, fields: KeyFields) -> tuple[str, KeyState]:
        self._check_models(fields.models)
        self._check_models(list((fields.aliases or {}).values()), "aliases")
        self._check_guardrails(fields.guardrails)
        await self._check_alias(fields.key_alias)
        key = fields.key or new_key()
        if fields.key is not None and await self.store.get_key(hash_key(key)) is not None:
            raise InvalidRequestError("This key already exists.", param="key")
        now = time.time()
        row: dict[str, Any] = {
            "key_hash": hash_key(key),
            "key_name": masked(key),
            "key_alias": fields.key_alias,
            "models": fields.models or [],
            "max_budget": fields.max_budget,
            "budget_duration": fields.budget_duration,
            "budget_reset_at": (
                now + parse_duration(fields.budget_duration) if fields.budget_duration else None
            ),
            "budget_period": 0,
            "spend": fields.spend or 0.0,
            "rpm_limit": fields.rpm_limit,
            "expires_at": _expiry(fields, now),
            "metadata": with_guardrails(fields.metadata or {}, fields.guardrails),
            "user_id": fields.user_id,
            "team_id": fields.team_id,
            "settings": merged(None, fields.settings(fields.model_fields_set)),
            "created_at": now,
            "updated_at": now,
        }
        await self.store.insert_key(row)
        log.info("key generated: %s alias=%s", row["key_name"], fields.key_alias)
        state = self._cache_row(row)
        await self._announce("created", state.key_hash)
        return key, state

    async def resolve(self, key_or_hash: str) -> str | None:
        """The hash of a key given as the key itself, its hash, or its alias."""
        if key_or_hash.startswith("sk-"):
            return hash_key(key_or_hash)
        if looks_like_hash(key_or_hash):
            return key_or_hash
        return await self.store.key_hash_for_alias(key_or_hash)

    async def info(self, key_hash: str) -> KeyState | None:
        async with self.writer.lock:
            row = await self.store.get_key(key_hash)
            if row is None:
                self.cache.pop(key_hash, None)
                return None
            return self._cache_row(row)

    async def update(self, key_hash: str, fields: KeyFields) -> KeyState | None:
        given = fields.model_fields_set
        values: dict[str, Any] = {}
        now = time.time()
        if "models" in given:
            self._check_models(fields.models)
            values["models"] = fields.models or []
        if "key_alias" in given:
            await self._check_alias(fields.key_alias, key_hash)
            values["key_alias"] = fields.key_alias
        for name in ("max_budget", "rpm_limit", "user_id", "team_id", "spend"):
            if name in given:
                values[name] = getattr(fields, name)
        if values.get("spend", 0) is None:
            values["spend"] = 0.0
        if "aliases" in given:
            self._check_models(list((fields.aliases or {}).values()), "aliases")
        changes = fields.settings(given)
        current: dict[str, Any] | None = None
        if changes:
            current = await self.store.get_key(key_hash)
            values["settings"] = merged((current or {}).get("settings"), changes)
        if "metadata" in given or "guardrails" in given:
            self._check_guardrails(fields.guardrails)
            if "metadata" in given:
                metadata = fields.metadata or {}
            else:
                current = current or await self.store.get_key(key_hash)
                metadata = dict((current or {}).get("metadata") or {})
            pinned = fields.guardrails if "guardrails" in given else metadata.get("guardrails")
            values["metadata"] = with_guardrails(metadata, pinned)
        if "budget_duration" in given:
            values["budget_duration"] = fields.budget_duration
            values["budget_reset_at"] = (
                now + parse_duration(fields.budget_duration) if fields.budget_duration else None
            )
        if "expires" in given or "duration" in given:
            values["expires_at"] = _expiry(fields, now)
        values["updated_at"] = now
        async with self.writer.lock:
            row = await self.store.update_key(key_hash, values)
            if row is None:
                self.cache.pop(key_hash, None)
                return None
            state = self._cache_row(row)
        await self._announce("changed", key_hash)
        return state

    async def regenerate(self, key_hash: str) -> tuple[str, KeyState] | None:
        """A new key for the record of ``key_hash`` (settings, spend and budget kept); the old
        key stops working at once."""
        key = new_key()
        values = {"key_hash": hash_key(key), "key_name": masked(key), "updated_at": time.time()}
        async with self.writer.lock:
            row = await self.store.update_key(key_hash, values)
            if row is None:
                return None
            self.forget(key_hash)
            state = self._cache_row(row)
        await self._announce("deleted", key_hash)
        await self._announce("created", state.key_hash)
        log.info("key regenerated: %s", state.row["key_name"])
        return key, state

    async def delete(self, hashes: Sequence[str]) -> list[str]:
        deleted = await self.store.delete_keys(list(dict.fromkeys(hashes)))
        for h in deleted:
            self.forget(h)
            await self._announce("deleted", h)
        return deleted

    async def list(
        self, offset: int, limit: int, where: KeyFilter | None = None
    ) -> tuple[list[dict[str, Any]], int]:
        rows, total = await self.store.list_keys(offset, limit, where or KeyFilter())
        out = []
        for row in rows:
            cached = self.cache.get(row["key_hash"])
            out.append((cached or KeyState.from_row(row)).public())
        return out, total


def _expiry(fields: KeyFields, now: float) -> float | None:
    if fields.expires is not None:
        return parse_expiry(fields.expires, now)
    if fields.duration is not None:
        return now + parse_duration(fields.duration)
    return None


def with_guardrails(metadata: dict[str, Any], guardrails: list[str] | None) -> dict[str, Any]:
    """Key-pinned guardrails live in the key's metadata (where LiteLLM keeps them too)."""
    out = {k: v for k, v in metadata.items() if k != "guardrails"}
    if guardrails:
        out["guardrails"] = list(guardrails)
    return out
