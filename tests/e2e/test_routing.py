"""Routing end to end through the official SDK: retries, fallbacks (to a differently shaped
provider too), Retry-After, cooldowns, timeouts and broken streams, against fault-injecting
fake upstreams on loopback."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from starlette.responses import JSONResponse, Response, StreamingResponse

from tests.conftest import MASTER_KEY
from tests.fakes.faults import ResettingServer
from tests.fakes.server import FakeUpstream, Received, sse

PNG_B64 = base64.b64encode(b"\x89PNG\r\n\x1a\nrouting-test").decode()
KEY = "sk-upstream-routing-1"
FAULTS = ("slow", "reset", "malformed", "503")


def image_ok(r: Received | None = None) -> dict[str, Any]:
    return {"created": 1, "data": [{"b64_json": PNG_B64}]}


def openai_deployment(name: str, path: str, dep_id: str, **params: Any) -> dict[str, Any]:
    return {
        "model_name": name,
        "litellm_params": {
            "model": "openai/gpt-image-1",
            "api_key": KEY,
            "api_base": path,
            **params,
        },
        "model_info": {"id": dep_id},
    }


@pytest.fixture(scope="module")
def resetter() -> Iterator[ResettingServer]:
    server = ResettingServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def proxy(proxy_factory: Any, upstream: FakeUpstream, resetter: ResettingServer) -> Any:
    base = upstream.base
    models = [
        openai_deployment("flaky", f"{base}/flaky-a/v1", "flaky-a"),
        openai_deployment("flaky", f"{base}/flaky-b/v1", "flaky-b"),
        openai_deployment("badreq", f"{base}/bad-a/v1", "bad-a", num_retries=3),
        openai_deployment("badreq", f"{base}/bad-b/v1", "bad-b", num_retries=3),
        openai_deployment("dead", f"{base}/dead/v1", "dead-1"),
        {
            "model_name": "mock-fallback",
            "litellm_params": {"model": "mock/placeholder"},
            "model_info": {"id": "mock-1"},
        },
        openai_deployment("openai-only", f"{base}/oa/v1", "oa-1"),
        {
            "model_name": "xinf-fallback",
            "litellm_params": {"model": "xinference/sdxl-uid", "api_base": f"{base}/xinf/v1"},
            "model_info": {"id": "xinf-1"},
        },
        openai_deployment("limited", f"{base}/limited/v1", "limited-1", num_retries=1),
        openai_deployment("misconf", f"{base}/mis-a/v1", "mis-a"),
        openai_deployment("misconf", f"{base}/mis-b/v1", "mis-b"),
        {
            "model_name": "chat-retry",
            "litellm_params": {
                "model": "openai/gpt-4o-mini",
                "api_key": KEY,
                "api_base": f"{base}/cs-a/v1",
                "weight": 1,
            },
            "model_info": {"id": "cs-a"},
        },
        {
            "model_name": "chat-retry",
            "litellm_params": {
                "model": "openai/gpt-4o-mini",
                "api_key": KEY,
                "api_base": f"{base}/cs-b/v1",
                "weight": 0,
            },
            "model_info": {"id": "cs-b"},
        },
        {
            "model_name": "chat-cut",
            "litellm_params": {
                "model": "openai/gpt-4o-mini",
                "api_key": KEY,
                "api_base": f"{base}/cut/v1",
                "num_retries": 3,
            },
            "model_info": {"id": "cut-1"},
        },
    ]
    for fault in FAULTS:
        first = f"{resetter.base}/v1" if fault == "reset" else f"{base}/{fault}-a/v1"
        extra = {"timeout": 0.4} if fault == "slow" else {}
        models.append(openai_deployment(f"fault-{fault}", first, f"{fault}-a", weight=1, **extra))
        models.append(
            openai_deployment(f"fault-{fault}", f"{base}/{fault}-b/v1", f"{fault}-b", weight=0)
        )
    config = {
        "model_list": models,
        "router_settings": {
            "num_retries": 1,
            "cooldown_time": 60,
            "fallbacks": [{"dead": ["mock-fallback"]}],
        },
    }
    return proxy_factory(config)


@pytest.fixture
def client(proxy: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, max_retries=0)


def generate(client: openai.OpenAI, model: str, **kwargs: Any) -> Any:
    return client.images.with_raw_response.generate(model=model, prompt="a red fox", **kwargs)


def test_group_whose_first_deployment_fails_once_still_answers_200(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    failed: list[str] = []

    def handler(r: Received) -> Any:
        if not failed:
            failed.append(r.path)
            return JSONResponse({"error": {"message": "boom", "type": "server_error"}}, 500)
        return image_ok()

    fake.route("POST", "/flaky-a/v1/images/generations", handler)
    fake.route("POST", "/flaky-b/v1/images/generations", handler)
    raw = generate(client, "flaky")
    assert raw.parse().data[0].b64_json == PNG_B64
    served = [r.path for r in fake.received()]
    assert len(served) == 2 and served[0] != served[1]  # the retry went to the other one
    assert raw.headers["x-attempted-retries"] == "1"
    assert raw.headers["x-attempted-fallbacks"] == "0"
    assert raw.headers["x-model-group"] == "flaky"
    assert raw.headers["x-model-id"] == served[1].split("/")[1]  # "flaky-a" or "flaky-b"
    assert raw.headers["x-request-id"]


def test_a_400_is_tried_exactly_once(client: openai.OpenAI, fake: FakeUpstream) -> None:
    bad = JSONResponse(
        {
            "error": {
                "message": "Invalid size",
                "type": "invalid_request_error",
                "param": "size",
                "code": None,
            }
        },
        400,
    )
    fake.route("POST", "/bad-a/v1/images/generations", lambda r: bad)
    fake.route("POST", "/bad-b/v1/images/generations", lambda r: bad)
    with pytest.raises(openai.BadRequestError) as info:
        generate(client, "badreq", size="13x7")
    assert len(fake.received()) == 1
    assert info.value.response.headers["x-attempted-retries"] == "0"


def test_dead_group_falls_back_to_another_provider(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    fake.route(
        "POST",
        "/dead/v1/images/generations",
        lambda r: JSONResponse({"error": {"message": "down"}}, 503),
    )
    raw = generate(client, "dead", size="256x256", extra_body={"quality": "high"})
    image = raw.parse().data[0]
    assert base64.b64decode(image.b64_json)[:8] == b"\x89PNG\r\n\x1a\n"  # the mock's PNG
    assert raw.headers["x-model-group"] == "mock-fallback"
    assert raw.headers["x-model-id"] == "mock-1"
    assert raw.headers["x-attempted-fallbacks"] == "1"
    assert raw.headers["x-attempted-retries"] == "1"  # the dead group's retry came first
    assert len(fake.received("/dead/v1/images/generations")) == 2


def test_request_fallbacks_reach_a_differently_shaped_provider_and_are_stripped(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    fake.route(
        "POST",
        "/oa/v1/images/generations",
        lambda r: JSONResponse({"error": {"message": "boom"}}, 500),
    )
    fake.route("POST", "/xinf/v1/images/generations", image_ok)
    raw = generate(
        client, "openai-only", size="1024x1024", extra_body={"fallbacks": ["xinf-fallback"]}
    )
    assert raw.parse().data[0].b64_json == PNG_B64
    assert raw.headers["x-model-id"] == "xinf-1"
    (xinf,) = fake.received("/xinf/v1/images/generations")
    body = xinf.json()
    assert body["size"] == "1024*1024" and body["model"] == "sdxl-uid"  # xinference's shape
    assert "fallbacks" not in body
    for r in fake.received("/oa/v1/images/generations"):
        assert "fallbacks" not in r.json()


def test_request_fallbacks_naming_an_unknown_model_are_a_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        generate(client, "openai-only", extra_body={"fallbacks": ["no-such-model"]})
    assert "no-such-model" in info.value.message


@pytest.mark.parametrize(
    ("header", "value", "wait"), [("retry-after", "1", 1.0), ("retry-after-ms", "400", 0.4)]
)
def test_retry_after_is_waited_for(
    client: openai.OpenAI, fake: FakeUpstream, header: str, value: str, wait: float
) -> None:
    seen: list[float] = []

    def handler(r: Received) -> Any:
        seen.append(time.monotonic())
        if len(seen) == 1:
            return JSONResponse(
                {"error": {"message": "slow down", "code": "rate_limit_exceeded"}},
                429,
                headers={header: value},
            )
        return image_ok()

    fake.route("POST", "/limited/v1/images/generations", handler)
    raw = generate(client, "limited")
    assert raw.parse().data[0].b64_json == PNG_B64
    assert len(seen) == 2 and seen[1] - seen[0] >= wait * 0.95  # never earlier than asked
    assert raw.headers["x-attempted-retries"] == "1"


@pytest.mark.parametrize("fault", FAULTS)
def test_faults_are_retried_on_the_other_deployment(
    client: openai.OpenAI, fake: FakeUpstream, resetter: ResettingServer, fault: str
) -> None:
    async def slow(r: Received) -> Any:
        await asyncio.sleep(2)
        return image_ok()

    handlers = {
        "slow": slow,
        "malformed": lambda r: Response(
            b'{"created": 1, "data": [', 200, media_type="application/json"
        ),
        "503": lambda r: JSONResponse({"error": {"message": "overloaded"}}, 503),
    }
    if fault in handlers:
        fake.route("POST", f"/{fault}-a/v1/images/generations", handlers[fault])
    fake.route("POST", f"/{fault}-b/v1/images/generations", image_ok)
    accepted = resetter.accepted
    raw = generate(client, f"fault-{fault}")
    assert raw.parse().data[0].b64_json == PNG_B64
    assert raw.headers["x-model-id"] == f"{fault}-b"
    assert raw.headers["x-attempted-retries"] == "1"
    if fault == "reset":
        assert resetter.accepted > accepted
    else:
        assert len(fake.received(f"/{fault}-a/v1/images/generations")) == 1


def _chunk(content: str) -> dict[str, Any]:
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}],
    }


def test_stream_cut_before_its_first_event_is_retried(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    async def cut_at_once() -> Any:
        raise RuntimeError("connection dropped")
        yield b""  # pragma: no cover

    fake.route(
        "POST",
        "/cs-a/v1/chat/completions",
        lambda r: StreamingResponse(cut_at_once(), media_type="text/event-stream"),
    )
    fake.route(
        "POST",
        "/cs-b/v1/chat/completions",
        lambda r: StreamingResponse(
            iter([sse([(None, _chunk("Hel")), (None, _chunk("lo"))], done=True)]),
            media_type="text/event-stream",
        ),
    )
    raw = client.chat.completions.with_raw_response.create(
        model="chat-retry", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text == "Hello"
    assert raw.headers["x-model-id"] == "cs-b" and raw.headers["x-attempted-retries"] == "1"


def test_stream_cut_midway_is_not_retried(client: openai.OpenAI, fake: FakeUpstream) -> None:
    async def cut_midway() -> Any:
        yield sse([(None, _chunk("Hel"))])
        await asyncio.sleep(0.05)
        raise RuntimeError("connection dropped")

    fake.route(
        "POST",
        "/cut/v1/chat/completions",
        lambda r: StreamingResponse(cut_midway(), media_type="text/event-stream"),
    )
    stream = client.chat.completions.create(
        model="chat-cut", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    got: list[str] = []
    with pytest.raises(openai.APIError):
        for chunk in stream:
            got.append(chunk.choices[0].delta.content or "")
    assert got == ["Hel"]
    assert len(fake.received()) == 1  # bytes had flowed: no second attempt


def test_misconfigured_group_cools_down_then_fails_fast_naming_it(
    client: openai.OpenAI, proxy: Any, fake: FakeUpstream
) -> None:
    denied = JSONResponse(
        {"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}}, 401
    )
    fake.route("POST", "/mis-a/v1/images/generations", lambda r: denied)
    fake.route("POST", "/mis-b/v1/images/generations", lambda r: denied)
    with pytest.raises(openai.APIStatusError) as first:
        generate(client, "misconf")
    assert first.value.status_code == 502
    assert "mis-a" in first.value.message and "mis-b" in first.value.message  # what was tried
    assert first.value.response.headers["x-attempted-retries"] == "1"
    assert first.value.response.headers["x-model-group"] == "misconf"
    assert len(fake.received()) == 2

    with pytest.raises(openai.APIStatusError) as second:
        generate(client, "misconf")
    assert second.value.status_code == 503
    assert "'misconf'" in second.value.message and "cooling down" in second.value.message
    assert int(second.value.response.headers["retry-after"]) > 0
    assert second.value.response.headers["x-request-id"]
    assert len(fake.received()) == 2  # nothing more was sent upstream

    state = httpx.get(
        f"{proxy.base_url}/router/cooldowns", headers={"authorization": f"Bearer {MASTER_KEY}"}
    ).json()
    assert {"mis-a", "mis-b"} <= set(state["cooling_down"])
    row = next(d for d in state["deployments"] if d["deployment_id"] == "mis-a")
    assert row["cooldown"]["reason"] == "provider_authentication_failed"
    assert KEY not in str(state)
    anonymous = httpx.get(f"{proxy.base_url}/router/cooldowns")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "missing_api_key"
    assert "mis-a" not in anonymous.text

    cleared = httpx.delete(
        f"{proxy.base_url}/router/cooldowns/mis-a",
        headers={"authorization": f"Bearer {MASTER_KEY}"},
    )
    assert cleared.status_code == 200
    after = httpx.get(
        f"{proxy.base_url}/router/cooldowns", headers={"authorization": f"Bearer {MASTER_KEY}"}
    ).json()
    assert "mis-a" not in after["cooling_down"] and "mis-b" in after["cooling_down"]
    fake.route("POST", "/mis-a/v1/images/generations", image_ok)
    assert generate(client, "misconf").headers["x-model-id"] == "mis-a"
