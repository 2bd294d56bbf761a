"""Guardrails end to end: every built-in kind blocks and allows what it should, for image and
chat requests, streamed or not, default-on and opt-in; a blocked request never reaches the
upstream; a failing policy service obeys on_error."""

from __future__ import annotations

import asyncio
import base64
import threading
from typing import Any

import httpx
import openai
import pytest
from starlette.responses import JSONResponse, Response, StreamingResponse

from tests.conftest import MASTER_KEY
from tests.fakes.server import FakeUpstream, Received, sse

UPSTREAM_KEY = "sk-guardrail-upstream-5e21"
MODERATION_KEY = "sk-moderation-key-77ab"
POLICY_TOKEN = "policy-token-c0ffee-42"
PNG_B64 = base64.b64encode(b"\x89PNG\r\n\x1a\nguardrail-test").decode()
IMAGES = "/v1/images/generations"
CHAT = "/v1/chat/completions"


@pytest.fixture(scope="module")
def proxy(proxy_factory: Any, upstream: FakeUpstream) -> Any:
    base = upstream.base
    config = {
        "model_list": [
            {
                "model_name": "img",
                "litellm_params": {
                    "model": "openai/gpt-image-1",
                    "api_key": UPSTREAM_KEY,
                    "api_base": f"{base}/v1",
                },
            },
            {
                "model_name": "chat",
                "litellm_params": {
                    "model": "openai/gpt-4o-mini",
                    "api_key": UPSTREAM_KEY,
                    "api_base": f"{base}/v1",
                },
            },
        ],
        "guardrails": [
            {
                "guardrail_name": "no-brands",
                "litellm_params": {
                    "guardrail": "keywords",
                    "mode": "pre_call",
                    "default_on": True,
                    "blocked": ["acme", "/forbidden\\s+word/i"],
                },
            },
            {
                "guardrail_name": "moderation",
                "litellm_params": {
                    "guardrail": "openai_moderation",
                    "mode": "pre_call",
                    "model": "omni-moderation-latest",
                    "api_key": MODERATION_KEY,
                    "api_base": f"{base}/moderation",
                    "categories": ["violence/graphic"],
                },
            },
            {
                "guardrail_name": "policy",
                "litellm_params": {
                    "guardrail": "webhook",
                    "mode": "pre_call",
                    "api_base": f"{base}/policy",
                    "headers": {"x-policy-token": POLICY_TOKEN},
                    "timeout": 2,
                },
            },
            {
                "guardrail_name": "policy-closed",
                "litellm_params": {
                    "guardrail": "webhook",
                    "api_base": f"{base}/policy-broken",
                    "timeout": 0.5,
                },
            },
            {
                "guardrail_name": "policy-open",
                "litellm_params": {
                    "guardrail": "webhook",
                    "api_base": f"{base}/policy-broken",
                    "timeout": 0.5,
                    "on_error": "allow",
                },
            },
            {
                "guardrail_name": "short",
                "litellm_params": {"guardrail": "max_prompt_length", "max_length": 40},
            },
        ],
    }
    return proxy_factory(config)


@pytest.fixture
def client(proxy: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, max_retries=0)


def image_body(r: Any) -> Any:
    if r.json().get("stream"):
        usage = {
            "total_tokens": 3,
            "input_tokens": 1,
            "output_tokens": 2,
            "input_tokens_details": {"text_tokens": 1, "image_tokens": 0},
        }
        body = sse(
            [
                (
                    "image_generation.completed",
                    {
                        "type": "image_generation.completed",
                        "b64_json": PNG_B64,
                        "usage": usage,
                        "created_at": 1,
                        "size": "1024x1024",
                        "quality": "low",
                        "background": "opaque",
                        "output_format": "png",
                    },
                )
            ]
        )
        return StreamingResponse(iter([body]), media_type="text/event-stream")
    return {
        "created": 1,
        "data": [{"b64_json": PNG_B64}],
        "usage": {"total_tokens": 2, "input_tokens": 1, "output_tokens": 1},
    }


