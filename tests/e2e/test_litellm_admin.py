"""LiteLLM-shaped admin calls, sent as LiteLLM's clients send them, against the real proxy
process and fake OpenAI upstreams; answers in LiteLLM's shapes.

Request bodies are LiteLLM's own (its docs' ``/key/generate`` examples, and the body its
Python client sends: every GenerateKeyRequest field, most as null or an empty default).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import openai
import pytest
from starlette.responses import JSONResponse

from tests.conftest import MASTER_KEY
from tests.fakes.server import FakeUpstream, Received

UPSTREAM_KEY = "sk-upstream-litellm-admin-91ce"
AWS_SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"

# What LiteLLM's Python client sends for a new key: every field, unset ones null or empty.
LITELLM_CLIENT_BODY: dict[str, Any] = {
    "key_alias": None,
    "duration": None,
    "models": [],
    "spend": 0,
    "max_budget": None,
    "user_id": None,
    "team_id": None,
    "max_parallel_requests": None,
    "metadata": {},
    "tpm_limit": None,
    "rpm_limit": None,
    "budget_duration": None,
    "allowed_cache_controls": [],
    "config": {},
    "permissions": {},
    "model_max_budget": {},
    "model_rpm_limit": None,
    "model_tpm_limit": None,
    "guardrails": None,
    "blocked": None,
    "aliases": {},
    "key": None,
    "budget_id": None,
    "tags": None,
    "enforced_params": None,
    "allowed_routes": [],
    "soft_budget": None,
    "send_invite_email": None,
    "key_type": "default",
}


def dalle(r: Received) -> Any:
    n = r.json().get("n", 1)
    return {"created": 1, "data": [{"url": "https://cdn.example/i.png"} for _ in range(n)]}


class Gate:
    """Holds the upstream's answers until released, and says when one is waiting."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.release = threading.Event()

    async def __call__(self, r: Received) -> Any:
        import asyncio

        self.arrived.set()
        await asyncio.to_thread(self.release.wait, 30)
        return dalle(r)


GATE = Gate()


@pytest.fixture(autouse=True)
def _routes(fake: FakeUpstream) -> None:
    fake.route("POST", "/dalle/v1/images/generations", dalle)
    fake.route("POST", "/gated/v1/images/generations", GATE)
    fake.route("GET", "/badkey/v1/images/generations", lambda r: JSONResponse({}, 401))


def entry(base: str, name: str, path: str, **info: Any) -> dict[str, Any]:
    params = {"model": "openai/dall-e-3", "api_key": UPSTREAM_KEY, "api_base": f"{base}/{path}/v1"}
    out: dict[str, Any] = {"model_name": name, "litellm_params": params}
    if info:
        out["model_info"] = info
    return out


@pytest.fixture(scope="module")
def proxy(proxy_factory: Any, upstream: FakeUpstream) -> Any:
    b = upstream.base
    return proxy_factory(
        {
            "model_list": [
                entry(b, "dalle", "dalle", id="dalle-1", output_cost_per_image=0.04),
                entry(b, "gated", "gated"),
                entry(b, "badkey", "badkey"),
                {
                    "model_name": "titan",
                    "litellm_params": {
                        "model": "bedrock/amazon.titan-image-generator-v2:0",
                        "aws_access_key_id": "AKIAEXAMPLEKEY123456",
                        "aws_secret_access_key": AWS_SECRET,
                        "aws_region_name": "us-east-1",
                        "api_base": f"{b}/bedrock",
                    },
                },
            ],
            "general_settings": {"spend_flush_interval": 0.05},
        }
    )


@pytest.fixture
def admin(proxy: Any) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=proxy.base_url, timeout=30, headers={"authorization": f"Bearer {MASTER_KEY}"}
    ) as client:
        yield client


def as_key(proxy: Any, key: str) -> httpx.Client:
    return httpx.Client(
        base_url=proxy.base_url, timeout=30, headers={"authorization": f"Bearer {key}"}
    )


def sdk(proxy: Any, key: str, **kw: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=key, **kw)


def generate(admin: httpx.Client, **fields: Any) -> dict[str, Any]:
    r = admin.post("/key/generate", json={**LITELLM_CLIENT_BODY, **fields})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


# --- /key/generate --------------------------------------------------------------------------


