"""Google answers as google-genai writes them (snake_case keys, URL-safe base64), bare-origin
``api_base``, the Vertex project from the environment, and ``n`` on image models in chat."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from google.genai import types

from proxy.config import Deployment
from proxy.configure import parse_config
from proxy.errors import ContentPolicyError, InvalidRequestError
from proxy.providers.base import ChatResult, Usage, merge_chat_results
from proxy.providers.google.errors import map_google_error
from proxy.providers.google.gemini_chat import GeminiChat
from proxy.providers.google.images import GoogleImages
from proxy.providers.google.provider import vertex_credentials
from proxy.providers.google.response import camel_keys, standard_b64
from proxy.providers.google.settings import endpoint, is_express
from proxy.schemas import ChatRequest, ImageRequest
from proxy.upstream_request import UpstreamResponse
from tests.fakes.streams import translate

# Bytes whose base64 holds '+' and '/', so the URL-safe spelling differs from the standard one.
PIXELS = b"\x89PNG\r\n\x1a\n" + b"\xfb\xff\xfe" * 400
STANDARD = base64.b64encode(PIXELS).decode()


def deployment(model: str, env: dict[str, str] | None = None, **params: Any) -> Deployment:
    config = parse_config(
        {"model_list": [{"model_name": "m", "litellm_params": {"model": model, **params}}]},
        env=env or {},
    )
    return config.deployments[0]


def sdk_dump(response: types.GenerateContentResponse) -> dict[str, Any]:
    """What a server built on google-genai's types sends: snake_case, URL-safe base64."""
    body: dict[str, Any] = response.model_dump(mode="json", exclude_none=True)
    return body


def sdk_image_answer(
    *,
    finish: types.FinishReason | None = types.FinishReason.STOP,
    usage: bool = True,
    text: str = "Here it is.",
) -> types.GenerateContentResponse:
    parts = [
        types.Part(text=text),
        types.Part(inline_data=types.Blob(data=b"thinking", mime_type="image/png"), thought=True),
        types.Part(inline_data=types.Blob(data=PIXELS, mime_type="image/png")),
    ]
    meta = types.GenerateContentResponseUsageMetadata(
        prompt_token_count=7,
        candidates_token_count=1295,
        total_token_count=1302,
        candidates_tokens_details=[
            types.ModalityTokenCount(modality=types.MediaModality.IMAGE, token_count=1290),
            types.ModalityTokenCount(modality=types.MediaModality.TEXT, token_count=5),
        ],
    )
    return types.GenerateContentResponse(
        candidates=[
            types.Candidate(
                content=types.Content(role="model", parts=parts), finish_reason=finish, index=0
            )
        ],
        usage_metadata=meta if usage else None,
    )


def response(body: Any, status: int = 200) -> UpstreamResponse:
    return UpstreamResponse(status, {}, json.dumps(body).encode())


def test_the_sdk_really_writes_snake_case_and_url_safe_base64() -> None:
    dumped = sdk_dump(sdk_image_answer())
    inline = dumped["candidates"][0]["content"]["parts"][2]["inline_data"]
    assert set(inline) == {"data", "mime_type"}
    assert inline["data"] != STANDARD and ("-" in inline["data"] or "_" in inline["data"])


def test_camel_keys_and_standard_b64() -> None:
    assert camel_keys(
        {
            "usage_metadata": {"candidates_tokens_details": [{"token_count": 3}]},
            "@type": "x",
            "inlineData": {"mime_type": "a_b"},
        }
    ) == {
        "usageMetadata": {"candidatesTokensDetails": [{"tokenCount": 3}]},
        "@type": "x",
        "inlineData": {"mimeType": "a_b"},
    }
    urlsafe = base64.urlsafe_b64encode(PIXELS).decode()
    assert standard_b64(urlsafe) == STANDARD
    assert standard_b64(urlsafe.rstrip("=")) == STANDARD
    assert standard_b64(base64.encodebytes(PIXELS).decode()) == STANDARD
    assert standard_b64(STANDARD) is STANDARD  # the common case is not copied


def test_images_from_an_sdk_written_answer() -> None:
    request = ImageRequest.from_body({"model": "m", "prompt": "p"})
    dep = deployment("gemini/gemini-2.5-flash-image", api_key="k")
    result = GoogleImages("gemini").parse(response(sdk_dump(sdk_image_answer())), request, dep)
    assert result.data == [{"b64_json": STANDARD}]  # thought image skipped, base64 standard
    assert result.usage is not None
    assert result.usage.raw["output_tokens_details"]["image_tokens"] == 1290
    assert result.usage.raw["input_tokens"] == 7


