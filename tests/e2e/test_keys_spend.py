"""Virtual keys, budgets, rate limits, end users, costs and spend logs, end to end through the
official OpenAI SDK against the real proxy process and fake OpenAI upstreams."""

from __future__ import annotations

import asyncio
import base64
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from starlette.responses import JSONResponse, StreamingResponse

from tests.conftest import MASTER_KEY
from tests.fakes.server import FakeUpstream, Received, sse

PNG_B64 = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()
UPSTREAM_KEY = "sk-upstream-e2e-7c1d"
GPT_IMAGE_USAGE = {
    "total_tokens": 4210,
    "input_tokens": 50,
    "output_tokens": 4160,
    "input_tokens_details": {"text_tokens": 10, "image_tokens": 40},
}


def dalle(r: Received) -> Any:
    n = r.json().get("n", 1)
    return {"created": 1, "data": [{"url": "https://cdn.example/i.png"} for _ in range(n)]}


async def slow_dalle(r: Received) -> Any:
    await asyncio.sleep(0.3)  # upstream latency, so requests overlap (not synchronisation)
    return dalle(r)


def gpt_image(r: Received) -> Any:
    return {"created": 1, "data": [{"b64_json": PNG_B64}], "usage": GPT_IMAGE_USAGE}


def chat(r: Received) -> Any:
    usage = {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100}
    if not r.json().get("stream"):
        return {
            "id": "c1",
            "object": "chat.completion",
            "created": 1,
            "model": "x",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": "hi"},
                }
            ],
            "usage": usage,
        }
    chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "x"}
    body = sse(
        [
            (
                None,
                {
                    **chunk,
                    "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}],
                },
            ),
            (None, {**chunk, "choices": [], "usage": usage}),
        ],
        done=True,
    )
    return StreamingResponse(iter([body]), media_type="text/event-stream")


def routes(fake: FakeUpstream) -> None:
    fake.route("POST", "/dalle/v1/images/generations", dalle)
    fake.route("POST", "/slow/v1/images/generations", slow_dalle)
    fake.route("POST", "/gi/v1/images/generations", gpt_image)
    fake.route("POST", "/chat/v1/chat/completions", chat)
    fake.route(
        "POST",
        "/broken/v1/images/generations",
        lambda r: JSONResponse({"error": {"message": "boom"}}, 500),
    )


def model_list(base: str) -> list[dict[str, Any]]:
    def entry(name: str, model: str, path: str) -> dict[str, Any]:
        return {
            "model_name": name,
            "litellm_params": {
                "model": model,
                "api_key": UPSTREAM_KEY,
                "api_base": f"{base}/{path}/v1",
            },
        }

    return [
        entry("dalle", "openai/dall-e-3", "dalle"),
        entry("slow-dalle", "openai/dall-e-3", "slow"),
        entry("gpt-image", "openai/gpt-image-1", "gi"),
        entry("chat", "openai/gpt-4o-mini", "chat"),
        entry("broken", "openai/dall-e-3", "broken"),
        entry("unpriced", "openai/my-local-model", "dalle"),
        {"model_name": "mock", "litellm_params": {"model": "mock/placeholder"}},
    ]


@pytest.fixture(scope="module")
def proxy(proxy_factory: Any, upstream: FakeUpstream) -> Any:
    return proxy_factory(
        {
            "model_list": model_list(upstream.base),
            "litellm_settings": {"max_end_user_budget": 0.1},
            "general_settings": {"spend_flush_interval": 0.05},
        }
    )


@pytest.fixture(autouse=True)
def _routes(fake: FakeUpstream) -> None:
    routes(fake)


_OPEN: list[Any] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


@pytest.fixture
def admin(proxy: Any) -> httpx.Client:
    return proxy_admin(proxy)


def proxy_admin(proxy: Any) -> httpx.Client:
    client = httpx.Client(
        base_url=proxy.base_url, timeout=30, headers={"authorization": f"Bearer {MASTER_KEY}"}
    )
    _OPEN.append(client)
    return client


def sdk(proxy: Any, key: str) -> openai.OpenAI:
    client = openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=key, max_retries=0)
    _OPEN.append(client)
    return client


def new_key(admin: httpx.Client, **fields: Any) -> dict[str, Any]:
    r = admin.post("/key/generate", json=fields)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def logs(admin: httpx.Client, **params: Any) -> dict[str, Any]:
    r = admin.get("/spend/logs", params={"page_size": 1000, **params})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def db_file(proxy: Any) -> Path:
    return Path(proxy.config_path).parent / "image-proxy.sqlite3"


# --- cost on every answer ----------------------------------------------------------------------


