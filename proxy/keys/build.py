"""Pricing, the store, keys and spend logs, built from the config (``build_accounting``).

Settings (``general_settings`` unless noted):

* ``database_url`` (the loader fills it from env ``DATABASE_URL``): ``postgresql://…`` or
  ``sqlite:///path``; default a SQLite file ``image-proxy.sqlite3`` beside the config file
  (or in a temporary directory when that one is read-only, as in the container image).
* ``database_table_prefix``: default ``imgproxy_``.
* ``store_prompts_in_spend_logs``: default false (prompts are not stored).
* ``spend_journal_dir`` (``spend_spool_dir``, its name before the journal): where each process
  journals its spend ops before the answer goes out, replayed at the next start
  (``proxy.db.journal``), and where refused records are set aside; default ``spend-journal``
  beside the config.
* ``spend_flush_interval`` (seconds, default 0.5), ``key_cache_ttl`` (seconds, default 30).
* ``litellm_settings.max_end_user_budget`` / ``litellm_settings.end_user_budget_duration``.
* ``litellm_settings.max_budget`` / ``litellm_settings.budget_duration``: the proxy-wide budget
  (``proxy.keys.proxy_budget``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proxy.config import ProxyConfig
from proxy.db.database import Store, describe, engine_url
from proxy.db.journal import SpendJournal
from proxy.db.schema import DEFAULT_PREFIX
from proxy.db.writer import SpendWriter
from proxy.keys.accounting import Accounting
from proxy.keys.durations import parse_duration
from proxy.keys.end_users import EndUserBudgets
from proxy.keys.proxy_budget import load_spend, proxy_budget
from proxy.keys.service import KeyService
from proxy.lifecycle import Lifecycle
from proxy.pacing import Pacer
from proxy.paths import config_dir, data_dir
from proxy.pricing.cost import Pricer

log = logging.getLogger("proxy.db")

DEFAULT_DB_FILE = "image-proxy.sqlite3"
DEFAULT_JOURNAL_DIR = "spend-journal"
MIGRATION_RETRY = 5.0


def setting(config: ProxyConfig, name: str, default: Any = None) -> Any:
    extra = config.general.model_extra or {}
    value = (
        getattr(config.general, name, None)
        if name in type(config.general).model_fields
        else extra.get(name)
    )
    return default if value is None else value


def database_url(config: ProxyConfig, home: Path) -> str:
    url = setting(config, "database_url")
    if url:
        return str(url)
    return "sqlite:///" + str(home / DEFAULT_DB_FILE)


def sqlite_file(url: str) -> Path | None:
    full = engine_url(url)
    prefix = "sqlite+aiosqlite:///"
    if full.startswith(prefix) and ":memory:" not in full:
        return Path(full[len(prefix) :])
    return None


@dataclass(frozen=True, slots=True)
class AccountingParts:
    pricer: Pricer
    store: Store
    writer: SpendWriter
    keys: KeyService
    accounting: Accounting
    lifecycle: Lifecycle


def build_accounting(config: ProxyConfig, pacer: Pacer) -> AccountingParts:
    pricer = Pricer(config)
    try:
        pricer.validate()
    except ValueError as exc:
        log.error("config error: %s", exc)
        raise SystemExit(2) from None
    journal_dir = setting(config, "spend_journal_dir") or setting(config, "spend_spool_dir")
    url = setting(config, "database_url")
    home = data_dir(config) if not url or not journal_dir else config_dir(config)
    url = database_url(config, home)
    try:
        store = Store(url, str(setting(config, "database_table_prefix", DEFAULT_PREFIX)))
    except (ValueError, ImportError) as exc:
        log.error("config error: general_settings.database_url: %s", exc)
        raise SystemExit(2) from None
    writer = SpendWriter(
        store,
        interval=float(setting(config, "spend_flush_interval", 0.5)),
        journal=SpendJournal(Path(journal_dir) if journal_dir else home / DEFAULT_JOURNAL_DIR),
        pacer=pacer,
    )
    keys = KeyService(
        store,
        writer,
        known_models=[*config.groups(), *config.wildcards.patterns],
        known_guardrails=[
            str(g.get("guardrail_name"))
            for g in config.raw.get("guardrails") or ()
            if isinstance(g, dict)
        ],
        ttl=float(setting(config, "key_cache_ttl", 30.0)),
    )
    end_users = None
    max_end_user = config.litellm_settings.get("max_end_user_budget")
    if max_end_user is not None:
        duration = config.litellm_settings.get("end_user_budget_duration")
        end_users = EndUserBudgets(
            store, float(max_end_user), parse_duration(duration) if duration else None
        )
    overall = proxy_budget(config.litellm_settings)
    accounting = Accounting(
        pricer,
        keys,
        writer,
        end_users=end_users,
        proxy_budget=overall,
        group_aliases={a: t.model for a, t in config.router.group_aliases().items()},
        store_prompts=bool(setting(config, "store_prompts_in_spend_logs", False)),
    )

    state: dict[str, Any] = {"migrated": False, "task": None}

    async def migrate_until_done() -> None:
        pause = MIGRATION_RETRY
        while True:
            try:
                await asyncio.wait_for(store.migrate(), 30)
                state["migrated"] = True
                log.info("database ready: %s", describe(url))
                writer.start()
                if overall is not None:
                    await load_spend(store, overall)
                return
            except Exception as exc:
                log.error(
                    "database %s unavailable (%s); serving anyway, records are kept, retrying",
                    describe(url),
                    type(exc).__name__,
                )
                await asyncio.sleep(pause)
                pause = min(pause * 2, 60.0)

    async def start() -> None:
        path = sqlite_file(url)
        if path is not None:
            await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        await writer.restore()
        try:
            await asyncio.wait_for(store.migrate(), 10)
            state["migrated"] = True
            writer.start()
            log.info("database ready: %s", describe(url))
            if overall is not None:
                await load_spend(store, overall)
        except Exception as exc:
            log.error("database %s unavailable at start-up (%s)", describe(url), type(exc).__name__)
            state["task"] = asyncio.create_task(migrate_until_done())

    async def stop() -> None:
        task = state["task"]
        if task is not None and not task.done():
            task.cancel()
        if state["migrated"]:
            await writer.drain()
        else:
            await writer.close()
        try:
            await asyncio.wait_for(store.aclose(), 5)
        except Exception as exc:
            log.error("closing the database failed (%s)", type(exc).__name__)

    def ready() -> bool:
        return bool(state["migrated"]) and writer.healthy

    def journal_ready() -> bool:
        return writer.journal is None or writer.journal.healthy

    return AccountingParts(
        pricer=pricer,
        store=store,
        writer=writer,
        keys=keys,
        accounting=accounting,
        lifecycle=Lifecycle(
            startup=(start,),
            shutdown=(stop,),
            readiness=(("database", ready), ("spend_journal", journal_ready)),
        ),
    )
