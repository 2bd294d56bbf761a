"""Each row of the README's error table (README "Errors clients can act on"): status, type,
code and retry headers, through the real proxy. ``x-should-retry: false`` is what the OpenAI
SDKs obey before the status; an error without it and without a Retry-After is one they retry."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.responses import JSONResponse

from tests.conftest import MASTER_KEY
from tests.fakes.server import FakeUpstream, Received

UPSTREAM_KEY = "sk-upstream-error-table-3b7e"


def dalle(r: Received) -> Any:
    return {"created": 1, "data": [{"url": "https://cdn.example/i.png"}]}


@pytest.fixture(autouse=True)
def _routes(fake: FakeUpstream) -> None:
    fake.route("POST", "/ok/v1/images/generations", dalle)
    fake.route(
        "POST",
        "/refused/v1/images/generations",
        lambda r: JSONResponse({"error": {"message": "bad key", "code": "invalid_api_key"}}, 401),
    )
    fake.route(
        "POST",
        "/down/v1/images/generations",
        lambda r: JSONResponse({"error": {"message": "boom"}}, 500),
    )


def deployment(base: str, name: str, path: str) -> dict[str, Any]:
    return {
        "model_name": name,
        "litellm_params": {
            "model": "openai/dall-e-3",
            "api_key": UPSTREAM_KEY,
            "api_base": f"{base}/{path}/v1",
            "num_retries": 0,
        },
    }


def model_list(base: str) -> list[dict[str, Any]]:
    return [
        deployment(base, "ok", "ok"),
        deployment(base, "refused", "refused"),
        deployment(base, "down", "down"),
    ]


@pytest.fixture(scope="module")
def proxy(proxy_factory: Any, upstream: FakeUpstream) -> Any:
    return proxy_factory({"model_list": model_list(upstream.base)})


@pytest.fixture(scope="module")
def thrifty_proxy(proxy_factory: Any, upstream: FakeUpstream) -> Any:
    """A proxy whose whole budget (LiteLLM's ``litellm_settings.max_budget``) is one image."""
    return proxy_factory(
        {"model_list": model_list(upstream.base), "litellm_settings": {"max_budget": 0.04}}
    )


@pytest.fixture
def master(proxy: Any) -> Iterator[httpx.Client]:
    with client(proxy, MASTER_KEY) as c:
        yield c


def client(proxy: Any, key: str) -> httpx.Client:
    return httpx.Client(
        base_url=proxy.base_url, timeout=30, headers={"authorization": f"Bearer {key}"}
    )


def new_key(master: httpx.Client, **fields: Any) -> str:
    r = master.post("/key/generate", json=fields)
    assert r.status_code == 200, r.text
    return str(r.json()["key"])


def image(proxy: Any, key: str, model: str = "ok", **body: Any) -> httpx.Response:
    with client(proxy, key) as c:
        return c.post("/v1/images/generations", json={"model": model, "prompt": "p", **body})


@dataclass(frozen=True)
class Row:
    status: int
    type: str
    code: str | None
    should_retry: str | None  # the x-should-retry header; None: absent
    retry_after: bool


Cause = Callable[[Any, httpx.Client], httpx.Response]
NEVER = Row(429, "budget_exceeded", "budget_exceeded", "false", False)
TABLE: dict[str, tuple[Row, Cause]] = {
    "unknown key": (
        Row(401, "authentication_error", "invalid_api_key", "false", False),
        lambda p, m: image(p, "sk-no-such-key-000000000000"),
    ),
    "expired key": (
        Row(401, "authentication_error", "expired_api_key", "false", False),
        lambda p, m: image(p, new_key(m, expires="2020-01-01T00:00:00Z")),
    ),
    "blocked key": (
        Row(401, "authentication_error", "key_blocked", "false", False),
        lambda p, m: image(p, new_key(m, blocked=True)),
    ),
    "model not allowed for the key": (
        Row(403, "permission_error", "model_not_allowed", "false", False),
        lambda p, m: image(p, new_key(m, models=["down"])),
    ),
    "admin route without the master key": (
        Row(403, "permission_error", "admin_only", "false", False),
        lambda p, m: client(p, new_key(m)).get("/key/list"),
    ),
    "invalid request": (
        Row(400, "invalid_request_error", None, "false", False),
        lambda p, m: image(p, MASTER_KEY, n="two"),
    ),
    "unknown model": (
        Row(404, "invalid_request_error", "model_not_found", "false", False),
        lambda p, m: image(p, MASTER_KEY, model="no-such-model"),
    ),
    "rpm_limit reached": (
        Row(429, "rate_limit_error", "rate_limit_exceeded", None, True),
        lambda p, m: image(p, new_key(m, rpm_limit=0)),
    ),
    "key budget spent, no budget_duration": (
        NEVER,
        lambda p, m: image(p, new_key(m, max_budget=0)),
    ),
    "key budget spent, with budget_duration": (
        Row(429, "budget_exceeded", "budget_exceeded", "false", True),
        lambda p, m: image(p, new_key(m, max_budget=0, budget_duration="1h")),
    ),
    "provider refused the proxy's key": (
        Row(502, "provider_auth_error", "provider_authentication_failed", "false", False),
        lambda p, m: image(p, MASTER_KEY, model="refused"),
    ),
    "provider failed (5xx)": (
        Row(502, "upstream_error", "upstream_error", None, False),
        lambda p, m: image(p, MASTER_KEY, model="down"),
    ),
}


@pytest.mark.parametrize("case", list(TABLE))
def test_error_table_row(proxy: Any, master: httpx.Client, case: str) -> None:
    row, cause = TABLE[case]
    r = cause(proxy, master)
    error = r.json()["error"]
    assert (r.status_code, error["type"], error["code"]) == (row.status, row.type, row.code)
    assert r.headers.get("x-should-retry") == row.should_retry
    assert ("retry-after" in r.headers) is row.retry_after


def test_error_table_row_proxy_budget(thrifty_proxy: Any) -> None:
    assert image(thrifty_proxy, MASTER_KEY).status_code == 200  # spends the whole 0.04
    r = image(thrifty_proxy, MASTER_KEY)
    error = r.json()["error"]
    assert (r.status_code, error["type"], error["code"]) == (NEVER.status, NEVER.type, NEVER.code)
    assert r.headers["x-should-retry"] == "false" and "retry-after" not in r.headers
    assert "the proxy (litellm_settings.max_budget)" in error["message"]
    assert "never resets" in error["message"]