def test_every_answer_carries_its_cost(proxy: Any) -> None:
    client = sdk(proxy, MASTER_KEY)
    r = client.images.with_raw_response.generate(
        model="dalle", prompt="p", quality="hd", size="1792x1024"
    )
    assert r.headers["x-response-cost"] == "0.12"
    r = client.images.with_raw_response.generate(model="gpt-image", prompt="p")
    assert r.headers["x-response-cost"] == "0.16685"  # 10*5e-6 + 40*1e-5 + 4160*4e-5
    r = client.images.with_raw_response.generate(model="mock", prompt="p", size="64x64")
    assert r.headers["x-response-cost"] == "0.0"
    chat = client.chat.completions.with_raw_response.create(
        model="chat", messages=[{"role": "user", "content": "hi"}]
    )
    assert chat.headers["x-response-cost"] == "0.00021"  # 1000*1.5e-7 + 100*6e-7
    # an unknown price is reported as unknown: no header, NULL in the log, never 0
    r = client.images.with_raw_response.generate(model="unpriced", prompt="p")
    assert "x-response-cost" not in r.headers
    (rec,) = [
        x for x in logs(proxy_admin(proxy))["data"] if x["request_id"] == r.headers["x-request-id"]
    ]
    assert rec["cost"] is None and rec["cost_basis"] == "unknown"
    assert "cost unknown for unpriced" in proxy.logs()


def test_stream_cost_in_final_usage_chunk_and_in_the_log(proxy: Any, admin: httpx.Client) -> None:
    client = sdk(proxy, MASTER_KEY)
    chunks = list(
        client.chat.completions.create(
            model="chat",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
            user="streamer",
        )
    )
    (last,) = [c for c in chunks if c.usage]
    assert last.usage is not None and last.usage.model_extra is not None
    assert last.usage.model_extra["cost"] == pytest.approx(0.00021)
    list(
        client.chat.completions.create(
            model="chat",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            user="streamer-no-usage",
        )
    )
    rows = logs(admin, end_user="streamer-no-usage")["data"]
    assert len(rows) == 1 and rows[0]["stream"] is True
    assert rows[0]["cost"] == pytest.approx(0.00021)


# --- key lifecycle and enforcement ---------------------------------------------------------


def test_key_lifecycle(proxy: Any, admin: httpx.Client) -> None:
    created = new_key(
        admin,
        key_alias="life-cycle",
        models=["dalle", "mock"],
        max_budget=5,
        metadata={"team": "a"},
        user_id="owner-1",
    )
    key = created["key"]
    assert key.startswith("sk-") and created["key_name"] == f"sk-...{key[-4:]}"
    client = sdk(proxy, key)
    client.images.generate(model="dalle", prompt="p", n=2)
    info = admin.get("/key/info", params={"key": key}).json()
    assert info["key"] == created["key_hash"]
    assert info["info"]["spend"] == pytest.approx(0.08)
    assert info["info"]["metadata"] == {"team": "a"} and "key" not in info["info"]
    # a key may read its own info
    own = httpx.get(f"{proxy.base_url}/key/info", headers={"authorization": f"Bearer {key}"})
    assert own.status_code == 200 and own.json()["info"]["key_alias"] == "life-cycle"

    with pytest.raises(openai.PermissionDeniedError) as denied:
        client.images.generate(model="gpt-image", prompt="p")
    assert denied.value.status_code == 403 and "gpt-image" in denied.value.message
    r = admin.post("/key/update", json={"key": key, "models": ["gpt-image"], "rpm_limit": 100})
    assert r.status_code == 200 and r.json()["models"] == ["gpt-image"]
    client.images.generate(model="gpt-image", prompt="p")
    with pytest.raises(openai.PermissionDeniedError):
        client.images.generate(model="dalle", prompt="p")

    listed = admin.get("/key/list", params={"size": 1000, "return_full_object": "true"}).json()
    mine = [k for k in listed["keys"] if k["key_alias"] == "life-cycle"]
    assert len(mine) == 1 and mine[0]["spend"] == pytest.approx(0.08 + 0.16685)
    assert all("key" not in k for k in listed["keys"])

    r = admin.post("/key/delete", json={"keys": [key]})
    assert r.json() == {"deleted_keys": [created["key_hash"]]}
    with pytest.raises(openai.AuthenticationError):
        client.images.generate(model="gpt-image", prompt="p")
    gone = admin.get("/key/info", params={"key": key})
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "key_not_found"

    # the key itself is never stored nor logged; records carry the alias
    rows = logs(admin, key_alias="life-cycle")["data"]
    assert len(rows) == 4 and sorted(r["status"] for r in rows) == [200, 200, 403, 403]
    assert key.encode() not in db_file(proxy).read_bytes()
    assert key not in proxy.logs()


