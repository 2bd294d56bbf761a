"""OpenAI, Azure, Xinference, Nscale and generic OpenAI-compatible upstreams, end to end
through the official SDK against fake upstreams that check what they receive."""

from __future__ import annotations

import base64
from typing import Any

import openai
import pytest
from starlette.responses import JSONResponse

from tests.conftest import MASTER_KEY
from tests.fakes.server import FakeUpstream

PNG_B64 = base64.b64encode(b"\x89PNG\r\n\x1a\nfake-image-bytes").decode()
OPENAI_KEY = "sk-openai-upstream-91b2"
AZURE_KEY = "azure-upstream-key-55c1"
NSCALE_KEY = "nscale-upstream-key-0d9e"


@pytest.fixture(scope="module")
def proxy(proxy_factory: Any, upstream: FakeUpstream) -> Any:
    base = upstream.base
    config = {
        "model_list": [
            {
                "model_name": "gpt-image",
                "litellm_params": {
                    "model": "openai/gpt-image-2",
                    "api_key": OPENAI_KEY,
                    "api_base": f"{base}/v1",
                },
            },
            {
                "model_name": "gpt-image-2",
                "litellm_params": {
                    "model": "openai/gpt-image-2",
                    "api_key": OPENAI_KEY,
                    "api_base": f"{base}/v1",
                },
            },
            {
                "model_name": "dalle3",
                "litellm_params": {
                    "model": "dall-e-3",
                    "api_key": OPENAI_KEY,
                    "api_base": f"{base}/v1",
                },
            },
            {
                "model_name": "azure-image",
                "litellm_params": {
                    "model": "azure/my-deploy",
                    "api_key": AZURE_KEY,
                    "api_base": f"{base}/azure",
                    "api_version": "2025-04-01-preview",
                },
            },
            {
                "model_name": "xinf",
                "litellm_params": {
                    "model": "xinference/sdxl-uid",
                    "api_base": f"{base}/xinference/v1",
                },
            },
            {
                "model_name": "nscale-flux",
                "litellm_params": {
                    "model": "nscale/black-forest-labs/FLUX.1-schnell",
                    "api_key": NSCALE_KEY,
                    "api_base": f"{base}/nscale/v1",
                },
            },
            {
                "model_name": "compat",
                "litellm_params": {
                    "model": "openai/local-model",
                    "api_base": f"{base}/compat/v1",
                    "api_key": "compat-key-1234",
                },
            },
            {
                "model_name": "chat-model",
                "litellm_params": {
                    "model": "openai/gpt-4o-mini",
                    "api_key": OPENAI_KEY,
                    "api_base": f"{base}/v1",
                },
            },
            {
                "model_name": "slow",
                "litellm_params": {
                    "model": "openai/gpt-image-2",
                    "api_key": OPENAI_KEY,
                    "api_base": f"{base}/slow/v1",
                    "timeout": 0.5,
                },
            },
            {
                "model_name": "unset",
                "litellm_params": {
                    "model": "openai/gpt-image-2",
                    "api_key": "os.environ/IMAGE_PROXY_TEST_UNSET",
                },
            },
        ],
        "general_settings": {"max_request_size_mb": 1},
    }
    return proxy_factory(config)


@pytest.fixture
def client(proxy: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, max_retries=0)


def gpt_image_body(n: int = 1) -> dict[str, Any]:
    return {
        "created": 1713833628,
        "data": [{"b64_json": PNG_B64} for _ in range(n)],
        "background": "opaque",
        "output_format": "png",
        "size": "1024x1024",
        "quality": "high",
        "usage": {
            "total_tokens": 100,
            "input_tokens": 50,
            "output_tokens": 50,
            "input_tokens_details": {"text_tokens": 10, "image_tokens": 40},
        },
    }


