"""What the end-to-end tests share beyond tests/conftest.py: a database of their own on each
storage backend (SQLite always, PostgreSQL when TEST_DATABASE_URL names one)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from proxy.db.database import Store
from tests.db.conftest import PG_URL, backends, unique_prefix
from tests.e2e.console_page import Watched, console_config
from tests.fakes.google import GEMINI_KEY, GoogleFake
from tests.fakes.server import FakeUpstream


@pytest.fixture(params=backends())
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    url = PG_URL if request.param == "postgresql" else f"sqlite:///{tmp_path / 'db.sqlite3'}"
    store = Store(url, unique_prefix())
    try:
        yield store
    finally:
        await store.drop_all()
        await store.aclose()


def store_settings(store: Store) -> dict[str, Any]:
    url = store.url.replace("postgresql+asyncpg://", "postgresql://").replace(
        "sqlite+aiosqlite://", "sqlite://"
    )
    return {"database_url": url, "database_table_prefix": store.t.keys.name[: -len("keys")]}


@pytest.fixture(scope="module")
def google_state(upstream: FakeUpstream) -> GoogleFake:
    """The fake Gemini API and Vertex AI of a module: issued tokens and registered service
    accounts last as long as the module's proxy, which caches its tokens."""
    return GoogleFake(upstream, GEMINI_KEY)


@pytest.fixture
def google(fake: FakeUpstream, google_state: GoogleFake) -> GoogleFake:
    """The Google routes on this test's emptied fake upstream."""
    return google_state.install()


# Browser tests drive Debian's chromium with Playwright (no browser download).
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("no chromium on this machine (apt-get install chromium; .ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def console_proxy(
    proxy_factory: Any, tmp_path_factory: pytest.TempPathFactory, upstream: FakeUpstream
) -> Any:
    """The console tests' proxy, one per module (``tests/e2e/console_page.py``)."""
    db = tmp_path_factory.mktemp("console-db") / "db.sqlite3"
    return proxy_factory(console_config(db, upstream))


@pytest.fixture
def console(browser: Any, console_proxy: Any) -> Iterator[Watched]:
    """A fresh watched page; fails the test on a console error or a request off loopback."""
    watched = Watched(browser, console_proxy.base_url)
    yield watched
    watched.context.close()
    watched.check()
