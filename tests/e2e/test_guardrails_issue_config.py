"""The guardrails config exactly as an operator copies it from LiteLLM (and from the issue):
the moderation entry has no ``api_base`` (``OPENAI_API_BASE`` points it at the fake) and
takes its key from ``os.environ/OPENAI_API_KEY``; ``/regex/i`` entries; a webhook with
``on_error: block``. Driven through the OpenAI SDK."""

from __future__ import annotations

import base64
from typing import Any

import openai
import pytest
import yaml
from starlette.responses import JSONResponse, StreamingResponse

from tests.conftest import MASTER_KEY
from tests.fakes.server import FakeUpstream, Received, sse

UPSTREAM_KEY = "sk-issue-guardrails-upstream-0b0b"
OPENAI_KEY = "sk-issue-moderation-env-key-1c1c"
PNG_B64 = base64.b64encode(b"\x89PNG\r\n\x1a\nissue-guardrails").decode()

GUARDRAILS_YAML = """
guardrails:
  - guardrail_name: no-brands
    litellm_params: {guardrail: keywords, mode: pre_call, default_on: true,
                     blocked: ["acme", "/regex/i"]}
  - guardrail_name: moderation
    litellm_params: {guardrail: openai_moderation, mode: pre_call, model: omni-moderation-latest,
                     api_key: os.environ/OPENAI_API_KEY,
                     categories: [sexual/minors, violence/graphic]}
  - guardrail_name: my-policy-service
    litellm_params: {guardrail: webhook, mode: pre_call, api_base: POLICY_URL,
                     timeout: 2, on_error: block}
"""


@pytest.fixture(scope="module")
def proxy(proxy_factory: Any, upstream: FakeUpstream) -> Any:
    config = yaml.safe_load(GUARDRAILS_YAML.replace("POLICY_URL", f"{upstream.base}/check"))
    config["model_list"] = [
        {
            "model_name": "gpt-image",
            "litellm_params": {
                "model": "openai/gpt-image-1",
                "api_key": UPSTREAM_KEY,
                "api_base": f"{upstream.base}/v1",
            },
        }
    ]
    env = {"OPENAI_API_KEY": OPENAI_KEY, "OPENAI_API_BASE": f"{upstream.base}/v1"}
    return proxy_factory(config, env=env, name="proxy-issue-guardrails")


@pytest.fixture
def client(proxy: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, max_retries=0)


def image(r: Received) -> Any:
    if r.json().get("stream"):
        event = {
            "type": "image_generation.completed",
            "b64_json": PNG_B64,
            "created_at": 1,
            "size": "1024x1024",
            "quality": "low",
            "background": "opaque",
            "output_format": "png",
            "usage": {
                "total_tokens": 2,
                "input_tokens": 1,
                "output_tokens": 1,
                "input_tokens_details": {"text_tokens": 1, "image_tokens": 0},
            },
        }
        return StreamingResponse(
            iter([sse([("image_generation.completed", event)])]), media_type="text/event-stream"
        )
    return {"created": 1, "data": [{"b64_json": PNG_B64}]}


def moderation(r: Received) -> Any:
    texts = r.json()["input"]
    texts = texts if isinstance(texts, list) else [texts]
    results = []
    for text in texts:
        graphic = "gore" in text
        violent = graphic or "duel" in text
        results.append(
            {
                "flagged": violent,
                "categories": {
                    "sexual": False,
                    "sexual/minors": False,
                    "violence": violent,
                    "violence/graphic": graphic,
                },
                "category_scores": {"violence": 0.9 if violent else 0},
            }
        )
    return {"id": "modr-1", "model": "omni-moderation-latest", "results": results}


@pytest.fixture
def served(fake: FakeUpstream) -> FakeUpstream:
    fake.route("POST", "/v1/images/generations", image)
    fake.route("POST", "/v1/moderations", moderation)
    return fake


def generate(client: openai.OpenAI, prompt: str, stream: bool, **extra: Any) -> Any:
    if stream:
        return list(
            client.images.generate(
                model="gpt-image", prompt=prompt, stream=True, extra_body=extra or None
            )
        )
    return client.images.with_raw_response.generate(
        model="gpt-image", prompt=prompt, extra_body=extra or None
    )


def blocked(exc: pytest.ExceptionInfo[openai.BadRequestError], name: str) -> dict[str, Any]:
    body = exc.value.body
    assert isinstance(body, dict)
    assert exc.value.status_code == 400
    assert body["code"] == "content_policy_violation"
    assert body["guardrail"] == name and name in body["message"] and body["reason"]
    assert name in exc.value.response.headers["x-applied-guardrails"].split(",")
    return body


def upstream_calls(fake: FakeUpstream) -> list[Received]:
    return fake.received("/v1/images/generations")


@pytest.mark.parametrize("stream", [False, True])
def test_default_on_keywords_words_and_regex(
    client: openai.OpenAI, served: FakeUpstream, stream: bool
) -> None:
    for prompt in ("an ACME anvil", "a poster about ReGeX"):
        with pytest.raises(openai.BadRequestError) as exc:
            generate(client, prompt, stream)
        blocked(exc, "no-brands")
    assert upstream_calls(served) == []
    ok = generate(client, "a quiet harbour", stream)
    if not stream:
        assert ok.headers["x-applied-guardrails"] == "no-brands"
    assert len(upstream_calls(served)) == 1


@pytest.mark.parametrize("stream", [False, True])
def test_moderation_blocks_only_its_categories(
    client: openai.OpenAI, served: FakeUpstream, stream: bool
) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        generate(client, "a scene full of gore", stream, guardrails=["moderation"])
    assert "violence/graphic" in blocked(exc, "moderation")["reason"]
    assert upstream_calls(served) == []
    generate(client, "a fencing duel", stream, guardrails=["moderation"])  # violence only
    assert len(upstream_calls(served)) == 1
    calls = served.received("/v1/moderations")
    assert len(calls) == 2
    assert calls[0].headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert calls[0].json()["model"] == "omni-moderation-latest"


def test_applied_guardrails_header_lists_every_one_that_ran(
    client: openai.OpenAI, served: FakeUpstream
) -> None:
    served.route("POST", "/check", lambda r: {"action": "allow"})
    raw = generate(client, "a lighthouse", False, guardrails=["moderation", "my-policy-service"])
    assert raw.headers["x-applied-guardrails"].split(",") == [
        "no-brands",
        "moderation",
        "my-policy-service",
    ]


def test_webhook_deny_and_on_error_block(client: openai.OpenAI, served: FakeUpstream) -> None:
    served.route("POST", "/check", lambda r: {"action": "deny", "reason": "off-brief"})
    with pytest.raises(openai.BadRequestError) as exc:
        generate(client, "a lighthouse", False, guardrails=["my-policy-service"])
    assert blocked(exc, "my-policy-service")["reason"] == "off-brief"
    served.route("POST", "/check", lambda r: JSONResponse({"error": "down"}, 503))
    with pytest.raises(openai.BadRequestError) as exc:
        generate(client, "a lighthouse", False, guardrails=["my-policy-service"])
    blocked(exc, "my-policy-service")  # a failing service blocks (on_error: block)
    assert upstream_calls(served) == []