def test_sdk_written_blocks_are_content_policy_errors() -> None:
    request = ImageRequest.from_body({"model": "m", "prompt": "p"})
    dep = deployment("gemini/gemini-2.5-flash-image", api_key="k")
    feedback = types.GenerateContentResponsePromptFeedback(
        block_reason=types.BlockedReason.PROHIBITED_CONTENT, block_reason_message="Nope."
    )
    blocked = types.GenerateContentResponse(prompt_feedback=feedback)
    with pytest.raises(ContentPolicyError) as info:
        GoogleImages("gemini").parse(response(sdk_dump(blocked)), request, dep)
    assert "PROHIBITED_CONTENT" in info.value.message and "Nope." in info.value.message
    unsafe = types.GenerateContentResponse(
        candidates=[
            types.Candidate(
                finish_reason=types.FinishReason.IMAGE_SAFETY, finish_message="Unsafe image."
            )
        ]
    )
    with pytest.raises(ContentPolicyError) as info:
        GoogleImages("gemini").parse(response(sdk_dump(unsafe)), request, dep)
    assert "IMAGE_SAFETY" in info.value.message
    chat = ChatRequest.from_body({"model": "m", "messages": [{"role": "user", "content": "x"}]})
    with pytest.raises(ContentPolicyError) as info:
        GeminiChat("gemini").parse(response(sdk_dump(blocked)), chat, dep)
    assert "PROHIBITED_CONTENT" in info.value.message


def test_chat_from_an_sdk_written_answer() -> None:
    chat = ChatRequest.from_body({"model": "pub", "messages": [{"role": "user", "content": "x"}]})
    dep = deployment("gemini/gemini-2.5-flash-image", api_key="k")
    result = GeminiChat("gemini").parse(response(sdk_dump(sdk_image_answer())), chat, dep)
    choice = result.body["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["content"] == "Here it is."
    assert choice["message"]["image"]["url"] == f"data:image/png;base64,{STANDARD}"
    assert result.usage is not None
    assert result.usage.raw["completion_tokens_details"]["image_tokens"] == 1290


def test_imagen_snake_case_and_url_safe_predictions() -> None:
    request = ImageRequest.from_body({"model": "m", "prompt": "p"})
    dep = deployment("gemini/imagen-4.0-generate-001", api_key="k")
    body = {
        "predictions": [
            {
                "bytes_base64_encoded": base64.urlsafe_b64encode(PIXELS).decode(),
                "mime_type": "image/jpeg",
            },
            {"rai_filtered_reason": "one was filtered"},
        ]
    }
    result = GoogleImages("gemini").parse(response(body), request, dep)
    assert result.data == [{"b64_json": STANDARD}]
    assert result.extra == {"output_format": "jpeg"}
    with pytest.raises(ContentPolicyError) as info:
        GoogleImages("gemini").parse(
            response({"predictions": [{"rai_filtered_reason": "all filtered"}]}), request, dep
        )
    assert "all filtered" in info.value.message


def test_snake_case_retry_delay_is_read() -> None:
    body = {
        "error": {
            "code": 429,
            "message": "quota",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retry_delay": "12s"}
            ],
        }
    }
    error = map_google_error(response(body, 429), "gemini")
    assert error.status == 429 and error.headers.get("retry-after") == "12"


async def test_stream_of_sdk_written_events_usage_last_finish_apart() -> None:
    first = types.GenerateContentResponse(
        candidates=[
            types.Candidate(content=types.Content(role="model", parts=[types.Part(text="Drawing")]))
        ]
    )
    image = types.GenerateContentResponse(
        candidates=[
            types.Candidate(
                content=types.Content(
                    role="model",
                    parts=[
                        types.Part(inline_data=types.Blob(data=PIXELS * 200, mime_type="image/png"))
                    ],
                )
            )
        ]
    )
    final = sdk_image_answer(usage=True)
    assert final.candidates is not None
    final.candidates[0].content = None
    events = [sdk_dump(first), sdk_dump(image), sdk_dump(final)]
    payload = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
    chat = ChatRequest.from_body(
        {"model": "pub", "stream": True, "messages": [{"role": "user", "content": "x"}]}
    )
    dep = deployment("vertex_ai/gemini-2.5-flash-image", vertex_project="p")
    chunks = translate(GeminiChat("vertex_ai").stream_translator(chat, dep), payload, 7001)
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0] == {"role": "assistant", "content": "Drawing"}
    assert (
        deltas[1]["image"]["url"]
        == "data:image/png;base64," + base64.b64encode(PIXELS * 200).decode()
    )
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"
    assert chunks[-1]["usage"]["completion_tokens_details"]["image_tokens"] == 1290


