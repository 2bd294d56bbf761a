"""OpenRouter adapters: image_config mapping, images via chat, chat images, errors."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from proxy.config import ConfigError, Deployment
from proxy.configure import parse_config
from proxy.errors import (
    ContentPolicyError,
    InvalidRequestError,
    ProviderAuthError,
    ProxyError,
    UpstreamBadRequestError,
    UpstreamError,
    UpstreamQuotaError,
    UpstreamRateLimitError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from proxy.providers.openrouter.chat import OpenRouterChat
from proxy.providers.openrouter.common import chat_url
from proxy.providers.openrouter.image_config import aspect_ratio_for, build_image_config
from proxy.providers.openrouter.images import OpenRouterImages, image_item
from proxy.schemas import ChatRequest, ImageRequest
from proxy.sse import SSEDecoder
from proxy.upstream_request import UpstreamResponse
from tests.fakes.streams import translate

IMAGES = OpenRouterImages()
CHAT = OpenRouterChat()
MODEL = "google/gemini-2.5-flash-image"
DATA_URL = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg=="


def deployment(model: str = f"openrouter/{MODEL}", **params: Any) -> Deployment:
    config = parse_config(
        {"model_list": [{"model_name": "or", "litellm_params": {"model": model, **params}}]},
        env={"OPENROUTER_API_KEY": "test-key"},  # LiteLLM's variable: a key is required
    )
    return config.deployments[0]


def image_payloads(body: dict[str, Any], dep: Deployment | None = None) -> list[dict[str, Any]]:
    request = ImageRequest.from_body({"model": "or", "prompt": "a sunset", **body})
    return [orjson.loads(r.body or b"") for r in IMAGES.build(request, dep or deployment())]


@pytest.mark.parametrize(
    ("size", "model", "ratio"),
    [
        ("1024x1024", MODEL, "1:1"),
        ("256x256", MODEL, "1:1"),
        ("1536x1024", MODEL, "3:2"),
        ("1024x1536", MODEL, "2:3"),
        ("1792x1024", MODEL, "16:9"),  # 1.75 vs 1.778: 1.6% off
        ("1024x1792", MODEL, "9:16"),
        ("1344x768", MODEL, "16:9"),
        ("1184x864", MODEL, "4:3"),
        ("1152x896", MODEL, "5:4"),
        ("1536x672", MODEL, "21:9"),
        ("3840x2160", MODEL, "16:9"),
        ("16:9", MODEL, "16:9"),
        ("auto", MODEL, None),
        ("2048x512", "google/gemini-3.1-flash-image-preview", "4:1"),
    ],
)
def test_size_to_aspect_ratio(size: str, model: str, ratio: str | None) -> None:
    assert aspect_ratio_for(size, model) == ratio


@pytest.mark.parametrize(
    "size", ["2048x1024", "3000x1000", "2048x512", "4:1", "big", "0x100", "1024*1024"]
)
def test_size_without_a_close_ratio_is_refused_not_squared(size: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        aspect_ratio_for(size, MODEL)
    assert info.value.param == "size"
    assert "16:9" in info.value.message  # names the accepted ratios


@pytest.mark.parametrize(
    ("body", "config"),
    [
        ({}, {}),
        ({"size": "1792x1024"}, {"aspect_ratio": "16:9"}),
        ({"quality": "low"}, {"image_size": "1K"}),
        ({"quality": "standard"}, {"image_size": "1K"}),
        ({"quality": "medium"}, {"image_size": "2K"}),
        ({"quality": "high"}, {"image_size": "4K"}),
        ({"quality": "hd"}, {"image_size": "4K"}),
        ({"quality": "auto"}, {}),
        ({"image_size": "2K"}, {"image_size": "2K"}),
        ({"aspect_ratio": "21:9"}, {"aspect_ratio": "21:9"}),
        ({"size": "1024x1024", "aspect_ratio": "1:1"}, {"aspect_ratio": "1:1"}),
        (
            {"image_config": {"image_size": "4K", "style": "any"}, "quality": "high"},
            {"image_size": "4K", "style": "any"},
        ),
    ],
)
def test_image_config(body: dict[str, Any], config: dict[str, Any]) -> None:
    assert build_image_config(body, MODEL) == config


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"size": "1024x1024", "aspect_ratio": "16:9"}, "size"),
        ({"quality": "high", "image_size": "1K"}, "quality"),
        ({"quality": "ultra"}, "quality"),
        ({"image_config": "16:9"}, "image_config"),
        ({"aspect_ratio": 16}, "aspect_ratio"),
    ],
)
def test_image_config_conflicts(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        build_image_config(body, MODEL)
    assert info.value.param == param


def test_deployment_image_config_is_a_default() -> None:
    assert build_image_config({"size": "1536x1024"}, MODEL, {"aspect_ratio": "1:1", "x": 1}) == {
        "aspect_ratio": "3:2",
        "x": 1,
    }


def test_images_request_is_a_chat_request_fanned_out() -> None:
    dep = deployment(api_key="sk-or-1", x_title="My App", http_referer="https://app.example")
    request = ImageRequest.from_body(
        {
            "model": "or",
            "prompt": "a sunset",
            "n": 3,
            "size": "1536x1024",
            "quality": "high",
            "response_format": "b64_json",
            "seed": 7,
            "user": "u1",
            "provider": {"order": ["google-vertex"]},
        }
    )
    requests = IMAGES.build(request, dep)
    assert len(requests) == 3
    for r in requests:
        assert r.url == "https://openrouter.ai/api/v1/chat/completions"
        assert r.headers["X-Title"] == "My App"
        assert r.headers["HTTP-Referer"] == "https://app.example"
        assert orjson.loads(r.body or b"") == {
            "model": MODEL,
            "messages": [{"role": "user", "content": "a sunset"}],
            "modalities": ["image", "text"],
            "image_config": {"aspect_ratio": "3:2", "image_size": "4K"},
            "seed": 7,
            "user": "u1",
            "provider": {"order": ["google-vertex"]},
        }


def test_image_only_model_modalities_from_deployment() -> None:
    dep = deployment("openrouter/black-forest-labs/flux.2-pro", modalities=["image"])
    (body,) = image_payloads({}, dep)
    assert body["modalities"] == ["image"] and "image_config" not in body
    assert body["model"] == "black-forest-labs/flux.2-pro"


@pytest.mark.parametrize(
    "param",
    ["style", "background", "output_format", "output_compression", "moderation", "messages"],
)
def test_openai_only_image_params_refused(param: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        image_payloads({param: "x"})
    assert info.value.param == param


def test_modalities_without_image_refused() -> None:
    with pytest.raises(InvalidRequestError):
        image_payloads({"modalities": ["text"]})


@pytest.mark.parametrize(
    ("params", "url"),
    [
        ({}, "https://openrouter.ai/api/v1/chat/completions"),
        ({"api_base": "http://h/api/v1/"}, "http://h/api/v1/chat/completions"),
        ({"api_base": "http://h/api/v1/chat/completions"}, "http://h/api/v1/chat/completions"),
    ],
)
def test_chat_url(params: dict[str, Any], url: str) -> None:
    assert chat_url(deployment(**params)) == url


@pytest.mark.parametrize(
    ("params", "path"),
    [
        ({"extra_headers": "X-Title: a"}, "extra_headers"),
        ({"extra_headers": {"X-Title": 3}}, "extra_headers"),
        ({"x_title": ["a"]}, "x_title"),
        ({"modalities": ["picture"]}, "modalities"),
        ({"image_config": "16:9"}, "image_config"),
    ],
)
def test_config_checked_at_load(params: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError, match=rf"model_list\[0\]\.litellm_params\.{path}"):
        deployment(**params)


def test_extra_headers_litellm_style() -> None:
    dep = deployment(extra_headers={"HTTP-Referer": "https://a.example", "X-Title": "A"})
    (r,) = IMAGES.build(ImageRequest.from_body({"model": "or", "prompt": "p"}), dep)
    assert r.headers["HTTP-Referer"] == "https://a.example" and r.headers["X-Title"] == "A"
    (r,) = IMAGES.build(ImageRequest.from_body({"model": "or", "prompt": "p"}), deployment())
    assert "HTTP-Referer" not in r.headers and "X-Title" not in r.headers


def chat_answer(images: list[str], content: str = "Here you go", finish: str = "stop") -> Any:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if images:
        message["images"] = [
            {"type": "image_url", "image_url": {"url": u}, "index": i} for i, u in enumerate(images)
        ]
    return {
        "id": "gen-1",
        "object": "chat.completion",
        "created": 1748372400,
        "model": MODEL,
        "choices": [{"index": 0, "finish_reason": finish, "message": message}],
        "usage": {
            "prompt_tokens": 6,
            "completion_tokens": 1299,
            "total_tokens": 1305,
            "completion_tokens_details": {"image_tokens": 1290},
            "cost": 0.0387243,
        },
    }


def response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Any:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return UpstreamResponse(status, headers or {}, raw)


def test_images_parse_data_url_and_http_url() -> None:
    request = ImageRequest.from_body({"model": "or", "prompt": "p"})
    result = IMAGES.parse(
        response(chat_answer([DATA_URL, "https://cdn.example/i.png"])), request, deployment()
    )
    # the data URL is the delivery stage's to check and turn into b64_json (proxy.images)
    assert result.data == [{"url": DATA_URL}, {"url": "https://cdn.example/i.png"}]
    assert result.created == 1748372400
    assert result.usage is not None
    assert result.usage.raw == {
        "input_tokens": 6,
        "output_tokens": 1299,
        "total_tokens": 1305,
        "output_tokens_details": {"image_tokens": 1290, "text_tokens": 9},
        "cost": 0.0387243,
    }


@pytest.mark.parametrize(
    ("answer", "error_type", "text"),
    [
        (chat_answer([], "I can only describe images."), UpstreamError, "without an image"),
        (chat_answer([], "", "content_filter"), ContentPolicyError, "content filter"),
        (
            {"error": {"code": 502, "message": "Provider returned error"}},
            UpstreamError,
            "Provider returned error",
        ),
        ({"id": "x"}, UpstreamError, "without choices"),
    ],
)
def test_images_never_200_without_an_image(answer: Any, error_type: type, text: str) -> None:
    request = ImageRequest.from_body({"model": "or", "prompt": "p"})
    with pytest.raises(error_type) as info:
        IMAGES.parse(response(answer), request, deployment())
    assert text in info.value.args[0]


@pytest.mark.parametrize("url", ["ftp://x", "blob:https://x/1", "/local/path.png"])
def test_bad_image_urls(url: str) -> None:
    with pytest.raises(UpstreamError):
        image_item(url)


def test_chat_parse_adds_message_image() -> None:
    request = ChatRequest.from_body({"model": "or", "messages": [{"role": "user", "content": "x"}]})
    result = CHAT.parse(response(chat_answer([DATA_URL, DATA_URL])), request, deployment())
    message = result.body["choices"][0]["message"]
    assert message["image"] == {"url": DATA_URL, "detail": "auto"}
    assert len(message["images"]) == 2
    assert result.body["model"] == "or"
    assert result.usage is not None and result.usage.raw["cost"] == 0.0387243


def test_chat_payload_uses_deployment_defaults() -> None:
    dep = deployment(modalities=["image", "text"], image_config={"aspect_ratio": "16:9"})
    request = ChatRequest.from_body({"model": "or", "messages": [{"role": "user", "content": "x"}]})
    body = orjson.loads(CHAT.build(request, dep).body or b"")
    assert body["modalities"] == ["image", "text"]
    assert body["image_config"] == {"aspect_ratio": "16:9"}
    request = ChatRequest.from_body(
        {"model": "or", "messages": [{"role": "user", "content": "x"}], "modalities": ["text"]}
    )
    assert orjson.loads(CHAT.build(request, dep).body or b"")["modalities"] == ["text"]


@pytest.mark.parametrize(
    ("model", "modalities"),
    [
        ("openrouter/google/gemini-2.5-flash-image", ["image", "text"]),
        ("openrouter/google/gemini-3-pro-image-preview", ["image", "text"]),
        ("openrouter/openai/gpt-5-image-mini", ["image", "text"]),
        ("openrouter/google/gemini-2.5-flash", None),
        ("openrouter/anthropic/claude-sonnet-4.5", None),
        ("openrouter/black-forest-labs/flux.2-pro", None),  # image-only: configure ["image"]
    ],
)
def test_chat_asks_image_models_for_images(model: str, modalities: list[str] | None) -> None:
    """OpenRouter answers with images only when ``modalities`` asks for them; a chat request
    to an image model that names none gets ``["image", "text"]``, a text model nothing."""
    request = ChatRequest.from_body({"model": "or", "messages": [{"role": "user", "content": "x"}]})
    body = orjson.loads(CHAT.build(request, deployment(model)).body or b"")
    assert body.get("modalities") == modalities


async def collect(raw: bytes, split: int = 7) -> list[dict[str, Any]]:
    request = ChatRequest.from_body(
        {"model": "or", "messages": [{"role": "user", "content": "x"}], "stream": True}
    )
    return translate(CHAT.stream_translator(request, deployment()), raw, split)


def sse_chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    chunk = {
        "id": "gen-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": MODEL,
        "choices": [choice],
        **extra,
    }
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


async def test_stream_skips_comments_and_adds_delta_image() -> None:
    image = {"type": "image_url", "image_url": {"url": DATA_URL}}
    raw = (
        b": OPENROUTER PROCESSING\n\n"
        + sse_chunk({"role": "assistant", "content": "Here"})
        + b": OPENROUTER PROCESSING\r\n\r\n"
        + sse_chunk({"images": [image]})
        + sse_chunk({}, "stop")
        + b"data: [DONE]\n\n"
    )
    chunks = await collect(raw)
    assert len(chunks) == 3
    assert all(c["model"] == "or" for c in chunks)
    delta = chunks[1]["choices"][0]["delta"]
    assert delta["images"] == [image]
    assert delta["image"] == {"url": DATA_URL, "detail": "auto"}
    assert "image" not in chunks[0]["choices"][0]["delta"]


def test_sse_decoder_drops_comment_lines() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b": OPENROUTER PROCESSING\n\n: x\ndata: {}\n\n") + decoder.flush()
    assert [e.data for e in events] == [b"{}"]


@pytest.mark.parametrize(
    ("error", "error_type"),
    [
        (
            {"code": 502, "message": "Provider disconnected", "metadata": {"error_type": "server"}},
            UpstreamError,
        ),
        (
            {
                "code": 400,
                "message": "flagged",
                "metadata": {"error_type": "content_policy_violation"},
            },
            ContentPolicyError,
        ),
        (
            {
                "code": 429,
                "message": "slow down",
                "metadata": {"error_type": "rate_limit_exceeded"},
            },
            UpstreamRateLimitError,
        ),
        ({"code": "server_error", "message": "boom"}, UpstreamError),
    ],
)
async def test_mid_stream_error_chunk_raises_mapped_error(
    error: Any, error_type: type[ProxyError]
) -> None:
    raw = (
        sse_chunk({"content": "partial"})
        + sse_chunk({"content": ""}, "error", error=error)
        + b"data: [DONE]\n\n"
    )
    with pytest.raises(error_type) as info:
        await collect(raw)
    assert error["message"] in info.value.message


@pytest.mark.parametrize(
    ("status", "body", "error_type", "code"),
    [
        (400, {"error": {"code": 400, "message": "bad model"}}, UpstreamBadRequestError, None),
        (
            401,
            {"error": {"code": 401, "message": "No auth credentials found"}},
            ProviderAuthError,
            "provider_authentication_failed",
        ),
        (
            402,
            {"error": {"code": 402, "message": "Insufficient credits"}},
            UpstreamQuotaError,
            "insufficient_quota",
        ),
        (
            403,
            {
                "error": {
                    "code": 403,
                    "message": "Input was flagged",
                    "metadata": {
                        "reasons": ["violence"],
                        "flagged_input": "...",
                        "provider_name": "OpenAI",
                        "model_slug": "openai/gpt-image-1",
                    },
                }
            },
            ContentPolicyError,
            "content_policy_violation",
        ),
        (
            403,
            {"error": {"code": 403, "message": "Key guardrail blocks this model"}},
            ProviderAuthError,
            "provider_authentication_failed",
        ),
        (408, {"error": {"code": 408, "message": "timeout"}}, UpstreamTimeoutError, None),
        (429, {"error": {"code": 429, "message": "Rate limited"}}, UpstreamRateLimitError, None),
        (502, {"error": {"code": 502, "message": "model down"}}, UpstreamError, None),
        (503, {"error": {"code": 503, "message": "no provider"}}, UpstreamUnavailableError, None),
        (524, {"error": {"code": 524, "message": "edge timeout"}}, UpstreamTimeoutError, None),
        (529, {"error": {"code": 529, "message": "overloaded"}}, UpstreamUnavailableError, None),
        (
            400,
            {
                "error": {
                    "code": 400,
                    "message": "blocked",
                    "metadata": {"error_type": "content_policy_violation"},
                }
            },
            ContentPolicyError,
            None,
        ),
    ],
)
def test_http_errors(status: int, body: Any, error_type: type, code: str | None) -> None:
    for adapter in (IMAGES, CHAT):
        err = adapter.map_error(response(body, status, {"retry-after": "2"}), deployment())
        assert type(err) is error_type
        assert body["error"]["message"] in err.message
        if code:
            assert err.code == code
        if status == 403 and error_type is ContentPolicyError:
            assert "violence" in err.message and err.status == 400
        if status == 402:
            assert err.status == 429 and err.cooldown and not err.retryable