def test_gpt_image_passes_every_parameter_and_swaps_keys(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    fake.route("POST", "/v1/images/generations", lambda r: gpt_image_body(r.json()["n"]))
    result = client.images.generate(
        model="gpt-image",
        prompt="a red fox",
        n=2,
        size="1536x1024",
        quality="high",
        background="transparent",
        output_format="webp",
        output_compression=80,
        moderation="low",
        user="end-user-1",
        response_format="b64_json",
        extra_body={"some_new_param": {"nested": True}},
    )
    assert result.data is not None
    assert [d.b64_json for d in result.data] == [PNG_B64, PNG_B64]
    assert result.usage is not None and result.usage.input_tokens == 50
    assert result.output_format == "png" and result.quality == "high"
    (req,) = fake.received("/v1/images/generations")
    body = req.json()
    assert body["model"] == "gpt-image-2"
    assert body["n"] == 2 and body["size"] == "1536x1024" and body["quality"] == "high"
    assert body["background"] == "transparent" and body["output_format"] == "webp"
    assert body["output_compression"] == 80 and body["moderation"] == "low"
    assert body["user"] == "end-user-1"
    assert body["some_new_param"] == {"nested": True}
    assert "response_format" not in body  # gpt-image rejects it upstream
    assert req.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert MASTER_KEY not in str(req.headers)


@pytest.mark.parametrize(
    ("size", "rule"),
    [
        ("1000x1000", "multiples of 16 px"),
        ("3072x1008", "between 1:3 and 3:1"),
        ("4096x2304", "at most 3840 px"),
        ("3840x2176", "8,294,400 pixels"),
    ],
)
def test_gpt_image_2_bad_size_is_a_400_before_any_call(
    client: openai.OpenAI, fake: FakeUpstream, size: str, rule: str
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(model="gpt-image-2", prompt="a red fox", size=size)
    assert info.value.status_code == 400
    assert info.value.param == "size" and info.value.code == "invalid_size"
    assert rule in info.value.message and size in info.value.message
    assert fake.received() == []


def test_gpt_image_2_free_size_and_options_pass_unchanged(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    fake.route("POST", "/v1/images/generations", lambda r: gpt_image_body())
    client.images.generate(
        model="gpt-image-2",
        prompt="a red fox",
        size="3840x2160",
        quality="medium",
        background="opaque",
        moderation="low",
        output_format="jpeg",
        output_compression=60,
    )
    (req,) = fake.received("/v1/images/generations")
    assert req.json() == {
        "model": "gpt-image-2",
        "prompt": "a red fox",
        "size": "3840x2160",
        "quality": "medium",
        "background": "opaque",
        "moderation": "low",
        "output_format": "jpeg",
        "output_compression": 60,
    }


def test_dalle3_url_and_style(client: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.route(
        "POST",
        "/v1/images/generations",
        lambda r: {
            "created": 1,
            "data": [{"url": "https://cdn.example/img.png", "revised_prompt": "rp"}],
        },
    )
    result = client.images.generate(
        model="dalle3",
        prompt="p",
        style="natural",
        size="1792x1024",
        quality="hd",
        response_format="url",
    )
    assert result.data is not None
    assert result.data[0].url == "https://cdn.example/img.png"
    assert result.data[0].revised_prompt == "rp"
    body = fake.received()[0].json()
    assert body == {
        "model": "dall-e-3",
        "prompt": "p",
        "style": "natural",
        "size": "1792x1024",
        "quality": "hd",
        "response_format": "url",
    }


def test_azure_deployment_url_api_key_header_and_no_annotations(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    def azure(r: Any) -> Any:
        if r.headers.get("api-key") != AZURE_KEY or "api-version" not in r.query:
            return JSONResponse({"error": {"code": "401", "message": "denied"}}, 401)
        return {
            "created": 1,
            "data": [
                {
                    "b64_json": PNG_B64,
                    "prompt_filter_results": {"sexual": {"severity": "safe", "filtered": False}},
                    "content_filter_results": {},
                }
            ],
        }

    fake.route("POST", "/azure/openai/deployments/my-deploy/images/generations", azure)
    result = client.images.generate(model="azure-image", prompt="a boat", size="1024x1024")
    assert result.data is not None
    assert result.data[0].b64_json == PNG_B64
    assert result.data[0].model_extra == {}
    (req,) = fake.received()
    assert req.query == {"api-version": "2025-04-01-preview"}
    assert "authorization" not in req.headers
    assert "model" not in req.json()


def test_azure_content_filter_is_content_policy_error(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    fake.route(
        "POST",
        "/azure/openai/deployments/my-deploy/images/generations",
        lambda r: JSONResponse(
            {
                "error": {
                    "code": "contentFilter",
                    "message": "Your task failed as a result of our safety system.",
                }
            },
            400,
        ),
    )
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(model="azure-image", prompt="bad")
    assert info.value.code == "content_policy_violation"
    assert "safety system" in info.value.message


def test_xinference_quirks(client: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.route(
        "POST",
        "/xinference/v1/images/generations",
        lambda r: {"created": 1, "data": [{"url": None, "b64_json": PNG_B64}]},
    )
    result = client.images.generate(
        model="xinf",
        prompt="a hill",
        size="768x512",
        n=1,
        extra_body={"negative_prompt": "blurry", "num_inference_steps": 4},
    )
    assert result.data is not None
    assert result.data[0].b64_json == PNG_B64 and result.data[0].url is None
    body = fake.received()[0].json()
    assert body["size"] == "768*512"
    assert body["response_format"] == "b64_json"
    assert body["model"] == "sdxl-uid"
    import json

    assert json.loads(body["kwargs"]) == {"negative_prompt": "blurry", "num_inference_steps": 4}
    assert "authorization" not in fake.received()[0].headers


def test_xinference_refuses_what_it_cannot_honour(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(model="xinf", prompt="x", quality="hd")
    assert "quality" in info.value.message
    assert fake.received() == []


def test_xinference_detail_error(client: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.route(
        "POST",
        "/xinference/v1/images/generations",
        lambda r: JSONResponse({"detail": "Model not found, uid: sdxl-uid"}, 404),
    )
    with pytest.raises(openai.APIStatusError) as info:
        client.images.generate(model="xinf", prompt="x")
    assert info.value.status_code == 502
    assert "Model not found" in info.value.message


def test_nscale_gets_openai_default_size(client: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.route(
        "POST",
        "/nscale/v1/images/generations",
        lambda r: {"created": 1, "data": [{"b64_json": PNG_B64}]},
    )
    client.images.generate(model="nscale-flux", prompt="x")
    (req,) = fake.received()
    assert req.json()["size"] == "1024x1024"
    assert req.json()["model"] == "black-forest-labs/FLUX.1-schnell"
    assert req.headers["authorization"] == f"Bearer {NSCALE_KEY}"


def test_nscale_insufficient_credit_is_429(client: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.route(
        "POST",
        "/nscale/v1/images/generations",
        lambda r: JSONResponse({"error": {"message": "Insufficient credit"}}, 429),
    )
    with pytest.raises(openai.RateLimitError) as info:
        client.images.generate(model="nscale-flux", prompt="x")
    assert info.value.code == "insufficient_quota"


def test_generic_compatible_server(client: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.route(
        "POST",
        "/compat/v1/images/generations",
        lambda r: {"created": 1, "data": [{"b64_json": PNG_B64}]},
    )
    client.images.generate(model="compat", prompt="x", extra_body={"steps": 8})
    (req,) = fake.received()
    assert req.json() == {"model": "local-model", "prompt": "x", "steps": 8}
    assert req.headers["authorization"] == "Bearer compat-key-1234"


def test_gpt_image_stream_relays_events(client: openai.OpenAI, fake: FakeUpstream) -> None:
    from starlette.responses import StreamingResponse

    from tests.fakes.server import sse

    common = {
        "created_at": 1,
        "size": "1024x1024",
        "quality": "low",
        "background": "opaque",
        "output_format": "png",
    }
    usage = {
        "total_tokens": 3,
        "input_tokens": 1,
        "output_tokens": 2,
        "input_tokens_details": {"text_tokens": 1, "image_tokens": 0},
    }
    body = sse(
        [
            (
                "image_generation.partial_image",
                {
                    "type": "image_generation.partial_image",
                    "b64_json": PNG_B64,
                    "partial_image_index": 0,
                    **common,
                },
            ),
            (
                "image_generation.completed",
                {
                    "type": "image_generation.completed",
                    "b64_json": PNG_B64,
                    "usage": usage,
                    **common,
                },
            ),
        ]
    )
    fake.route(
        "POST",
        "/v1/images/generations",
        lambda r: StreamingResponse(iter([body]), media_type="text/event-stream"),
    )
    events = list(
        client.images.generate(model="gpt-image", prompt="x", stream=True, partial_images=1)
    )
    assert [e.type for e in events] == [
        "image_generation.partial_image",
        "image_generation.completed",
    ]
    assert events[-1].b64_json == PNG_B64
    assert fake.received()[0].json()["stream"] is True
    assert fake.received()[0].json()["partial_images"] == 1


@pytest.mark.parametrize(
    ("status", "body", "headers", "exc", "proxy_status"),
    [
        (
            400,
            {
                "error": {
                    "message": "Invalid size",
                    "type": "invalid_request_error",
                    "param": "size",
                    "code": None,
                }
            },
            {},
            openai.BadRequestError,
            400,
        ),
        (
            401,
            {
                "error": {
                    "message": "Incorrect API key provided: sk-openai-upstream-91b2",
                    "type": "invalid_request_error",
                    "code": "invalid_api_key",
                }
            },
            {},
            openai.InternalServerError,
            502,
        ),
        (
            429,
            {"error": {"message": "Rate limit", "type": "requests", "code": "rate_limit_exceeded"}},
            {"retry-after": "7"},
            openai.RateLimitError,
            429,
        ),
        (
            500,
            {"error": {"message": "boom", "type": "server_error"}},
            {},
            openai.InternalServerError,
            502,
        ),
        (
            400,
            {
                "error": {
                    "message": "Your request was rejected by the safety system",
                    "type": "image_generation_user_error",
                    "code": "moderation_blocked",
                }
            },
            {},
            openai.BadRequestError,
            400,
        ),
    ],
)
def test_upstream_errors_keep_their_class(
    client: openai.OpenAI,
    fake: FakeUpstream,
    status: int,
    body: Any,
    headers: Any,
    exc: type[openai.APIStatusError],
    proxy_status: int,
) -> None:
    fake.route(
        "POST", "/v1/images/generations", lambda r: JSONResponse(body, status, headers=headers)
    )
    with pytest.raises(exc) as info:
        client.images.generate(model="gpt-image", prompt="x")
    err = info.value
    assert err.status_code == proxy_status
    assert isinstance(err.body, dict)
    assert set(err.body) >= {"message", "type", "param", "code"}
    assert OPENAI_KEY not in err.message
    if status == 429:
        assert err.response.headers["retry-after"] == "7"
    if body["error"].get("code") == "moderation_blocked":
        assert err.code == "content_policy_violation"


def test_upstream_timeout_is_504(client: openai.OpenAI, fake: FakeUpstream) -> None:
    import asyncio

    async def slow(r: Any) -> Any:
        await asyncio.sleep(3)
        return {"created": 1, "data": []}

    fake.route("POST", "/slow/v1/images/generations", slow)
    with pytest.raises(openai.APIStatusError) as info:
        client.images.generate(model="slow", prompt="x")
    assert info.value.status_code == 504
    assert info.value.type == "timeout_error" and info.value.code == "upstream_timeout"


def test_empty_data_is_never_a_200(client: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.route("POST", "/v1/images/generations", lambda r: {"created": 1, "data": []})
    with pytest.raises(openai.APIStatusError) as info:
        client.images.generate(model="gpt-image", prompt="x")
    assert info.value.status_code == 502
    assert info.value.type == "upstream_error" and info.value.code == "upstream_error"


def test_missing_env_var_gives_503_naming_it(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        client.images.generate(model="unset", prompt="x")
    assert info.value.status_code == 503
    assert "IMAGE_PROXY_TEST_UNSET" in info.value.message


def test_chat_plain_renames_model(client: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.route(
        "POST",
        "/v1/chat/completions",
        lambda r: {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o-mini-x",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "hi"},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        },
    )
    result = client.chat.completions.create(
        model="chat-model", messages=[{"role": "user", "content": "hello"}], temperature=0.2
    )
    assert result.choices[0].message.content == "hi"
    assert result.model == "chat-model"
    body = fake.received()[0].json()
    assert body["model"] == "gpt-4o-mini" and body["temperature"] == 0.2


def _chat_stream_body(include_usage: bool) -> bytes:
    from tests.fakes.server import sse

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "c1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    events: list[tuple[str | None, Any]] = [
        (None, chunk({"role": "assistant", "content": ""})),
        (None, chunk({"content": "Hel"})),
        (None, chunk({"content": "lo"})),
        (None, chunk({}, "stop")),
    ]
    if include_usage:
        events.append(
            (
                None,
                {
                    "id": "c1",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": "m",
                    "choices": [],
                    "usage": {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4},
                },
            )
        )
    return sse(events, done=True)


@pytest.mark.parametrize("include_usage", [True, False])
def test_chat_stream(client: openai.OpenAI, fake: FakeUpstream, include_usage: bool) -> None:
    from starlette.responses import StreamingResponse

    def handler(r: Any) -> Any:
        wants = r.json().get("stream_options", {}).get("include_usage", False)
        return StreamingResponse(iter([_chat_stream_body(wants)]), media_type="text/event-stream")

    fake.route("POST", "/v1/chat/completions", handler)
    kwargs: dict[str, Any] = {"stream_options": {"include_usage": True}} if include_usage else {}
    chunks = list(
        client.chat.completions.create(
            model="chat-model", messages=[{"role": "user", "content": "hi"}], stream=True, **kwargs
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello"
    assert all(c.model == "chat-model" for c in chunks)
    usage_chunks = [c for c in chunks if c.usage]
    assert len(usage_chunks) == (1 if include_usage else 0)
    # the proxy always asks upstream for usage so the request can be priced
    assert fake.received()[0].json()["stream_options"]["include_usage"] is True