def test_unknown_and_expired_keys_are_401(proxy: Any, admin: httpx.Client) -> None:
    with pytest.raises(openai.AuthenticationError):
        sdk(proxy, "sk-not-a-real-key").images.generate(model="mock", prompt="p")
    for hostile in ("' OR '1'='1", "sk-x'; DROP TABLE imgproxy_keys; --", "\u00e9" * 300):
        r = httpx.post(
            f"{proxy.base_url}/v1/images/generations",
            json={"model": "mock"},
            headers={b"authorization": f"Bearer {hostile}".encode()},
        )
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    expired = new_key(admin, expires="2001-01-01T00:00:00Z")["key"]
    with pytest.raises(openai.AuthenticationError) as exc:
        sdk(proxy, expired).images.generate(model="mock", prompt="p")
    assert "expired" in exc.value.message
    assert b"DROP TABLE" not in db_file(proxy).read_bytes()


def test_rpm_limit_is_429_with_retry_after(proxy: Any, admin: httpx.Client) -> None:
    key = new_key(admin, rpm_limit=2, key_alias="rpm-2")["key"]
    client = sdk(proxy, key)
    client.images.generate(model="mock", prompt="p", size="8x8")
    client.images.generate(model="mock", prompt="p", size="8x8")
    with pytest.raises(openai.RateLimitError) as exc:
        client.images.generate(model="mock", prompt="p", size="8x8")
    assert 1 <= int(exc.value.response.headers["retry-after"]) <= 60
    assert "rpm_limit 2" in exc.value.message
    # rpm_limit 0 blocks the key: a 429 (it was a 500, found by tests/e2e/test_fuzz.py)
    blocked = sdk(proxy, new_key(admin, rpm_limit=0)["key"])
    with pytest.raises(openai.RateLimitError) as exc:
        blocked.images.generate(model="mock", prompt="p", size="8x8")
    assert exc.value.response.headers["retry-after"] == "60"
    assert "rpm_limit 0" in exc.value.message


def test_budget_is_429_naming_budget_and_reset(proxy: Any, admin: httpx.Client) -> None:
    key = new_key(admin, max_budget=0.05, budget_duration="30d", key_alias="small")["key"]
    client = sdk(proxy, key)
    client.images.generate(model="dalle", prompt="p")  # 0.04: under budget
    client.images.generate(model="dalle", prompt="p")  # admitted at 0.04 < 0.05
    with pytest.raises(openai.RateLimitError) as exc:
        client.images.generate(model="dalle", prompt="p")
    message = exc.value.message
    assert "key 'small'" in message and "max_budget $0.050000" in message
    assert "resets at 20" in message and exc.value.code == "budget_exceeded"
    assert int(exc.value.response.headers["retry-after"]) > 29 * 86400


def test_budget_duration_resets_the_budget(proxy: Any, admin: httpx.Client) -> None:
    key = new_key(admin, max_budget=0.01, budget_duration="1s")["key"]
    client = sdk(proxy, key)
    client.images.generate(model="dalle", prompt="p")
    with pytest.raises(openai.RateLimitError):
        client.images.generate(model="dalle", prompt="p")
    deadline = time.monotonic() + 15
    while True:  # poll until the period rolls over
        try:
            client.images.generate(model="dalle", prompt="p")
            break
        except openai.RateLimitError:
            assert time.monotonic() < deadline, "budget never reset"
            time.sleep(0.1)


async def test_fifty_parallel_requests_overshoot_at_most_the_in_flight_bound(
    proxy: Any, admin: httpx.Client
) -> None:
    created = new_key(admin, max_budget=0.1, key_alias="parallel")
    client = openai.AsyncOpenAI(
        base_url=f"{proxy.base_url}/v1", api_key=created["key"], max_retries=0
    )

    async def one() -> int:
        try:
            await client.images.generate(model="slow-dalle", prompt="p")
            return 200
        except openai.RateLimitError:
            return 429

    statuses = await asyncio.gather(*(one() for _ in range(50)))
    await client.close()
    # each costs 0.04 and reserves 0.04 while in flight: admitted while spend+reserved < 0.1
    assert statuses.count(200) == 3 and statuses.count(429) == 47
    spend = admin.get("/key/info", params={"key": created["key"]}).json()["info"]["spend"]
    assert spend == pytest.approx(0.12) and spend <= 0.1 + 0.04
    assert logs(admin, key_alias="parallel")["total"] == 50


# --- end users and spend reporting -----------------------------------------------------------


def test_end_users_recorded_reported_and_budgeted(proxy: Any, admin: httpx.Client) -> None:
    client = sdk(proxy, MASTER_KEY)
    client.images.generate(model="dalle", prompt="p", user="eu-alice")
    client.images.generate(model="dalle", prompt="p", extra_headers={"x-end-user": "eu-bob"})
    client.images.generate(model="dalle", prompt="p", user="eu-alice")  # at 0.04
    client.images.generate(model="dalle", prompt="p", user="eu-alice")  # at 0.08 < 0.1
    with pytest.raises(openai.RateLimitError) as exc:  # max_end_user_budget 0.1
        client.images.generate(model="dalle", prompt="p", user="eu-alice")
    assert "end user 'eu-alice'" in exc.value.message
    users = admin.get("/spend/users", params={"size": 1000}).json()["data"]
    by_name = {u["end_user"]: u for u in users}
    assert by_name["eu-alice"]["spend"] == pytest.approx(0.12)
    assert by_name["eu-alice"]["requests"] == 4
    assert by_name["eu-bob"]["spend"] == pytest.approx(0.04)


