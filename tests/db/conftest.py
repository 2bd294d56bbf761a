"""Storage backends for the storage tests: SQLite always, PostgreSQL when TEST_DATABASE_URL
names one. Every test gets its own table prefix and drops its tables afterwards, so parallel
runs on one database never collide."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from proxy.db.database import Store
from proxy.db.records import SpendRecord

PG_URL = os.environ.get("TEST_DATABASE_URL", "")


def backends() -> list[object]:
    pg = pytest.param(
        "postgresql",
        marks=pytest.mark.skipif(
            not PG_URL.startswith(("postgresql://", "postgres://")),
            reason="TEST_DATABASE_URL does not name a PostgreSQL database",
        ),
    )
    return ["sqlite", pg]


def unique_prefix() -> str:
    return f"t{uuid.uuid4().hex[:12]}_"


def spend_record(**kw: Any) -> SpendRecord:
    """A spend record with a fresh request id, now, for ``images``; ``kw`` overrides."""
    base: dict[str, Any] = {
        "request_id": uuid.uuid4().hex,
        "time": time.time(),
        "endpoint": "images",
        "status": 200,
    }
    return SpendRecord(**{**base, **kw})


def backend_url(backend: str, tmp_path: Path) -> str:
    return PG_URL if backend == "postgresql" else f"sqlite:///{tmp_path / 'spend.sqlite3'}"


@pytest.fixture(params=backends())
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def store(backend: str, tmp_path: Path) -> AsyncIterator[Store]:
    s = Store(backend_url(backend, tmp_path), unique_prefix())
    await s.migrate()
    try:
        yield s
    finally:
        await s.drop_all()
        await s.aclose()


def key_row(key_hash: str, alias: str | None = None, **kw: Any) -> dict[str, Any]:
    now = time.time()
    return {
        "key_hash": key_hash,
        "key_name": "sk-...abcd",
        "key_alias": alias,
        "models": [],
        "max_budget": None,
        "budget_duration": None,
        "budget_reset_at": None,
        "budget_period": 0,
        "spend": 0.0,
        "rpm_limit": None,
        "expires_at": None,
        "metadata": {},
        "user_id": None,
        "created_at": now,
        "updated_at": now,
        **kw,
    }
