"""The container health probe (Dockerfile HEALTHCHECK, compose healthcheck)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.responses import JSONResponse

from proxy.healthcheck import liveness_url, probe
from tests.fakes.server import FakeUpstream, free_port

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("env", "url"),
    [
        ({}, "http://127.0.0.1:4000/health/liveness"),
        ({"PROXY_HOST": "0.0.0.0", "PROXY_PORT": "8080"}, "http://127.0.0.1:8080/health/liveness"),
        ({"PROXY_HOST": "::"}, "http://127.0.0.1:4000/health/liveness"),
        ({"PROXY_HOST": "::1"}, "http://[::1]:4000/health/liveness"),
        (
            {"PROXY_HOST": "10.1.2.3", "PROXY_PORT": " 4001 "},
            "http://10.1.2.3:4001/health/liveness",
        ),
        ({"PROXY_PORT": ""}, "http://127.0.0.1:4000/health/liveness"),
    ],
)
def test_liveness_url_follows_the_server_flags(env: dict[str, str], url: str) -> None:
    assert liveness_url(env) == url


@pytest.fixture(scope="module")
def server() -> Iterator[FakeUpstream]:
    fake = FakeUpstream().start()
    fake.route("GET", "/health/liveness", lambda r: {"status": "ok"})
    fake.route("GET", "/broken/health/liveness", lambda r: JSONResponse({}, 503))
    yield fake
    fake.stop()


def test_probe_is_true_only_on_200(server: FakeUpstream) -> None:
    assert probe(f"{server.base}/health/liveness")
    assert not probe(f"{server.base}/broken/health/liveness")
    assert not probe(f"{server.base}/missing")
    assert not probe(f"http://127.0.0.1:{free_port()}/health/liveness", timeout=1)
    assert not probe("not a url")


def run_module(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "proxy.healthcheck"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), **env},
    )


def test_module_exit_codes_and_proxy_variables_ignored(server: FakeUpstream) -> None:
    # An HTTP proxy set for upstream calls must not capture the probe of our own port.
    env = {
        "PROXY_PORT": str(server.port),
        "HTTP_PROXY": "http://127.0.0.1:9",
        "http_proxy": "http://127.0.0.1:9",
    }
    assert run_module(env).returncode == 0
    down = run_module({"PROXY_PORT": str(free_port())})
    assert down.returncode == 1
    assert "did not answer 200" in down.stderr