def test_spend_logs_fields_filters_and_totals(proxy: Any, admin: httpx.Client) -> None:
    created = new_key(admin, key_alias="reporting")
    client = sdk(proxy, created["key"])
    client.images.generate(model="dalle", prompt="secret prompt text", n=2, user="rep-u")
    with pytest.raises(openai.InternalServerError):
        client.images.generate(model="broken", prompt="p", user="rep-u2")
    rows = logs(admin, key_hash=created["key_hash"])["data"]
    assert [r["status"] for r in rows] == [502, 200]  # newest first
    failed, ok = rows
    assert ok["images"] == 2 and ok["cost"] == pytest.approx(0.08)
    assert ok["model_group"] == "dalle" and ok["provider"] == "openai"
    assert ok["endpoint"] == "images" and ok["end_user"] == "rep-u"
    assert ok["deployment_id"] and ok["latency_ms"] >= ok["upstream_ms"] > 0
    assert ok["key_alias"] == "reporting" and ok["prompt"] is None
    assert failed["error_class"] == "UpstreamError" and failed["cost"] == 0.0
    assert "secret prompt text" not in db_file(proxy).read_bytes().decode(errors="replace")

    page = logs(admin, key_alias="reporting", page_size=1, page=2)
    assert page["total"] == 2 and page["total_pages"] == 2
    assert page["data"][0]["request_id"] == ok["request_id"]
    assert logs(admin, model="broken", key_alias="reporting")["total"] == 1
    assert logs(admin, start=time.time() + 3600)["total"] == 0
    assert logs(admin, key=created["key"])["total"] == 2
    r = admin.get("/spend/logs", params={"start": "yesterday"})
    assert r.status_code == 400 and "start" in r.json()["error"]["message"]

    totals = admin.get("/global/spend").json()
    assert totals["spend"] >= 0.08 and totals["requests"] >= 2
    assert admin.get("/global/spend", params={"key_alias": "reporting"}).json()[
        "spend"
    ] == pytest.approx(0.08)


def test_admin_api_is_master_only(proxy: Any, admin: httpx.Client) -> None:
    key = new_key(admin)["key"]
    for method, path in [
        ("POST", "/key/generate"),
        ("GET", "/key/list"),
        ("POST", "/key/delete"),
        ("GET", "/spend/logs"),
        ("GET", "/global/spend"),
        ("GET", "/spend/users"),
    ]:
        r = httpx.request(
            method, f"{proxy.base_url}{path}", json={}, headers={"authorization": f"Bearer {key}"}
        )
        assert r.status_code == 403, path
        assert r.json()["error"]["type"] == "permission_error", path
        anonymous = httpx.request(method, f"{proxy.base_url}{path}", json={})
        assert anonymous.status_code == 401, path
        assert anonymous.json()["error"]["code"] == "missing_api_key", path
    r = admin.post("/key/generate", json={"max_budget": -1})
    assert r.status_code == 400 and "max_budget" in r.json()["error"]["message"]
    r = admin.post("/key/generate", json={"budget_duration": "soon"})
    assert r.status_code == 400 and "budget_duration" in r.json()["error"]["message"]
    r = admin.post("/key/generate", json={"models": ["no-such-model"]})
    assert r.status_code == 400 and "no-such-model" in r.json()["error"]["message"]
    r = admin.post("/key/generate", json={"is_admin": True})
    assert r.status_code == 400 and "is_admin" in r.json()["error"]["message"]
    new_key(admin, key_alias="taken")
    r = admin.post("/key/generate", json={"key_alias": "taken"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    assert "taken" in r.json()["error"]["message"]


def test_prompts_logged_only_when_turned_on(proxy_factory: Any, upstream: FakeUpstream) -> None:
    p = proxy_factory(
        {
            "model_list": model_list(upstream.base),
            "general_settings": {"store_prompts_in_spend_logs": True},
        }
    )
    sdk(p, MASTER_KEY).images.generate(model="mock", prompt="a logged prompt", size="8x8")
    (row,) = logs(proxy_admin(p))["data"]
    assert row["prompt"] == "a logged prompt"
    with sqlite3.connect(db_file(p)) as conn:
        assert conn.execute("select count(*) from imgproxy_spend_logs").fetchone() == (1,)
    json.dumps(row)
