"""A virtual key is never served by a model it may not use, however the router gets there:
configured fallbacks, default fallbacks, content-policy fallbacks. A key allowed the fallback
still falls back. End to end through the official OpenAI SDK against the real proxy and a
fake upstream that fails."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from starlette.responses import JSONResponse

from tests.conftest import MASTER_KEY
from tests.e2e.test_routing import openai_deployment
from tests.fakes.server import FakeUpstream

BROKEN = JSONResponse({"error": {"message": "upstream broke", "type": "server_error"}}, 500)
REFUSED = JSONResponse(
    {
        "error": {
            "message": "refused by the safety system",
            "type": "invalid_request_error",
            "code": "content_policy_violation",
        }
    },
    400,
)


def openai_group(name: str, api_base: str) -> dict[str, Any]:
    return openai_deployment(name, api_base, name)


@pytest.fixture(scope="module")
def proxy(proxy_factory: Any, upstream: FakeUpstream) -> Any:
    base = upstream.base
    return proxy_factory(
        {
            "model_list": [
                openai_group("e500-image", f"{base}/e500/v1"),
                openai_group("lonely-image", f"{base}/e500/v1"),  # default fallbacks only
                openai_group("cp-image", f"{base}/cp/v1"),
                {"model_name": "ok-image", "litellm_params": {"model": "mock/ok"}},
                {"model_name": "safe-image", "litellm_params": {"model": "mock/safe"}},
            ],
            "router_settings": {
                "num_retries": 0,
                "allowed_fails": 1000,  # no cooldown: every request sees the upstream's error
                "fallbacks": [{"e500-image": ["ok-image"]}],
                "default_fallbacks": ["ok-image"],
                "content_policy_fallbacks": [{"cp-image": ["safe-image"]}],
            },
            "general_settings": {"spend_flush_interval": 0.05},
        }
    )


@pytest.fixture(autouse=True)
def _routes(fake: FakeUpstream) -> None:
    fake.route("POST", "/e500/v1/images/generations", lambda r: BROKEN)
    fake.route("POST", "/e500/v1/chat/completions", lambda r: BROKEN)
    fake.route("POST", "/cp/v1/images/generations", lambda r: REFUSED)


@pytest.fixture
def admin(proxy: Any) -> Iterator[httpx.Client]:
    headers = {"authorization": f"Bearer {MASTER_KEY}"}
    with httpx.Client(base_url=proxy.base_url, headers=headers, timeout=30) as client:
        yield client


def key_for(proxy: Any, admin: httpx.Client, *models: str) -> openai.OpenAI:
    r = admin.post("/key/generate", json={"models": list(models)})
    assert r.status_code == 200, r.text
    return openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=r.json()["key"], max_retries=0)


def spend_of(admin: httpx.Client, client: openai.OpenAI) -> list[dict[str, Any]]:
    r = admin.get("/spend/logs", params={"key": client.api_key})
    assert r.status_code == 200, r.text
    data: list[dict[str, Any]] = r.json()["data"]
    return data


@pytest.mark.parametrize(
    ("group", "fallback"),
    [("e500-image", "ok-image"), ("lonely-image", "ok-image"), ("cp-image", "safe-image")],
)
def test_a_key_restricted_to_one_model_gets_its_error_not_a_fallback(
    proxy: Any, admin: httpx.Client, fake: FakeUpstream, group: str, fallback: str
) -> None:
    error = openai.BadRequestError if group == "cp-image" else openai.InternalServerError
    with key_for(proxy, admin, group) as restricted:
        with pytest.raises(error) as info:
            restricted.images.generate(model=group, prompt="a red fox")
        answer = info.value.response
        body = answer.json()["error"]
        assert "refused by the safety system" in body["message"] or "upstream" in body["message"]
        assert fallback not in answer.text
        assert answer.headers["x-model-group"] == group
        assert answer.headers["x-attempted-fallbacks"] == "0"
        assert len(fake.received()) == 1  # the one try of the group itself
        [record] = spend_of(admin, restricted)
        assert record["model_group"] == group and record["fallbacks"] == 0
        assert record["status"] == answer.status_code

    with key_for(proxy, admin, group, fallback) as allowed:
        raw = allowed.images.with_raw_response.generate(model=group, prompt="a red fox")
        assert (raw.parse().data or [])[0].b64_json  # the mock's image
        assert raw.headers["x-model-group"] == fallback
        assert raw.headers["x-attempted-fallbacks"] == "1"
        [record] = spend_of(admin, allowed)
        assert record["model_group"] == fallback and record["status"] == 200


def test_a_restricted_chat_stream_is_not_served_by_a_fallback(
    proxy: Any, admin: httpx.Client, fake: FakeUpstream
) -> None:
    messages: Any = [{"role": "user", "content": "a red fox"}]
    with key_for(proxy, admin, "e500-image") as restricted:
        with pytest.raises(openai.InternalServerError) as info:
            restricted.chat.completions.create(model="e500-image", messages=messages, stream=True)
        assert info.value.response.headers["x-model-group"] == "e500-image"
        assert len(fake.received("/e500/v1/chat/completions")) == 1
    with key_for(proxy, admin, "e500-image", "ok-image") as allowed:
        stream = allowed.chat.completions.create(model="e500-image", messages=messages, stream=True)
        with stream:
            text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert "placeholder" in text  # the mock answered


def test_a_key_without_models_and_the_master_key_fall_back(proxy: Any, admin: httpx.Client) -> None:
    with key_for(proxy, admin) as unrestricted:
        raw = unrestricted.images.with_raw_response.generate(model="e500-image", prompt="a fox")
        assert raw.headers["x-model-group"] == "ok-image"
    with openai.OpenAI(
        base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, max_retries=0
    ) as master:
        raw = master.images.with_raw_response.generate(model="e500-image", prompt="a fox")
        assert raw.headers["x-model-group"] == "ok-image"
