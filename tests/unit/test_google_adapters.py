"""Google adapters as pure translation: sizes, URLs, errors, stream translation, config."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from proxy.config import ConfigError, Deployment
from proxy.configure import parse_config
from proxy.errors import (
    ContentPolicyError,
    ProviderAuthError,
    ProxyError,
    UpstreamBadRequestError,
    UpstreamError,
    UpstreamNotFoundError,
    UpstreamRateLimitError,
    UpstreamTimeoutError,
)
from proxy.providers.google.errors import map_google_error
from proxy.providers.google.gemini_chat import GeminiChat
from proxy.providers.google.images import GoogleImages
from proxy.providers.google.settings import endpoint
from proxy.providers.google.sizes import (
    GEMINI_RATIOS,
    IMAGEN_RATIOS,
    aspect_ratio,
    gemini_ratios,
    gemini_tier,
    resolution_tier,
)
from proxy.schemas import ChatRequest, ImageRequest
from proxy.upstream_request import UpstreamResponse
from tests.fakes.google import (
    gemini_prompt_blocked,
    google_error,
    image_b64,
    sse_body,
    stream_events,
)
from tests.fakes.streams import translate


def deployment(model: str, **params: Any) -> Deployment:
    config = parse_config(
        {"model_list": [{"model_name": "m", "litellm_params": {"model": model, **params}}]}, env={}
    )
    return config.deployments[0]


# --- sizes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "imagen", "gemini"),
    [
        ("1024x1024", "1:1", "1:1"),
        ("1792x1024", "16:9", "16:9"),
        ("1024x1792", "9:16", "9:16"),
        ("1536x1024", "4:3", "3:2"),
        ("1024x1536", "3:4", "2:3"),
        ("1280x896", "4:3", "3:2"),
        ("2560x1080", "16:9", "21:9"),
        ("4096x512", "16:9", "8:1"),
    ],
)
def test_size_maps_to_nearest_supported_ratio(size: str, imagen: str, gemini: str) -> None:
    assert aspect_ratio(size, IMAGEN_RATIOS) == imagen
    assert aspect_ratio(size, GEMINI_RATIOS) == gemini


def test_no_non_square_size_becomes_square() -> None:
    for w in range(256, 4097, 64):
        for h in range(256, 4097, 64):
            if max(w, h) / min(w, h) >= 1.2:
                assert aspect_ratio(f"{w}x{h}", IMAGEN_RATIOS) != "1:1", (w, h)
                assert aspect_ratio(f"{w}x{h}", GEMINI_RATIOS) != "1:1", (w, h)


@pytest.mark.parametrize(
    ("size", "tier"),
    [
        ("1024x1024", None),  # 1K square: the default, not sent
        ("1040x1040", "2K"),
        ("2048x2048", "2K"),
        ("2064x2064", "4K"),
        ("4096x4096", "4K"),
        ("8192x8192", "4K"),  # past 4K: the largest there is
        ("1376x768", None),  # 16:9 at 1K
        ("1392x784", "2K"),
        ("1920x1080", "2K"),
        ("2048x1152", "2K"),  # a 2K request, though its geometric mean is 1536
        ("2752x1536", "2K"),
        ("2768x1552", "4K"),
        ("3840x2160", "4K"),
        ("1536x1024", "2K"),  # 3:2 at 1K is 1264x848
        ("1264x848", None),
        ("1024x1792", "2K"),
        ("3072x384", None),  # 8:1 at 1K
        ("4096x512", "2K"),
        ("auto", None),
        (None, None),
    ],
)
def test_gemini_3_tier_is_the_smallest_covering_the_long_side(
    size: str | None, tier: str | None
) -> None:
    ratio = aspect_ratio(size, GEMINI_RATIOS)
    assert gemini_tier(size, ratio) == tier


def test_gemini_25_has_no_extreme_ratios_and_tiers() -> None:
    assert aspect_ratio("4096x512", gemini_ratios("gemini-2.5-flash-image")) == "21:9"
    assert resolution_tier("1792x1024") is None
    assert resolution_tier("2048x2048") == "2K"
    assert resolution_tier("4096x4096") == "4K"
    assert aspect_ratio("auto", IMAGEN_RATIOS) is None
    with pytest.raises(ProxyError) as info:
        aspect_ratio("1024by1024", IMAGEN_RATIOS)
    assert info.value.status == 400 and info.value.param == "size"


# --- URLs ------------------------------------------------------------------------------


def test_endpoints_and_api_base() -> None:
    assert endpoint(
        deployment("gemini/gemini-2.5-flash-image", api_key="k"), "generateContent"
    ) == (
        "https://generativelanguage.googleapis.com/v1beta/"
        "models/gemini-2.5-flash-image:generateContent"
    )
    assert endpoint(
        deployment("gemini/imagen-4.0-generate-001", api_key="k", api_base="http://h/x/v1beta/"),
        "predict",
    ) == ("http://h/x/v1beta/models/imagen-4.0-generate-001:predict")
    vertex = {"vertex_project": "p1", "vertex_location": "europe-west4"}
    assert endpoint(deployment("vertex_ai/imagen-3.0-generate-002", **vertex), "predict") == (
        "https://europe-west4-aiplatform.googleapis.com/v1/projects/p1/locations/europe-west4/"
        "publishers/google/models/imagen-3.0-generate-002:predict"
    )
    assert endpoint(
        deployment("vertex_ai/gemini-3-pro-image", vertex_project="p1", vertex_location="global"),
        "generateContent",
    ) == (
        "https://aiplatform.googleapis.com/v1/projects/p1/locations/global/"
        "publishers/google/models/gemini-3-pro-image:generateContent"
    )
    assert endpoint(
        deployment("vertex_ai/gemini-3-pro-image", vertex_ai_project="p1", vertex_ai_location="us"),
        "generateContent",
    ).startswith("https://aiplatform.us.rep.googleapis.com/v1/projects/p1/locations/us/")
    express = endpoint(
        deployment("vertex_ai/gemini-2.5-flash-image", api_key="k"), "generateContent"
    )
    assert express == (
        "https://aiplatform.googleapis.com/v1beta1/publishers/google/models/"
        "gemini-2.5-flash-image:generateContent"
    )


def test_chat_stream_request_asks_for_sse() -> None:
    dep = deployment("gemini/gemini-2.5-flash-image", api_key="k")
    request = ChatRequest.from_body(
        {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    )
    up = GeminiChat("gemini").build(request, dep)
    assert up.url.endswith(":streamGenerateContent") and up.params == {"alt": "sse"}


def test_imagen_explicit_native_params_win_and_fanout() -> None:
    dep = deployment("vertex_ai/imagen-4.0-generate-001", vertex_project="p")
    request = ImageRequest.from_body(
        {
            "model": "m",
            "prompt": "p",
            "n": 9,
            "size": "1792x1024",
            "aspectRatio": "4:3",
            "labels": {"team": "a"},
        }
    )
    built = GoogleImages("vertex_ai").build(request, dep)
    bodies = [orjson.loads(r.body or b"") for r in built]
    assert [b["parameters"]["sampleCount"] for b in bodies] == [4, 4, 1]
    assert {b["parameters"]["aspectRatio"] for b in bodies} == {"4:3"}
    assert all(b["labels"] == {"team": "a"} and "labels" not in b["parameters"] for b in bodies)


def test_gemini_vertex_only_output_options() -> None:
    request = ImageRequest.from_body(
        {"model": "m", "prompt": "p", "output_format": "jpeg", "output_compression": 70}
    )
    vertex = deployment("vertex_ai/gemini-2.5-flash-image", vertex_project="p")
    (built,) = GoogleImages("vertex_ai").build(request, vertex)
    config = orjson.loads(built.body or b"")["generationConfig"]["imageConfig"]
    assert config == {"imageOutputOptions": {"mimeType": "image/jpeg", "compressionQuality": 70}}
    with pytest.raises(ProxyError) as info:
        GoogleImages("gemini").build(
            request, deployment("gemini/gemini-2.5-flash-image", api_key="k")
        )
    assert info.value.status == 400


def test_gemini_25_refuses_sizes_beyond_1k() -> None:
    request = ImageRequest.from_body({"model": "m", "prompt": "p", "size": "2048x2048"})
    with pytest.raises(ProxyError) as info:
        GoogleImages("gemini").build(
            request, deployment("gemini/gemini-2.5-flash-image", api_key="k")
        )
    assert info.value.param == "size"


@pytest.mark.parametrize(
    ("model", "image_config"),
    [
        ("gemini/gemini-3.1-flash-image", {"aspectRatio": "16:9", "imageSize": "2K"}),
        ("gemini/gemini-3-pro-image", {"aspectRatio": "16:9", "imageSize": "2K"}),
        ("gemini/gemini-3.1-flash-lite-image", {"aspectRatio": "16:9"}),  # 1K only
    ],
)
def test_gemini_3_models_get_the_tier_of_the_size(model: str, image_config: Any) -> None:
    request = ImageRequest.from_body({"model": "m", "prompt": "p", "size": "2048x1152"})
    (built,) = GoogleImages("gemini").build(request, deployment(model, api_key="k"))
    assert orjson.loads(built.body or b"")["generationConfig"]["imageConfig"] == image_config


def test_vertex_person_generation_and_output_options_pass_with_the_tier() -> None:
    request = ImageRequest.from_body(
        {
            "model": "m",
            "prompt": "p",
            "size": "3840x2160",
            "output_format": "jpeg",
            "output_compression": 80,
            "personGeneration": "ALLOW_ADULT",
        }
    )
    dep = deployment("vertex_ai/gemini-3-pro-image", vertex_project="p")
    (built,) = GoogleImages("vertex_ai").build(request, dep)
    assert orjson.loads(built.body or b"")["generationConfig"]["imageConfig"] == {
        "aspectRatio": "16:9",
        "imageSize": "4K",
        "imageOutputOptions": {"mimeType": "image/jpeg", "compressionQuality": 80},
        "personGeneration": "ALLOW_ADULT",
    }


def test_chat_messages_translate() -> None:
    dep = deployment("gemini/gemini-2.5-flash-image", api_key="k")
    request = ChatRequest.from_body(
        {
            "model": "m",
            "messages": [
                {"role": "developer", "content": [{"type": "text", "text": "be brief"}]},
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "https://ex.com/a.webp?x=1"}}
                    ],
                },
                {
                    "role": "assistant",
                    "content": "done",
                    "images": [
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,QUJD"}}
                    ],
                },
                {"role": "user", "content": "again"},
            ],
            "stop": "END",
            "response_format": {"type": "json_object"},
            "seed": 3,
        }
    )
    body = orjson.loads(GeminiChat("gemini").build(request, dep).body or b"")
    assert body["systemInstruction"] == {"parts": [{"text": "be brief"}]}
    assert body["contents"] == [
        {
            "role": "user",
            "parts": [
                {"fileData": {"mimeType": "image/webp", "fileUri": "https://ex.com/a.webp?x=1"}}
            ],
        },
        {
            "role": "model",
            "parts": [{"text": "done"}, {"inlineData": {"mimeType": "image/png", "data": "QUJD"}}],
        },
        {"role": "user", "parts": [{"text": "again"}]},
    ]
    assert body["generationConfig"] == {
        "seed": 3,
        "stopSequences": ["END"],
        "responseModalities": ["TEXT", "IMAGE"],
        "responseMimeType": "application/json",
    }


@pytest.mark.parametrize(
    "bad",
    [
        {"role": "tool", "content": "x", "tool_call_id": "1"},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "file:///etc/x"}}]},
        {
            "role": "user",
            "content": [{"type": "image_url", "image_url": {"url": "data:image/png,raw"}}],
        },
    ],
)
def test_chat_bad_messages_are_400(bad: dict[str, Any]) -> None:
    dep = deployment("gemini/gemini-2.5-flash-image", api_key="k")
    request = ChatRequest.from_body({"model": "m", "messages": [bad]})
    with pytest.raises(ProxyError) as info:
        GeminiChat("gemini").build(request, dep)
    assert info.value.status == 400


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("http", "status", "cls", "client_status"),
    [
        (400, "INVALID_ARGUMENT", UpstreamBadRequestError, 400),
        (400, "FAILED_PRECONDITION", UpstreamBadRequestError, 400),
        (401, "UNAUTHENTICATED", ProviderAuthError, 502),
        (403, "PERMISSION_DENIED", ProviderAuthError, 502),
        (404, "NOT_FOUND", UpstreamNotFoundError, 502),
        (429, "RESOURCE_EXHAUSTED", UpstreamRateLimitError, 429),
        (500, "INTERNAL", UpstreamError, 502),
        (503, "UNAVAILABLE", UpstreamError, 502),
        (504, "DEADLINE_EXCEEDED", UpstreamTimeoutError, 504),
        (499, "CANCELLED", UpstreamError, 502),
    ],
)
def test_google_statuses(http: int, status: str, cls: type[ProxyError], client_status: int) -> None:
    body = orjson.dumps(google_error(http, status, "msg"))
    err = map_google_error(UpstreamResponse(http, {}, body), "gemini")
    assert type(err) is cls and err.status == client_status
    assert "msg" in err.message


def test_rate_limit_retry_info_and_non_json_bodies() -> None:
    body = orjson.dumps(
        google_error(
            429,
            "RESOURCE_EXHAUSTED",
            "quota",
            [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "26s"}],
        )
    )
    err = map_google_error(UpstreamResponse(429, {}, body), "gemini")
    assert err.retry_after == 26 and err.headers == {"retry-after": "26"}
    err = map_google_error(UpstreamResponse(502, {}, b"<html>Bad Gateway</html>"), "vertex_ai")
    assert isinstance(err, UpstreamError) and "Bad Gateway" in err.message
    refused = orjson.dumps(
        google_error(
            400,
            "INVALID_ARGUMENT",
            "Image generation failed with the following error: The prompt could not be submitted.",
        )
    )
    assert isinstance(
        map_google_error(UpstreamResponse(400, {}, refused), "vertex_ai"), ContentPolicyError
    )
    secret = orjson.dumps(
        google_error(400, "INVALID_ARGUMENT", "bad key AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI")
    )
    assert (
        "AIzaSyDdI0hCZtE6vySjMm"
        not in map_google_error(UpstreamResponse(400, {}, secret), "gemini").message
    )


# --- stream translation -------------------------------------------------------------------


def chat_request() -> ChatRequest:
    return ChatRequest.from_body(
        {"model": "pub", "stream": True, "messages": [{"role": "user", "content": "x"}]}
    )


async def collect(payload: bytes) -> list[dict[str, Any]]:
    dep = deployment("gemini/gemini-2.5-flash-image", api_key="k")
    return translate(GeminiChat("gemini").stream_translator(chat_request(), dep), payload)


async def test_stream_translation_text_image_finish_usage() -> None:
    image = image_b64("s", 200_000)
    chunks = await collect(sse_body(stream_events(image)))
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0] == {"role": "assistant", "content": "Here is "}
    assert deltas[2]["image"] == {"url": f"data:image/png;base64,{image}", "detail": "auto"}
    assert deltas[2]["images"][0]["image_url"]["url"].endswith(image)
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens_details"]["image_tokens"] == 1290
    assert all(c["model"] == "pub" for c in chunks)


async def test_stream_block_first_raises_and_truncated_stream_errors() -> None:
    with pytest.raises(ContentPolicyError):
        await collect(sse_body([gemini_prompt_blocked()]))
    with pytest.raises(UpstreamError) as info:
        await collect(sse_body(stream_events(image_b64("s"))[:2]))
    assert "before the answer finished" in info.value.message
    # Vertex's mid-stream error: a raw JSON object after the data lines
    tail = json.dumps(google_error(499, "CANCELLED", "cancelled"), indent=2).encode()
    with pytest.raises(UpstreamError):
        await collect(sse_body(stream_events(image_b64("s"))[:2]) + tail)


# --- config ------------------------------------------------------------------------------


def test_config_validation_names_the_field(tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match=r"model_list\[0\]\.litellm_params\.vertex_project"):
        deployment("vertex_ai/imagen-4.0-generate-001")
    with pytest.raises(ConfigError, match=r"vertex_credentials: cannot read"):
        deployment(
            "vertex_ai/imagen-4.0-generate-001",
            vertex_project="p",
            vertex_credentials=str(tmp_path / "missing.json"),
        )
    with pytest.raises(ConfigError, match="vertex_ai_credentials: not valid JSON"):
        deployment(
            "vertex_ai/imagen-4.0-generate-001", vertex_project="p", vertex_ai_credentials="{nope"
        )
    with pytest.raises(ConfigError, match="unsupported credentials type"):
        deployment("vertex_ai/imagen-4.0-generate-001", vertex_credentials='{"type": "x"}')
    with pytest.raises(ConfigError, match="api_key: required for gemini"):
        deployment("gemini/gemini-2.5-flash-image")
    inline = json.dumps(
        {
            "type": "service_account",
            "project_id": "from-key",
            "client_email": "a@b",
            "private_key": "k",
            "token_uri": "t",
        }
    )
    dep = deployment("vertex_ai/imagen-4.0-generate-001", vertex_credentials=inline)
    assert "/projects/from-key/" in endpoint(dep, "predict")
