"""Gemini API and Vertex AI end to end through the official OpenAI SDK, against fake Google
upstreams that verify google-auth's signed token requests and validate bodies with
google-genai's own types."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import MASTER_KEY
from tests.fakes.google import (
    GEMINI_KEY,
    HUGE_IMAGE_BYTES,
    GoogleFake,
    ServiceAccount,
    image_b64,
)
from tests.fakes.server import FakeUpstream

EDIT_SOURCE = base64.b64encode(b"\x89PNG\r\n\x1a\ninput-image").decode()


@pytest.fixture(scope="module")
def accounts(google_state: GoogleFake) -> dict[str, ServiceAccount]:
    return {
        "main": google_state.service_account("image-proxy"),
        "inline": google_state.service_account("inline-sa"),
        "once": google_state.service_account("token-once"),
        "rogue": google_state.service_account("rogue", registered=False),
    }


@pytest.fixture(scope="module")
def proxy(
    proxy_factory: Any,
    upstream: FakeUpstream,
    accounts: dict[str, ServiceAccount],
    tmp_path_factory: pytest.TempPathFactory,
) -> Any:
    keys = tmp_path_factory.mktemp("sa")
    paths = {}
    for name in ("main", "once", "rogue"):
        paths[name] = keys / f"{name}.json"
        paths[name].write_text(json.dumps(accounts[name].info))
    gemini = {"api_key": "os.environ/TEST_GEMINI_KEY", "api_base": f"{upstream.base}/gemini/v1beta"}
    vertex = {
        "vertex_project": "test-project",
        "vertex_location": "us-central1",
        "api_base": f"{upstream.base}/vertex/v1",
    }
    config = {
        "model_list": [
            {
                "model_name": "gemini-image",
                "litellm_params": {"model": "gemini/gemini-2.5-flash-image", **gemini},
            },
            {
                "model_name": "gemini-3-image",
                "litellm_params": {"model": "gemini/gemini-3-pro-image-preview", **gemini},
            },
            {
                "model_name": "gemini-imagen",
                "litellm_params": {"model": "gemini/imagen-4.0-generate-001", **gemini},
            },
            {
                "model_name": "vertex-imagen",
                "litellm_params": {
                    "model": "vertex_ai/imagen-4.0-generate-001",
                    **vertex,
                    "vertex_credentials": str(paths["main"]),
                },
            },
            {
                "model_name": "vertex-gemini",
                "litellm_params": {
                    "model": "vertex_ai/gemini-2.5-flash-image",
                    "vertex_ai_location": "us-central1",
                    "api_base": f"{upstream.base}/vertex/v1",
                    # inline JSON through the environment; project from the key
                    "vertex_ai_credentials": "os.environ/TEST_VERTEX_SA_JSON",
                },
            },
            {
                "model_name": "vertex-once",
                "litellm_params": {
                    "model": "vertex_ai/gemini-2.5-flash-image",
                    **vertex,
                    "vertex_credentials": str(paths["once"]),
                },
            },
            {
                "model_name": "vertex-rogue",
                "litellm_params": {
                    "model": "vertex_ai/imagen-4.0-generate-001",
                    **vertex,
                    "vertex_credentials": str(paths["rogue"]),
                },
            },
        ]
    }
    env = {
        "TEST_GEMINI_KEY": GEMINI_KEY,
        "TEST_VERTEX_SA_JSON": json.dumps(accounts["inline"].info),
    }
    return proxy_factory(config, env=env)


@pytest.fixture
def client(proxy: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, max_retries=0)


def vertex_requests(fake: FakeUpstream) -> list[Any]:
    return [r for r in fake.received() if r.path.startswith("/vertex/")]


# --- Imagen --------------------------------------------------------------------------------


def test_vertex_imagen_n2_landscape_keeps_ratio_and_native_params(
    client: openai.OpenAI, google: GoogleFake, fake: FakeUpstream
) -> None:
    result = client.images.generate(
        model="vertex-imagen",
        prompt="a lighthouse at dawn",
        n=2,
        size="1792x1024",
        output_format="jpeg",
        extra_body={
            "negativePrompt": "people",
            "personGeneration": "dont_allow",
            "seed": 7,
            "addWatermark": False,
        },
    )
    assert result.data is not None
    assert len(result.data) == 2
    assert [d.b64_json for d in result.data] == [
        image_b64(f"imagen-4.0-generate-001|16:9|{i}") for i in range(2)
    ]
    assert result.output_format == "jpeg"
    (req,) = vertex_requests(fake)
    assert req.path == (
        "/vertex/v1/projects/test-project/locations/us-central1/publishers/"
        "google/models/imagen-4.0-generate-001:predict"
    )
    assert req.json() == {
        "instances": [{"prompt": "a lighthouse at dawn"}],
        "parameters": {
            "sampleCount": 2,
            "aspectRatio": "16:9",
            "outputOptions": {"mimeType": "image/jpeg"},
            "negativePrompt": "people",
            "personGeneration": "dont_allow",
            "seed": 7,
            "addWatermark": False,
        },
    }
    assert req.headers["authorization"].startswith("Bearer ya29.fake-")
    assert MASTER_KEY not in str(req.headers)


def test_gemini_api_imagen_fans_out_past_four_and_maps_portrait(
    client: openai.OpenAI, google: GoogleFake, fake: FakeUpstream
) -> None:
    result = client.images.generate(model="gemini-imagen", prompt="a cat", n=6, size="1024x1536")
    assert result.data is not None
    assert len(result.data) == 6
    bodies = [r.json() for r in fake.received() if r.path.endswith(":predict")]
    assert sorted(b["parameters"]["sampleCount"] for b in bodies) == [2, 4]
    assert {b["parameters"]["aspectRatio"] for b in bodies} == {"3:4"}
    for r in fake.received():
        assert r.headers["x-goog-api-key"] == GEMINI_KEY
        assert "authorization" not in r.headers


# --- Gemini image models on /images/generations ----------------------------------------------


def test_gemini_image_n2_fans_out_with_aspect_ratio_and_usage(
    client: openai.OpenAI, google: GoogleFake, fake: FakeUpstream
) -> None:
    result = client.images.generate(
        model="gemini-image", prompt="a watercolor fox", n=2, size="1536x1024"
    )
    assert result.data is not None
    assert len(result.data) == 2
    assert all(d.b64_json for d in result.data)
    assert result.data[0].b64_json != result.data[1].b64_json
    reqs = fake.received()
    assert len(reqs) == 2
    for r in reqs:
        assert r.path == "/gemini/v1beta/models/gemini-2.5-flash-image:generateContent"
        body = r.json()
        assert body["contents"] == [{"role": "user", "parts": [{"text": "a watercolor fox"}]}]
        config = body["generationConfig"]
        assert config["imageConfig"] == {"aspectRatio": "3:2"}
        assert config["responseModalities"] == ["TEXT", "IMAGE"]
        assert "candidateCount" not in config
    usage = result.usage
    assert usage is not None
    assert usage.input_tokens == 18 and usage.output_tokens == 2 * 1295
    assert usage.output_tokens_details is not None
    assert usage.output_tokens_details.image_tokens == 2 * 1290
    assert usage.output_tokens_details.text_tokens == 2 * 5


def test_gemini_3_image_size_tier_and_thought_images_skipped(
    client: openai.OpenAI, google: GoogleFake, fake: FakeUpstream
) -> None:
    result = client.images.generate(
        model="gemini-3-image",
        prompt="a city",
        size="3072x1728",
        extra_body={"imageConfig": {"imageSize": "4K"}},
    )
    assert result.data is not None
    assert len(result.data) == 1
    assert result.data[0].b64_json != image_b64("thought")
    config = fake.received()[0].json()["generationConfig"]
    assert config["imageConfig"] == {"aspectRatio": "16:9", "imageSize": "4K"}


def test_unsupported_openai_parameters_are_refused_by_name(
    client: openai.OpenAI, google: GoogleFake, fake: FakeUpstream
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(model="gemini-image", prompt="p", quality="hd")
    assert info.value.param == "quality"
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(model="vertex-imagen", prompt="p", size="huge")
    assert "size" in info.value.message
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(model="gemini-image", prompt="p", output_format="webp")
    assert info.value.param == "output_format"
    assert fake.received() == []


# --- content policy --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "marker", "expected"),
    [
        ("gemini-image", "[blocked]", "PROHIBITED_CONTENT"),
        ("gemini-image", "[image-safety]", "IMAGE_SAFETY"),
        ("gemini-image", "[text-only]", "calm sea"),
        ("vertex-imagen", "[filtered]", "filtered out"),
        ("vertex-imagen", "[refused]", "could not be submitted"),
    ],
)
def test_blocked_output_is_400_content_policy_never_empty_200(
    client: openai.OpenAI, google: GoogleFake, model: str, marker: str, expected: str
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(model=model, prompt=f"something {marker}")
    assert info.value.status_code == 400
    assert info.value.code == "content_policy_violation"
    assert expected in info.value.message


def test_blocked_prompt_in_chat_is_content_policy_plain_and_streamed(
    client: openai.OpenAI, google: GoogleFake
) -> None:
    messages: Any = [{"role": "user", "content": "draw [blocked]"}]
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="gemini-image", messages=messages)
    assert info.value.code == "content_policy_violation"
    assert "PROHIBITED_CONTENT" in info.value.message
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="vertex-gemini", messages=messages, stream=True)
    assert info.value.code == "content_policy_violation"


def test_block_after_stream_started_ends_with_content_filter(
    client: openai.OpenAI, google: GoogleFake
) -> None:
    stream = client.chat.completions.create(
        model="gemini-image",
        messages=[{"role": "user", "content": "draw [late-block]"}],
        stream=True,
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "Here is your picture."
    )
    assert chunks[-1].choices[0].finish_reason == "content_filter"


# --- chat with images --------------------------------------------------------------------------


def test_gemini_image_via_chat_edit_with_system_and_input_image(
    client: openai.OpenAI, google: GoogleFake, fake: FakeUpstream
) -> None:
    completion = client.chat.completions.create(
        model="gemini-image",
        messages=[
            {"role": "system", "content": "You are a careful photo editor."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Make the sky purple."},
                    {
                        "type": "image_url",
                        "image_url": {"url": f"data:image/png;base64,{EDIT_SOURCE}"},
                    },
                ],
            },
        ],
        extra_body={"image_config": {"aspect_ratio": "4:3"}},
        temperature=0.4,
        max_tokens=2000,
    )
    message = completion.choices[0].message
    assert completion.model == "gemini-image"
    assert message.content == "Here is your image."
    extra = message.model_extra or {}
    assert extra["image"]["url"].startswith("data:image/png;base64,")
    assert extra["image"]["detail"] == "auto"
    assert extra["images"] == [{"type": "image_url", "image_url": {"url": extra["image"]["url"]}}]
    assert completion.choices[0].finish_reason == "stop"
    usage = completion.usage
    assert usage is not None and usage.completion_tokens == 1295
    assert usage.completion_tokens_details is not None
    assert (usage.completion_tokens_details.model_extra or {})["image_tokens"] == 1290
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.image_tokens == 258
    body = fake.received()[0].json()
    assert body["systemInstruction"] == {"parts": [{"text": "You are a careful photo editor."}]}
    assert body["contents"] == [
        {
            "role": "user",
            "parts": [
                {"text": "Make the sky purple."},
                {"inlineData": {"mimeType": "image/png", "data": EDIT_SOURCE}},
            ],
        }
    ]
    assert body["generationConfig"] == {
        "temperature": 0.4,
        "maxOutputTokens": 2000,
        "responseModalities": ["TEXT", "IMAGE"],
        "imageConfig": {"aspectRatio": "4:3"},
    }


def test_chat_stream_carries_delta_image_of_a_multi_megabyte_line(
    client: openai.OpenAI, google: GoogleFake, fake: FakeUpstream
) -> None:
    stream = client.chat.completions.create(
        model="vertex-gemini",
        messages=[{"role": "user", "content": "a big picture [huge]"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Here is your picture."
    image_chunks = [c for c in chunks if c.choices and (c.choices[0].delta.model_extra or {})]
    assert len(image_chunks) == 1
    delta = image_chunks[0].choices[0].delta.model_extra or {}
    expected = "data:image/png;base64," + image_b64(
        "gemini-2.5-flash-image|stream", HUGE_IMAGE_BYTES
    )
    assert delta["image"] == {"url": expected, "detail": "auto"}
    assert delta["images"] == [{"type": "image_url", "image_url": {"url": expected}}]
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert [c.choices[0].finish_reason for c in finals] == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    details = chunks[-1].usage.completion_tokens_details
    assert details is not None and (details.model_extra or {})["image_tokens"] == 1290
    (req,) = vertex_requests(fake)
    assert req.path.endswith("/models/gemini-2.5-flash-image:streamGenerateContent")
    assert req.query == {"alt": "sse"}


# --- Vertex credentials ---------------------------------------------------------------------


def test_vertex_token_fetched_once_and_reused(
    client: openai.OpenAI,
    google: GoogleFake,
    fake: FakeUpstream,
    accounts: dict[str, ServiceAccount],
) -> None:
    email = accounts["once"].client_email
    assert email not in google.token_requests
    client.images.generate(model="vertex-once", prompt="one", n=2)
    client.chat.completions.create(
        model="vertex-once", messages=[{"role": "user", "content": "two"}]
    )
    list(
        client.chat.completions.create(
            model="vertex-once", stream=True, messages=[{"role": "user", "content": "three"}]
        )
    )
    assert google.token_requests.count(email) == 1
    tokens = {
        google.issued[r.headers["authorization"].removeprefix("Bearer ")]
        for r in vertex_requests(fake)
    }
    assert tokens == {email}
    assert len(vertex_requests(fake)) == 4


def test_vertex_rejects_requests_without_an_issued_token(
    google: GoogleFake, upstream: FakeUpstream
) -> None:
    url = (
        f"{upstream.base}/vertex/v1/projects/test-project/locations/us-central1/publishers/"
        "google/models/imagen-4.0-generate-001:predict"
    )
    body = {"instances": [{"prompt": "x"}], "parameters": {"sampleCount": 1}}
    for headers in ({}, {"authorization": "Bearer ya29.made-up"}):
        response = httpx.post(url, json=body, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["status"] == "UNAUTHENTICATED"


def test_failed_token_exchange_names_the_account_never_the_key(
    client: openai.OpenAI,
    google: GoogleFake,
    accounts: dict[str, ServiceAccount],
    fake: FakeUpstream,
) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        client.images.generate(model="vertex-rogue", prompt="p")
    assert info.value.status_code == 502
    assert info.value.code == "provider_authentication_failed"
    assert accounts["rogue"].client_email in info.value.message
    assert "PRIVATE KEY" not in info.value.message
    assert "invalid_grant" in info.value.message
    assert vertex_requests(fake) == []


# --- Google error statuses ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "http", "client_status", "code"),
    [
        ("INVALID_ARGUMENT", 400, 400, None),
        ("FAILED_PRECONDITION", 400, 400, None),
        ("API_KEY_INVALID", 400, 502, "provider_authentication_failed"),
        ("UNAUTHENTICATED", 401, 502, "provider_authentication_failed"),
        ("PERMISSION_DENIED", 403, 502, "provider_authentication_failed"),
        ("NOT_FOUND", 404, 502, "upstream_model_not_found"),
        ("RESOURCE_EXHAUSTED", 429, 429, "rate_limit_exceeded"),
        ("INTERNAL", 500, 502, "upstream_error"),
        ("UNAVAILABLE", 503, 502, "upstream_unavailable"),
        ("DEADLINE_EXCEEDED", 504, 504, "upstream_timeout"),
    ],
)
def test_google_error_statuses_map_to_openai_errors(
    client: openai.OpenAI,
    google: GoogleFake,
    status: str,
    http: int,
    client_status: int,
    code: str | None,
    proxy: Any,
) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        client.images.generate(model="gemini-image", prompt=f"x [error:{status}:{http}]")
    assert info.value.status_code == client_status
    if code:
        assert info.value.code == code
    assert GEMINI_KEY not in info.value.message
    if status == "RESOURCE_EXHAUSTED":
        assert info.value.response.headers["retry-after"] == "26"
    # the same mapping on chat, through Vertex
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(
            model="vertex-gemini",
            messages=[{"role": "user", "content": f"[error:{status}:{http}]"}],
        )
    assert info.value.status_code == client_status
    assert GEMINI_KEY not in proxy.logs()


@pytest.fixture(autouse=True)
def _no_leaks(proxy: Any) -> Iterator[None]:
    yield
    logs = proxy.logs()
    assert "PRIVATE KEY" not in logs and GEMINI_KEY not in logs