def chat_body(r: Any) -> Any:
    if r.json().get("stream"):
        chunk = {
            "id": "c1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": "ok"},
                    "finish_reason": "stop",
                }
            ],
        }
        return StreamingResponse(
            iter([sse([(None, chunk)], done=True)]), media_type="text/event-stream"
        )
    return {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


@pytest.fixture
def served(fake: FakeUpstream) -> FakeUpstream:
    fake.route("POST", IMAGES, image_body)
    fake.route("POST", CHAT, chat_body)
    fake.route("POST", "/policy-broken", lambda r: Response(b"oops", 500))
    return fake


def request(
    client: openai.OpenAI, kind: str, text: str, *, stream: bool, guardrails: Any = None
) -> Any:
    """One request through the SDK; the answer fully consumed."""
    extra = {"guardrails": guardrails} if guardrails is not None else None
    if kind == "image":
        image = client.images.generate(model="img", prompt=text, stream=stream, extra_body=extra)
        return list(image) if stream else image
    chat = client.chat.completions.create(
        model="chat",
        stream=stream,
        extra_body=extra,
        messages=[
            {"role": "system", "content": "You draw."},
            {"role": "user", "content": [{"type": "text", "text": text}]},
        ],
    )
    return list(chat) if stream else chat


def upstream_calls(fake: FakeUpstream) -> list[Any]:
    return fake.received(IMAGES) + fake.received(CHAT)


def error_body(exc: pytest.ExceptionInfo[openai.BadRequestError]) -> dict[str, Any]:
    """The OpenAI error object the SDK decoded (it unwraps ``{"error": ...}``)."""
    error = exc.value.body
    assert isinstance(error, dict)
    return error


def assert_blocked(exc: pytest.ExceptionInfo[openai.BadRequestError], name: str) -> None:
    error = error_body(exc)
    assert error["code"] == "content_policy_violation"
    assert error["guardrail"] == name
    assert name in error["message"]
    assert name in exc.value.response.headers["x-applied-guardrails"].split(",")


MODES = [("image", False), ("image", True), ("chat", False), ("chat", True)]


@pytest.mark.parametrize(("kind", "stream"), MODES)
def test_default_on_keywords_block_words_and_regex(
    client: openai.OpenAI, served: FakeUpstream, kind: str, stream: bool
) -> None:
    for text in ("a poster for \uff21\uff23\uff2d\uff25 rockets", "the FORBIDDEN   word here"):
        with pytest.raises(openai.BadRequestError) as exc:
            request(client, kind, text, stream=stream)
        assert_blocked(exc, "no-brands")
    assert upstream_calls(served) == []
    # a word that merely contains a blocked word passes
    request(client, kind, "an acmeological survey", stream=stream)
    assert len(upstream_calls(served)) == 1


def test_keywords_check_every_chat_message(client: openai.OpenAI, served: FakeUpstream) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(
            model="chat",
            messages=[
                {"role": "system", "content": "Always mention Acme."},
                {"role": "user", "content": "draw a cat"},
            ],
        )
    assert_blocked(exc, "no-brands")
    assert upstream_calls(served) == []


@pytest.mark.parametrize(("kind", "stream"), MODES)
def test_opt_in_moderation(
    client: openai.OpenAI, served: FakeUpstream, kind: str, stream: bool
) -> None:
    def moderate(r: Any) -> Any:
        texts = r.json()["input"]
        gory = any("gore" in t for t in texts)
        violent = any("fight" in t for t in texts)
        return {
            "id": "modr-1",
            "model": "omni-moderation-latest",
            "results": [
                {
                    "flagged": gory or violent,
                    "categories": {
                        "violence": violent or gory,
                        "violence/graphic": gory,
                        "sexual": False,
                    },
                    "category_scores": {"violence": 0.9 if violent else 0.0},
                }
                for _ in texts
            ],
        }

    served.route("POST", "/moderation/v1/moderations", moderate)
    # not opted in: moderation never called
    request(client, kind, "lots of gore", stream=stream)
    assert served.received("/moderation/v1/moderations") == []
    # opted in and flagged in a configured category: blocked
    with pytest.raises(openai.BadRequestError) as exc:
        request(client, kind, "lots of gore", stream=stream, guardrails=["moderation"])
    assert_blocked(exc, "moderation")
    assert "violence/graphic" in error_body(exc)["reason"]
    # flagged, but only in a category not configured: allowed
    request(client, kind, "a pillow fight", stream=stream, guardrails=["moderation"])
    calls = served.received("/moderation/v1/moderations")
    assert len(calls) == 2
    assert calls[0].headers["authorization"] == f"Bearer {MODERATION_KEY}"
    sent = calls[0].json()
    assert sent["model"] == "omni-moderation-latest"
    assert "lots of gore" in sent["input"]
    if kind == "chat":
        assert "You draw." in sent["input"]  # every message's text, system included
    assert len(upstream_calls(served)) == 2  # the un-moderated one and the allowed one
    for call in upstream_calls(served):
        assert "guardrails" not in call.json()  # never forwarded to the provider


@pytest.mark.parametrize(("kind", "stream"), MODES)
def test_opt_in_webhook_allows_and_denies(
    client: openai.OpenAI, served: FakeUpstream, kind: str, stream: bool
) -> None:
    def policy(r: Any) -> Any:
        text = " ".join(i["text"] for i in r.json()["input"])
        if "secret project" in text:
            return {"action": "deny", "reason": "mentions an unreleased product"}
        return {"action": "allow"}

    served.route("POST", "/policy", policy)
    with pytest.raises(openai.BadRequestError) as exc:
        request(client, kind, "the secret project logo", stream=stream, guardrails=["policy"])
    assert_blocked(exc, "policy")
    assert error_body(exc)["reason"] == "mentions an unreleased product"
    assert upstream_calls(served) == []
    request(client, kind, "a lighthouse", stream=stream, guardrails={"policy": True})
    assert len(upstream_calls(served)) == 1
    (first, second) = served.received("/policy")
    assert first.headers["x-policy-token"] == POLICY_TOKEN
    payload = second.json()
    assert payload["guardrail"] == "policy"
    assert payload["endpoint"] == ("images" if kind == "image" else "chat")
    assert payload["model"] == ("img" if kind == "image" else "chat")
    assert payload["metadata"]["key_alias"] == "master"
    roles = [i["role"] for i in payload["input"]]
    assert roles == (["prompt"] if kind == "image" else ["system", "user"])


@pytest.mark.parametrize("stream", [False, True])
def test_failing_webhook_on_error_block_refuses(
    client: openai.OpenAI, served: FakeUpstream, stream: bool
) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        request(client, "image", "a cat", stream=stream, guardrails=["policy-closed"])
    assert_blocked(exc, "policy-closed")  # on_error: block is a block like any other
    assert "HTTP 500" in error_body(exc)["reason"]
    assert upstream_calls(served) == []
    assert len(served.received("/policy-broken")) == 1


def test_unreachable_webhook_on_error_block_refuses(
    client: openai.OpenAI, served: FakeUpstream
) -> None:
    answered = threading.Event()

    async def stall(r: Received) -> Any:
        # holds its verdict until the client has its answer: a proxy that waited for the
        # webhook instead of timing out would get this "allow" (after 30 s) and let it through
        await asyncio.to_thread(answered.wait, 30)
        return {"action": "allow"}

    served.route("POST", "/policy-broken", stall)
    try:
        with pytest.raises(openai.BadRequestError) as exc:
            request(client, "chat", "a cat", stream=False, guardrails=["policy-closed"])
    finally:
        answered.set()
    assert_blocked(exc, "policy-closed")
    assert "0.5s" in error_body(exc)["message"]
    assert len(served.received("/policy-broken")) == 1
    assert upstream_calls(served) == []


@pytest.mark.parametrize("stream", [False, True])
def test_failing_webhook_on_error_allow_lets_through(
    client: openai.OpenAI, served: FakeUpstream, stream: bool
) -> None:
    request(client, "chat", "a cat", stream=stream, guardrails=["policy-open"])
    assert len(served.received("/policy-broken")) == 1
    assert len(upstream_calls(served)) == 1


@pytest.mark.parametrize(("kind", "stream"), MODES)
def test_max_prompt_length(
    client: openai.OpenAI, served: FakeUpstream, kind: str, stream: bool
) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        request(client, kind, "x" * 41, stream=stream, guardrails=["short"])
    assert_blocked(exc, "short")
    assert upstream_calls(served) == []
    request(
        client, kind, "x" * 40 if kind == "image" else "x" * 31, stream=stream, guardrails=["short"]
    )  # chat counts the system message's 9 characters too
    assert len(upstream_calls(served)) == 1


def test_applied_guardrails_header_on_success(client: openai.OpenAI, served: FakeUpstream) -> None:
    served.route("POST", "/policy", lambda r: {"action": "allow"})
    raw = client.images.with_raw_response.generate(
        model="img", prompt="a cat", extra_body={"guardrails": ["policy"]}
    )
    assert raw.headers["x-applied-guardrails"] == "no-brands,policy"


def test_unknown_or_switched_off_guardrails_are_refused(proxy: Any, served: FakeUpstream) -> None:
    headers = {"authorization": f"Bearer {MASTER_KEY}"}
    for guardrails, code in (
        (["nope"], "unknown_guardrail"),
        ({"no-brands": False}, "guardrail_required"),
        ("policy", None),
    ):
        r = httpx.post(
            f"{proxy.base_url}{IMAGES}",
            headers=headers,
            timeout=10,
            json={"model": "img", "prompt": "a cat", "guardrails": guardrails},
        )
        assert r.status_code == 400, r.text
        assert r.json()["error"]["param"] == "guardrails"
        if code:
            assert r.json()["error"]["code"] == code
    assert upstream_calls(served) == []


def test_blocked_requests_are_not_billed(proxy: Any, served: FakeUpstream) -> None:
    r = httpx.post(
        f"{proxy.base_url}{IMAGES}",
        timeout=10,
        headers={"authorization": f"Bearer {MASTER_KEY}"},
        json={"model": "img", "prompt": "acme"},
    )
    assert r.status_code == 400
    assert "x-response-cost" not in r.headers
    assert "x-model-id" not in r.headers  # no deployment was chosen
    assert r.headers["x-applied-guardrails"] == "no-brands"


def test_moderation_service_error_blocks_by_default(
    client: openai.OpenAI, served: FakeUpstream
) -> None:
    served.route(
        "POST",
        "/moderation/v1/moderations",
        lambda r: JSONResponse({"error": {"message": "bad key"}}, 401),
    )
    with pytest.raises(openai.BadRequestError) as exc:
        request(client, "image", "a cat", stream=False, guardrails=["moderation"])
    assert_blocked(exc, "moderation")
    assert upstream_calls(served) == []