# --- where requests go ------------------------------------------------------------------


def test_bare_origin_api_base_gets_the_api_version() -> None:
    gemini = deployment("gemini/gemini-2.5-flash-image", api_key="k", api_base="http://h:8080")
    assert endpoint(gemini, "generateContent") == (
        "http://h:8080/v1beta/models/gemini-2.5-flash-image:generateContent"
    )
    vertex = deployment(
        "vertex_ai/imagen-4.0-generate-001",
        vertex_project="p",
        vertex_location="global",
        api_base="http://h:8080/",
    )
    assert endpoint(vertex, "predict") == (
        "http://h:8080/v1/projects/p/locations/global/publishers/google/models/"
        "imagen-4.0-generate-001:predict"
    )
    custom = deployment("gemini/gemini-2.5-flash-image", api_key="k", api_base="http://h/gw")
    assert endpoint(custom, "generateContent") == (
        "http://h/gw/models/gemini-2.5-flash-image:generateContent"
    )


def test_vertex_project_from_the_environment(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (
        "VERTEXAI_PROJECT",
        "GOOGLE_CLOUD_PROJECT",
        "VERTEXAI_LOCATION",
        "GOOGLE_CLOUD_LOCATION",
    ):
        monkeypatch.delenv(name, raising=False)
    key = tmp_path / "adc.json"
    key.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "adc-proj",
                "client_email": "a@adc-proj.iam.gserviceaccount.com",
                "private_key": "k",
                "token_uri": "http://t",
            }
        )
    )
    env = {"GOOGLE_APPLICATION_CREDENTIALS": str(key)}
    dep = deployment("vertex_ai/gemini-2.5-flash-image", env, vertex_location="global")
    assert "/projects/adc-proj/locations/global/" in endpoint(dep, "generateContent")
    env |= {"GOOGLE_CLOUD_PROJECT": "env-proj", "VERTEXAI_LOCATION": "europe-west1"}
    dep = deployment("vertex_ai/gemini-2.5-flash-image", env)
    assert endpoint(dep, "generateContent").startswith(
        "https://europe-west1-aiplatform.googleapis.com/v1/projects/env-proj/"
    )
    # an express-mode key stays a key even when the environment names a project
    express = deployment("vertex_ai/gemini-2.5-flash-image", env, api_key="AIza-express")
    assert is_express(express)
    assert "/publishers/google/models/" in endpoint(express, "generateContent")
    assert type(vertex_credentials(express)).__name__ == "HeaderKey"


# --- n on image models in chat ------------------------------------------------------------


def test_chat_n_fans_out_for_image_models_and_uses_candidate_count_for_text() -> None:
    adapter = GeminiChat("gemini")
    body = {"model": "m", "n": 3, "messages": [{"role": "user", "content": "x"}]}
    image = adapter.build_all(
        ChatRequest.from_body(body), deployment("gemini/gemini-2.5-flash-image", api_key="k")
    )
    assert len(image) == 3 and len({id(r) for r in image}) == 3
    assert all("candidateCount" not in json.loads(r.body or b"")["generationConfig"] for r in image)
    text = adapter.build_all(
        ChatRequest.from_body(body), deployment("gemini/gemini-2.5-flash", api_key="k")
    )
    assert len(text) == 1
    assert json.loads(text[0].body or b"")["generationConfig"]["candidateCount"] == 3
    with pytest.raises(InvalidRequestError) as info:
        adapter.build(
            ChatRequest.from_body({**body, "stream": True}),
            deployment("gemini/gemini-2.5-flash-image", api_key="k"),
        )
    assert info.value.param == "n"
    with pytest.raises(InvalidRequestError):
        adapter.build_all(
            ChatRequest.from_body({**body, "n": "two"}),
            deployment("gemini/gemini-2.5-flash-image", api_key="k"),
        )


def test_merge_chat_results_renumbers_and_sums() -> None:
    def one(text: str) -> ChatResult:
        usage = {
            "prompt_tokens": 3,
            "completion_tokens": 10,
            "total_tokens": 13,
            "completion_tokens_details": {"image_tokens": 8},
        }
        return ChatResult(
            body={
                "id": "a",
                "object": "chat.completion",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage,
            },
            usage=Usage.of(usage),
        )

    merged = merge_chat_results([one("a"), one("b")])
    assert [(c["index"], c["message"]["content"]) for c in merged.body["choices"]] == [
        (0, "a"),
        (1, "b"),
    ]
    assert merged.usage is not None
    assert merged.usage.raw["completion_tokens_details"]["image_tokens"] == 16
    assert merged.body["usage"] == merged.usage.raw
    assert merged.usage.output_tokens == 20 and merged.usage.image_tokens == 16


