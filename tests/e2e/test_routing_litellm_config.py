"""Routing driven by LiteLLM-shaped configs, the way an operator migrating from LiteLLM writes
them: ``router_settings`` (and the same keys under ``litellm_settings``) with ``num_retries``,
``allowed_fails``, ``cooldown_time``, ``fallbacks``, ``content_policy_fallbacks``, ``timeout``
and ``stream_timeout``; faults from fake upstreams on loopback; everything through the SDK."""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from email.utils import formatdate
from typing import Any

import httpx
import openai
import pytest
from starlette.responses import JSONResponse, Response, StreamingResponse

from tests.conftest import MASTER_KEY
from tests.fakes.server import FakeUpstream, Received, sse

PNG_B64 = base64.b64encode(b"\x89PNG\r\n\x1a\nlitellm-config").decode()
KEY = "sk-upstream-litellm-cfg-3"
ADMIN = {"authorization": f"Bearer {MASTER_KEY}"}


def image_ok(r: Received | None = None) -> dict[str, Any]:
    return {"created": 1, "data": [{"b64_json": PNG_B64}]}


def dep(name: str, path: str, dep_id: str, **params: Any) -> dict[str, Any]:
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


def chat_dep(name: str, path: str, dep_id: str, **params: Any) -> dict[str, Any]:
    return {
        "model_name": name,
        "litellm_params": {
            "model": "openai/gpt-4o-mini",
            "api_key": KEY,
            "api_base": path,
            **params,
        },
        "model_info": {"id": dep_id},
    }


def model_list(base: str) -> list[dict[str, Any]]:
    return [
        dep("primary", f"{base}/primary/v1", "primary-1"),
        dep("backup", f"{base}/backup/v1", "backup-1"),
        dep("strict", f"{base}/strict/v1", "strict-1"),
        dep("lenient", f"{base}/lenient/v1", "lenient-1"),
        dep("lone", f"{base}/lone/v1", "lone-1"),
        dep("pair", f"{base}/pair-a/v1", "pair-a", weight=1),
        dep("pair", f"{base}/pair-b/v1", "pair-b", weight=0),
        dep("sluggish", f"{base}/sluggish/v1", "sluggish-1"),
        chat_dep("chat-stall", f"{base}/stall/v1", "stall-1"),
        dep("patient", f"{base}/patient/v1", "patient-1", timeout=10),
    ]


ROUTER_KEYS = {
    "routing_strategy": "simple-shuffle",
    "num_retries": 2,
    "allowed_fails": 2,
    "cooldown_time": 30,
    "timeout": 0.5,
    "stream_timeout": 0.5,
    "retry_backoff_base": 0.05,
    "fallbacks": [{"primary": ["backup"]}, {"sluggish": ["backup"]}],
    "content_policy_fallbacks": [{"strict": ["lenient"]}],
}


@pytest.fixture(scope="module", params=["router_settings", "litellm_settings"])
def proxy(request: pytest.FixtureRequest, proxy_factory: Any, upstream: FakeUpstream) -> Any:
    section = request.param
    keys = dict(ROUTER_KEYS)
    config: dict[str, Any] = {"model_list": model_list(upstream.base)}
    if section == "litellm_settings":
        keys.pop("routing_strategy")
        keys.pop("retry_backoff_base")
        config["router_settings"] = {"retry_backoff_base": 0.05}
    config[section] = {**config.get(section, {}), **keys}
    return proxy_factory(config, name=f"proxy-{section}")


@pytest.fixture
def client(proxy: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, max_retries=0)


def generate(client: openai.OpenAI, model: str, **kwargs: Any) -> Any:
    return client.images.with_raw_response.generate(model=model, prompt="a red fox", **kwargs)


