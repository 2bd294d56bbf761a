from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.proxy_process import ProxyProcess
from tests.fakes.server import FakeUpstream

MASTER_KEY = "sk-master-test-7f3a9c"


@pytest.fixture(autouse=True)
def close_clients_the_test_opened(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every SDK or httpx client a test (or its function-scoped fixtures) opens is closed when
    the test ends. A client left to the garbage collector closes its socket whenever a cycle
    collection happens to run, and that ResourceWarning (an error here) then fails whichever
    unrelated test is running at the time (seen in CI on a guardrails test)."""
    opened: list[openai.OpenAI | httpx.Client] = []
    for cls in (openai.OpenAI, httpx.Client):
        original = cls.__init__

        def tracked(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> None:
            __original(self, *args, **kwargs)
            opened.append(self)

        monkeypatch.setattr(cls, "__init__", tracked)
    yield
    for client in reversed(opened):
        client.close()


@pytest.fixture(scope="session")
def upstream() -> Iterator[FakeUpstream]:
    server = FakeUpstream().start()
    yield server
    server.stop()


@pytest.fixture
def fake(upstream: FakeUpstream) -> FakeUpstream:
    """The shared fake upstream, emptied for this test."""
    upstream.reset()
    return upstream


@pytest.fixture(scope="module")
def proxy_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., ProxyProcess]]:
    started: list[ProxyProcess] = []

    def start(config: dict[str, Any], **kwargs: Any) -> ProxyProcess:
        tmp: Path = tmp_path_factory.mktemp("proxy")
        config.setdefault("general_settings", {}).setdefault("master_key", MASTER_KEY)
        proc = ProxyProcess(config, tmp, **kwargs).start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The log scan (tests/test_zz_log_secrets.py) runs after every other test."""
    last = [i for i in items if i.nodeid.startswith("tests/test_zz_log_secrets.py")]
    items[:] = [i for i in items if i not in last] + last