def test_the_litellm_client_body_is_taken_and_answered_in_litellm_shape(
    admin: httpx.Client,
) -> None:
    r = admin.post("/key/generate", json=LITELLM_CLIENT_BODY)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["key"].startswith("sk-")
    assert body["token"] == hashlib.sha256(body["key"].encode()).hexdigest()
    assert body["key_name"] == f"sk-...{body['key'][-4:]}"
    for name in ("expires", "key_alias", "max_budget", "user_id", "team_id", "tpm_limit"):
        assert body.get(name, "absent") is None, name
    assert body["models"] == [] and body["aliases"] == {} and body["blocked"] is False
    assert body["warnings"] == []  # nulls and LiteLLM's empty defaults ask for nothing
    assert "x-image-proxy-warning" not in r.headers


def test_the_docs_example_names_each_field_it_only_stores(admin: httpx.Client) -> None:
    # LiteLLM docs, "Virtual Keys": models, metadata, team_id, max_budget, soft_budget
    r = admin.post(
        "/key/generate",
        json={
            "models": ["dalle"],
            "metadata": {"user": "ishaan@berri.ai"},
            "team_id": "core-infra",
            "max_budget": 10,
            "soft_budget": 5,
            "tpm_limit": 1000,
            "tags": ["prod"],
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    named = [w.split(":")[0] for w in body["warnings"]]
    assert named == ["team_id", "soft_budget", "tags"]  # tpm_limit is acted on
    assert body["warnings"][1] == "soft_budget: stored and shown, not acted on by this proxy."
    assert r.headers["x-image-proxy-warning"].endswith("team_id, soft_budget, tags")
    # stored and shown all the same
    assert (body["team_id"], body["soft_budget"], body["tpm_limit"]) == ("core-infra", 5, 1000)


def test_update_names_what_it_only_stores_and_acts_on_the_rest(
    admin: httpx.Client, proxy: Any
) -> None:
    key = generate(admin)["key"]
    r = admin.post("/key/update", json={"key": key, "tags": ["a"], "max_parallel_requests": 4})
    assert r.status_code == 200, r.text
    assert [w.split(":")[0] for w in r.json()["warnings"]] == ["tags"]
    assert (r.json()["tags"], r.json()["max_parallel_requests"]) == (["a"], 4)
    r = admin.post("/key/update", json={"key": key, "max_parallel_requests": None})
    assert r.json()["max_parallel_requests"] is None and r.json()["tags"] == ["a"]


def test_a_field_litellm_does_not_know_either_is_refused_by_name(admin: httpx.Client) -> None:
    r = admin.post("/key/generate", json={"modelz": ["dalle"]})
    assert r.status_code == 400 and r.json()["error"]["param"] == "modelz"


def test_a_custom_key_value_is_the_key(admin: httpx.Client, proxy: Any) -> None:
    own = "sk-custom-" + "q" * 20
    body = generate(admin, key=own)
    assert body["key"] == own
    with as_key(proxy, own) as me:
        assert me.get("/key/info").json()["key"] == body["token"]
    again = admin.post("/key/generate", json={"key": own})
    assert again.status_code == 400 and again.json()["error"]["param"] == "key"


# --- /key/info, /key/list, /key/block, /key/delete ----------------------------------------


def test_a_key_reads_itself_by_its_own_value_but_not_another(
    admin: httpx.Client, proxy: Any
) -> None:
    mine, other = generate(admin), generate(admin)
    with as_key(proxy, mine["key"]) as me:
        r = me.get("/key/info", params={"key": mine["key"]})
        assert r.status_code == 200, r.text
        assert r.json()["key"] == mine["token"] and r.json()["info"]["token"] == mine["token"]
        assert "key" not in r.json()["info"]  # never the key itself
        denied = me.get("/key/info", params={"key": other["key"]})
        assert denied.status_code == 403
        assert denied.headers["x-should-retry"] == "false"
    r = admin.get("/key/info", params={"key": other["token"]})
    assert r.status_code == 200 and r.json()["info"]["key_name"] == other["key_name"]


def test_key_list_in_litellm_shape_with_its_filters(admin: httpx.Client) -> None:
    a = generate(admin, key_alias="list-a", team_id="team-list", user_id="u-list")
    b = generate(admin, key_alias="list-b", team_id="team-list")
    r = admin.get("/key/list", params={"team_id": "team-list", "size": 1})
    body = r.json()
    assert (body["total_count"], body["current_page"], body["total_pages"]) == (2, 1, 2)
    assert body["keys"] == [a["token"]]  # tokens unless return_full_object
    r = admin.get("/key/list", params={"team_id": "team-list", "page": 2, "size": 1})
    assert r.json()["keys"] == [b["token"]]
    full = admin.get("/key/list", params={"user_id": "u-list", "return_full_object": "true"}).json()
    assert [k["key_alias"] for k in full["keys"]] == ["list-a"]
    only = admin.get("/key/list", params={"key_alias": "list-b"}).json()
    assert only["keys"] == [b["token"]]


def test_a_blocked_key_is_refused_until_unblocked(admin: httpx.Client, proxy: Any) -> None:
    key = generate(admin, models=["dalle"])["key"]
    r = admin.post("/key/block", json={"key": key})
    assert r.status_code == 200 and r.json()["blocked"] is True
    with sdk(proxy, key) as client, pytest.raises(openai.AuthenticationError) as refused:
        client.images.generate(model="dalle", prompt="p")
    assert refused.value.code == "key_blocked"
    assert admin.post("/key/unblock", json={"key": key}).json()["blocked"] is False
    with sdk(proxy, key) as client:
        client.images.generate(model="dalle", prompt="p")


def test_regenerate_keeps_the_record_and_retires_the_old_key(
    admin: httpx.Client, proxy: Any
) -> None:
    old = generate(admin, key_alias="rotating", models=["dalle"], max_parallel_requests=2)
    r = admin.post("/key/regenerate", json={"key": old["key"]})
    assert r.status_code == 200, r.text
    new = r.json()
    assert new["key"] != old["key"] and new["token"] != old["token"]
    assert (new["key_alias"], new["models"], new["max_parallel_requests"]) == (
        "rotating",
        ["dalle"],
        2,
    )
    with (
        sdk(proxy, old["key"], max_retries=0) as client,
        pytest.raises(openai.AuthenticationError),
    ):
        client.images.generate(model="dalle", prompt="p")
    with sdk(proxy, new["key"], max_retries=0) as client:
        client.images.generate(model="dalle", prompt="p")


def test_delete_by_key_aliases(admin: httpx.Client) -> None:
    token = generate(admin, key_alias="to-delete")["token"]
    r = admin.post("/key/delete", json={"key_aliases": ["to-delete"]})
    assert r.json() == {"deleted_keys": [token]}


# --- keys at request time -------------------------------------------------------------------


def test_a_key_alias_routes_to_its_model_group(admin: httpx.Client, proxy: Any) -> None:
    key = generate(admin, models=["dalle"], aliases={"my-images": "dalle"})["key"]
    with sdk(proxy, key, max_retries=0) as client:
        r = client.images.with_raw_response.generate(model="my-images", prompt="p")
    assert r.headers["x-litellm-model-group"] == "dalle"
    bad = admin.post("/key/generate", json={"aliases": {"x": "no-such-group"}})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "aliases"


def test_max_parallel_requests_refuses_the_one_too_many_with_a_short_retry(
    admin: httpx.Client, proxy: Any
) -> None:
    key = generate(admin, max_parallel_requests=1)["key"]
    GATE.arrived.clear()
    GATE.release.clear()
    with ThreadPoolExecutor(1) as pool, sdk(proxy, key, max_retries=0) as client:
        first = pool.submit(client.images.generate, model="gated", prompt="p")
        try:
            assert GATE.arrived.wait(30)
            with pytest.raises(openai.RateLimitError) as refused:
                client.images.generate(model="gated", prompt="p")
        finally:
            GATE.release.set()
        first.result(timeout=30)
    headers = refused.value.response.headers
    assert refused.value.code == "max_parallel_requests_exceeded"
    assert headers["retry-after"] == "1" and "x-should-retry" not in headers


def test_litellm_response_headers(admin: httpx.Client, proxy: Any) -> None:
    key = generate(admin, models=["dalle"])["key"]
    with sdk(proxy, key, max_retries=0) as client:
        first = client.images.with_raw_response.generate(model="dalle", prompt="p")
        h = first.headers
        assert h["x-litellm-call-id"] == h["x-request-id"]
        assert h["x-litellm-model-id"] == "dalle-1" and h["x-litellm-model-group"] == "dalle"
        assert h["x-litellm-response-cost"] == "0.04" == h["x-response-cost"]
        assert h["x-litellm-key-spend"] == "0.0"  # before this request, as LiteLLM's
        assert h["x-litellm-attempted-retries"] == "0"


# --- /spend/logs ----------------------------------------------------------------------------


def test_spend_logs_find_a_request_by_its_call_id(admin: httpx.Client, proxy: Any) -> None:
    key = generate(admin, user_id="spend-owner")["key"]
    with sdk(proxy, key, max_retries=0) as client:
        ids = [
            client.images.with_raw_response.generate(model="dalle", prompt="p").headers[
                "x-litellm-call-id"
            ]
            for _ in range(2)
        ]
    r = admin.get("/spend/logs", params={"request_id": ids[1]})
    assert [x["request_id"] for x in r.json()["data"]] == [ids[1]]
    mine = admin.get("/spend/logs", params={"user_id": "spend-owner"}).json()["data"]
    assert sorted(x["request_id"] for x in mine) == sorted(ids)
    assert admin.get("/spend/logs", params={"request_id": "0" * 32}).json()["data"] == []
    unknown = admin.get("/spend/logs", params={"requestid": ids[0]})
    assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "requestid"


# --- /model/info, /model_group/info, /health ------------------------------------------------


@pytest.mark.parametrize("path", ["/model/info", "/v1/model/info"])
def test_model_info_in_litellm_shape_without_secrets(admin: httpx.Client, path: str) -> None:
    r = admin.get(path)
    assert r.status_code == 200
    assert UPSTREAM_KEY not in r.text and AWS_SECRET not in r.text and "AKIA" not in r.text
    by_name = {d["model_name"]: d for d in r.json()["data"]}
    dalle_info = by_name["dalle"]
    assert dalle_info["litellm_params"]["model"] == "openai/dall-e-3"
    assert "api_key" not in dalle_info["litellm_params"]
    info = dalle_info["model_info"]
    assert (info["id"], info["mode"], info["output_cost_per_image"]) == (
        "dalle-1",
        "image_generation",
        0.04,
    )
    assert by_name["titan"]["litellm_params"]["aws_region_name"] == "us-east-1"


def test_model_info_lists_only_what_a_key_may_use(admin: httpx.Client, proxy: Any) -> None:
    key = generate(admin, models=["dalle"])["key"]
    with as_key(proxy, key) as me:
        names = {d["model_name"] for d in me.get("/model/info").json()["data"]}
        groups = me.get("/model_group/info").json()["data"]
    assert names == {"dalle"}
    assert [(g["model_group"], g["providers"], g["mode"]) for g in groups] == [
        ("dalle", ["openai"], "image_generation")
    ]


def test_health_probes_each_deployment_without_generating(
    admin: httpx.Client, proxy: Any, fake: FakeUpstream
) -> None:
    r = admin.get("/health")
    assert r.status_code == 200, r.text
    assert UPSTREAM_KEY not in r.text and AWS_SECRET not in r.text
    body = r.json()
    healthy = {e["model_name"] for e in body["healthy_endpoints"]}
    unhealthy = {e["model_name"]: e for e in body["unhealthy_endpoints"]}
    assert {"dalle", "gated"} <= healthy
    assert unhealthy["badkey"]["error"] == "credentials refused (401)"
    assert body["healthy_count"] == len(body["healthy_endpoints"])
    assert body["unhealthy_count"] == len(body["unhealthy_endpoints"])
    assert all(x.method == "GET" for x in fake.received())  # nothing was generated
    key = generate(admin)["key"]
    with as_key(proxy, key) as me:
        assert me.get("/health").status_code == 403
    one = admin.get("/health", params={"model_id": "dalle-1"}).json()
    assert [e["model_id"] for e in one["healthy_endpoints"]] == ["dalle-1"]


# --- budgets through the OpenAI SDK (default retries) ---------------------------------------


def test_a_budget_spent_for_good_is_one_call_despite_the_sdk_retries(
    admin: httpx.Client, proxy: Any, fake: FakeUpstream
) -> None:
    key = generate(admin, max_budget=0.04, key_alias="spent-for-good")["key"]
    with sdk(proxy, key) as client:  # max_retries=2, the SDK's default
        client.images.generate(model="dalle", prompt="p")  # spends the 0.04
        with pytest.raises(openai.RateLimitError) as refused:
            client.images.generate(model="dalle", prompt="p")
    err = refused.value
    assert err.status_code == 429 and err.code == "budget_exceeded"
    assert err.type == "budget_exceeded" and "never resets" in err.message
    assert err.response.headers["x-should-retry"] == "false"
    assert "retry-after" not in err.response.headers
    records = admin.get("/spend/logs", params={"key_alias": "spent-for-good"}).json()["data"]
    assert sorted(x["status"] for x in records) == [200, 429]  # the refusal came once
    assert len(fake.received("/dalle/v1/images/generations")) == 1


def test_a_budget_with_a_window_says_when_it_resets(admin: httpx.Client, proxy: Any) -> None:
    key = generate(admin, max_budget=0, budget_duration="1d")["key"]
    with sdk(proxy, key, max_retries=0) as client, pytest.raises(openai.RateLimitError) as e:
        client.images.generate(model="dalle", prompt="p")
    headers = e.value.response.headers
    wait = int(headers["retry-after"])
    assert 86_000 < wait <= 86_400 and "resets at 20" in e.value.message
    assert headers["x-should-retry"] == "false"  # past the SDKs' 60 s cap: no quick retry