def test_output_without_modality_details_counts_as_image_tokens_only_for_image_answers() -> None:
    meta = {"promptTokenCount": 7, "candidatesTokenCount": 1290, "totalTokenCount": 1297}
    image_part = {"inlineData": {"mimeType": "image/png", "data": STANDARD}}
    request = ImageRequest.from_body({"model": "m", "prompt": "p"})
    dep = deployment("gemini/gemini-2.5-flash-image", api_key="k")

    def answer(*parts: dict[str, Any]) -> dict[str, Any]:
        return {
            "candidates": [
                {"content": {"role": "model", "parts": list(parts)}, "finishReason": "STOP"}
            ],
            "usageMetadata": meta,
        }

    only_image = GoogleImages("gemini").parse(response(answer(image_part)), request, dep)
    assert only_image.usage is not None
    assert only_image.usage.raw["output_tokens_details"]["image_tokens"] == 1290
    mixed = GoogleImages("gemini").parse(response(answer({"text": "hi"}, image_part)), request, dep)
    assert mixed.usage is not None
    assert mixed.usage.raw["output_tokens_details"]["image_tokens"] == 0  # unknown split
    assert mixed.usage.raw["output_tokens"] == 1290
    chat = ChatRequest.from_body({"model": "m", "messages": [{"role": "user", "content": "x"}]})
    result = GeminiChat("gemini").parse(response(answer(image_part)), chat, dep)
    assert result.usage is not None
    assert result.usage.raw["completion_tokens_details"]["image_tokens"] == 1290


def test_imagen_models_refuse_chat_by_name() -> None:
    chat = ChatRequest.from_body({"model": "m", "messages": [{"role": "user", "content": "x"}]})
    with pytest.raises(InvalidRequestError) as info:
        GeminiChat("vertex_ai").build(
            chat, deployment("vertex_ai/imagen-4.0-generate-001", vertex_project="p")
        )
    assert info.value.param == "model" and "Imagen" in info.value.message


def test_an_invalid_key_without_error_info_is_still_the_proxys_problem() -> None:
    from proxy.errors import ProviderAuthError

    body = {
        "error": {
            "code": 400,
            "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT",
        }
    }
    error = map_google_error(response(body, 400), "gemini")
    assert isinstance(error, ProviderAuthError) and error.status == 502


async def test_an_error_event_keeps_googles_status() -> None:
    from proxy.errors import UpstreamRateLimitError

    error = {
        "error": {"code": 429, "message": "Resource exhausted.", "status": "RESOURCE_EXHAUSTED"}
    }
    payload = b"data: " + json.dumps(error).encode() + b"\r\n\r\n"
    chat = ChatRequest.from_body(
        {"model": "pub", "stream": True, "messages": [{"role": "user", "content": "x"}]}
    )
    dep = deployment("gemini/gemini-2.5-flash-image", api_key="k")
    with pytest.raises(UpstreamRateLimitError) as info:
        translate(GeminiChat("gemini").stream_translator(chat, dep), payload, 10)
    assert "Resource exhausted." in info.value.message


async def test_out_of_tokens_before_any_output_is_length_not_a_block() -> None:
    body = {
        "candidates": [{"finishReason": "MAX_TOKENS", "index": 0}],
        "usageMetadata": {"promptTokenCount": 5, "thoughtsTokenCount": 50, "totalTokenCount": 55},
    }
    chat = ChatRequest.from_body({"model": "m", "messages": [{"role": "user", "content": "x"}]})
    dep = deployment("gemini/gemini-3-pro-image", api_key="k")
    result = GeminiChat("gemini").parse(response(body), chat, dep)
    assert result.body["choices"] == [
        {"index": 0, "finish_reason": "length", "message": {"role": "assistant", "content": ""}}
    ]
    assert result.usage is not None and result.usage.raw["completion_tokens"] == 50
    payload = b"data: " + json.dumps(body).encode() + b"\n\n"
    streamed = ChatRequest.from_body({**chat.body, "stream": True})
    chunks = translate(GeminiChat("gemini").stream_translator(streamed, dep), payload, 64)
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]] == [None, "length"]