def error(
    status: int,
    message: str = "boom",
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return JSONResponse(
        {"error": {"message": message, "type": "server_error", "code": code}},
        status,
        headers=headers,
    )


def test_num_retries_on_a_lone_deployment(client: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.route("POST", "/lone/v1/images/generations", lambda r: error(500))
    with pytest.raises(openai.InternalServerError) as info:
        generate(client, "lone")
    assert len(fake.received()) == 3  # 1 + num_retries 2
    headers = info.value.response.headers
    assert headers["x-attempted-retries"] == "2" and headers["x-attempted-fallbacks"] == "0"
    assert headers["x-model-id"] == "lone-1" and headers["x-model-group"] == "lone"
    assert headers["x-request-id"]


def test_retries_stop_once_the_deployment_cools_then_fallback_serves(
    client: openai.OpenAI, proxy: Any, fake: FakeUpstream
) -> None:
    fake.route("POST", "/primary/v1/images/generations", lambda r: error(500))
    fake.route("POST", "/backup/v1/images/generations", image_ok)
    try:
        raw = generate(client, "primary")
        assert raw.parse().data[0].b64_json == PNG_B64
        # allowed_fails 2: the second failure in a minute rests primary-1, so the third
        # attempt goes to the fallback instead of a resting deployment
        assert len(fake.received("/primary/v1/images/generations")) == 2
        assert raw.headers["x-model-group"] == "backup"
        assert raw.headers["x-model-id"] == "backup-1"
        assert raw.headers["x-attempted-retries"] == "1"
        assert raw.headers["x-attempted-fallbacks"] == "1"
        again = generate(client, "primary")  # primary-1 rests: straight to the fallback
        assert again.headers["x-model-id"] == "backup-1"
        assert len(fake.received("/primary/v1/images/generations")) == 2
    finally:
        httpx.delete(f"{proxy.base_url}/router/cooldowns/primary-1", headers=ADMIN)


@pytest.mark.parametrize("kind", ["seconds", "http-date", "ms"])
def test_retry_after_on_a_lone_deployment_is_waited_for(
    client: openai.OpenAI, fake: FakeUpstream, kind: str
) -> None:
    seen: list[float] = []

    def handler(r: Received) -> Any:
        seen.append(time.monotonic())
        if len(seen) == 1:
            # the date is taken as the 429 goes out (whole seconds: at least 1 s from now), not
            # when the test starts, so a slow start on a loaded machine cannot eat the wait
            header = {
                "seconds": {"retry-after": "1"},
                "http-date": {"retry-after": formatdate(time.time() + 2, usegmt=True)},
                "ms": {"retry-after-ms": "600"},
            }[kind]
            return error(429, "slow down", "rate_limit_exceeded", header)
        return image_ok()

    fake.route("POST", "/lone/v1/images/generations", handler)
    raw = generate(client, "lone")
    assert raw.parse().data[0].b64_json == PNG_B64
    assert len(seen) == 2
    # a lower bound only (the proxy honoured the header): a loaded machine can only add to it
    assert seen[1] - seen[0] >= {"seconds": 0.95, "http-date": 0.9, "ms": 0.57}[kind]
    assert raw.headers["x-attempted-retries"] == "1"


def test_content_policy_refusal_uses_content_policy_fallbacks_only(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    fake.route(
        "POST",
        "/strict/v1/images/generations",
        lambda r: JSONResponse(
            {
                "error": {
                    "message": "Your request was rejected by the safety system.",
                    "type": "invalid_request_error",
                    "code": "content_policy_violation",
                }
            },
            400,
        ),
    )
    fake.route("POST", "/lenient/v1/images/generations", image_ok)
    raw = generate(client, "strict")
    assert raw.headers["x-model-group"] == "lenient"
    assert raw.headers["x-attempted-fallbacks"] == "1"
    assert raw.headers["x-attempted-retries"] == "0"  # a refusal is never retried
    assert len(fake.received("/strict/v1/images/generations")) == 1


def test_content_policy_refusal_without_fallback_is_a_400(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    fake.route(
        "POST",
        "/lone/v1/images/generations",
        lambda r: JSONResponse(
            {
                "error": {
                    "message": "rejected by the safety system",
                    "type": "invalid_request_error",
                    "code": "content_policy_violation",
                }
            },
            400,
        ),
    )
    with pytest.raises(openai.BadRequestError) as info:
        generate(client, "lone")
    assert info.value.code == "content_policy_violation"
    assert len(fake.received()) == 1


def test_slow_upstream_past_timeout_is_retried_then_falls_back(
    client: openai.OpenAI, proxy: Any, fake: FakeUpstream
) -> None:
    async def slow(r: Received) -> Any:
        await asyncio.sleep(3)
        return image_ok()

    fake.route("POST", "/sluggish/v1/images/generations", slow)
    fake.route("POST", "/backup/v1/images/generations", image_ok)
    try:
        raw = generate(client, "sluggish")
    finally:
        httpx.delete(f"{proxy.base_url}/router/cooldowns/sluggish-1", headers=ADMIN)
    assert raw.headers["x-model-id"] == "backup-1"
    assert len(fake.received("/sluggish/v1/images/generations")) == 2  # then it rests
    assert raw.headers["x-attempted-retries"] == "1"
    assert raw.headers["x-attempted-fallbacks"] == "1"


def test_slow_lone_upstream_is_a_504_saying_what_was_tried(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    async def slow(r: Received) -> Any:
        await asyncio.sleep(3)
        return image_ok()

    fake.route("POST", "/lone/v1/images/generations", slow)
    with pytest.raises(openai.APIStatusError) as info:
        generate(client, "lone")
    assert info.value.status_code == 504
    assert "lone-1" in info.value.message
    assert info.value.response.headers["x-attempted-retries"] == "2"
    assert info.value.response.headers["x-model-id"] == "lone-1"
    assert len(fake.received()) == 3


def test_malformed_json_is_retried(client: openai.OpenAI, fake: FakeUpstream) -> None:
    calls: list[int] = []

    def handler(r: Received) -> Any:
        calls.append(1)
        if len(calls) == 1:
            return Response(b'{"created": 1, "data": [', 200, media_type="application/json")
        return image_ok()

    fake.route("POST", "/lone/v1/images/generations", handler)
    raw = generate(client, "lone")
    assert raw.parse().data[0].b64_json == PNG_B64
    assert raw.headers["x-attempted-retries"] == "1"


def test_allowed_fails_cools_a_deployment_for_cooldown_time(
    client: openai.OpenAI, proxy: Any, fake: FakeUpstream
) -> None:
    fake.route("POST", "/pair-a/v1/images/generations", lambda r: error(500))
    fake.route("POST", "/pair-b/v1/images/generations", image_ok)
    try:
        for _ in range(2):  # pair-a (weight 1) first: fails, pair-b answers
            assert generate(client, "pair").headers["x-model-id"] == "pair-b"
        assert len(fake.received("/pair-a/v1/images/generations")) == 2
        state = httpx.get(f"{proxy.base_url}/router/cooldowns", headers=ADMIN).json()
        assert "pair-a" in state["cooling_down"]
        row = next(d for d in state["deployments"] if d["deployment_id"] == "pair-a")
        assert 25 < row["cooldown"]["remaining_seconds"] <= 30  # cooldown_time
        raw = generate(client, "pair")  # pair-a rests: not even tried
        assert raw.headers["x-model-id"] == "pair-b"
        assert raw.headers["x-attempted-retries"] == "0"
        assert len(fake.received("/pair-a/v1/images/generations")) == 2
    finally:
        httpx.delete(f"{proxy.base_url}/router/cooldowns/pair-a", headers=ADMIN)


def test_request_fallbacks_in_extra_body(client: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.route("POST", "/lone/v1/images/generations", lambda r: error(503))
    fake.route("POST", "/lenient/v1/images/generations", image_ok)
    raw = generate(client, "lone", extra_body={"fallbacks": ["lenient"]})
    assert raw.headers["x-model-group"] == "lenient"
    assert raw.headers["x-attempted-fallbacks"] == "1"
    assert "fallbacks" not in fake.received("/lenient/v1/images/generations")[0].json()


def test_stream_stalling_past_stream_timeout_ends_with_an_error(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    chunk = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}],
    }

    resumed = threading.Event()

    async def stall() -> Any:
        yield sse([(None, chunk)])
        # silent until the client is done: only stream_timeout can end the stream before
        # this (after 30 s it would end normally, and the test fail)
        await asyncio.to_thread(resumed.wait, 30)
        yield sse([(None, chunk)], done=True)

    fake.route(
        "POST",
        "/stall/v1/chat/completions",
        lambda r: StreamingResponse(stall(), media_type="text/event-stream"),
    )
    stream = client.chat.completions.create(
        model="chat-stall", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    got: list[str] = []
    try:
        with pytest.raises(openai.APIError):
            for c in stream:
                got.append(c.choices[0].delta.content or "")
    finally:
        resumed.set()
    assert got == ["Hel"]


def _partial() -> dict[str, Any]:
    return {
        "type": "image_generation.partial_image",
        "b64_json": PNG_B64,
        "created_at": 1,
        "partial_image_index": 0,
        "size": "1024x1024",
        "quality": "low",
        "background": "opaque",
        "output_format": "png",
    }


def test_image_stream_failing_before_its_first_event_is_retried(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    calls: list[int] = []

    def handler(r: Received) -> Any:
        calls.append(1)
        if len(calls) == 1:
            return error(502, "bad gateway")
        done = {**_partial(), "type": "image_generation.completed"}
        done.pop("partial_image_index")
        body = sse(
            [("image_generation.partial_image", _partial()), ("image_generation.completed", done)]
        )
        return StreamingResponse(iter([body]), media_type="text/event-stream")

    fake.route("POST", "/lone/v1/images/generations", handler)
    events = list(
        client.images.generate(model="lone", prompt="a fox", stream=True, partial_images=1)
    )
    assert [e.type for e in events] == [
        "image_generation.partial_image",
        "image_generation.completed",
    ]
    assert len(calls) == 2


def test_image_stream_cut_midway_ends_with_an_error_and_is_not_retried(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    async def cut() -> Any:
        yield sse([("image_generation.partial_image", _partial())])
        await asyncio.sleep(0.05)
        raise RuntimeError("connection dropped")

    fake.route(
        "POST",
        "/lone/v1/images/generations",
        lambda r: StreamingResponse(cut(), media_type="text/event-stream"),
    )
    got: list[str] = []
    with pytest.raises(openai.APIError):
        for event in client.images.generate(
            model="lone", prompt="a fox", stream=True, partial_images=1
        ):
            got.append(event.type)
    assert got == ["image_generation.partial_image"]
    assert len(fake.received()) == 1


def test_usage_based_routing_all_at_rpm_is_a_429_with_retry_after(
    proxy_factory: Any, fake: FakeUpstream
) -> None:
    base = fake.base
    proxy = proxy_factory(
        {
            "model_list": [
                dep("limited", f"{base}/rpm-a/v1", "rpm-a", rpm=1),
                dep("limited", f"{base}/rpm-b/v1", "rpm-b", rpm=1),
            ],
            "router_settings": {"routing_strategy": "usage-based-routing-v2"},
        },
        name="proxy-usage",
    )
    fake.route("POST", "/rpm-a/v1/images/generations", image_ok)
    fake.route("POST", "/rpm-b/v1/images/generations", image_ok)
    client = openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, max_retries=0)
    served = {generate(client, "limited").headers["x-model-id"] for _ in range(2)}
    assert served == {"rpm-a", "rpm-b"}  # each took its one request of the minute
    with pytest.raises(openai.RateLimitError) as info:
        generate(client, "limited")
    assert 0 < int(info.value.response.headers["retry-after"]) <= 60
    assert "limited" in info.value.message
    assert len(fake.received()) == 2


def test_the_first_stream_event_may_take_the_timeout_not_the_stream_timeout(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    """stream_timeout (0.5 s here) bounds the gaps between events; the wait for the first
    one (an image stream renders before it sends anything) is bounded by timeout (10 s)."""
    done = {**_partial(), "type": "image_generation.completed"}
    done.pop("partial_image_index")

    async def late_then_steady() -> Any:
        await asyncio.sleep(1.2)  # the headers went out at once; the first event is late
        yield sse([("image_generation.completed", done)])

    fake.route(
        "POST",
        "/patient/v1/images/generations",
        lambda r: StreamingResponse(late_then_steady(), media_type="text/event-stream"),
    )
    events = list(client.images.generate(model="patient", prompt="a fox", stream=True))
    assert [e.type for e in events] == ["image_generation.completed"]
    assert len(fake.received()) == 1
