"""Google upstreams that answer the way google-genai's own types serialise (snake_case keys,
URL-safe base64), reached through a bare-origin ``api_base``; Vertex on the ``global`` location
with Application Default Credentials from ``GOOGLE_APPLICATION_CREDENTIALS``; ``n`` on an image
model in chat. End to end through the official OpenAI SDK."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from google.genai import types
from starlette.responses import JSONResponse, Response, StreamingResponse

from tests.conftest import MASTER_KEY
from tests.fakes.google import GoogleFake, ServiceAccount
from tests.fakes.server import FakeUpstream, Received

GEMINI_KEY = "AIzaSyFAKE-wire-variants-key-0077"
ADC_PROJECT = "adc-project"
_PATH = re.compile(r"^/v1beta/models/([^/:]+):(\w+)$")
_VERTEX = re.compile(
    r"^/v1/projects/([^/]+)/locations/([^/]+)/publishers/google/models/"
    r"([^/:]+):(\w+)$"
)


def pixels(tag: str, repeat: int = 300) -> bytes:
    # 0xfb 0xff 0xfe encode to '+//+' in standard base64 and '-__-' in the URL-safe alphabet
    return b"\x89PNG\r\n\x1a\n" + tag.encode() + b"\xfb\xff\xfe" * repeat


def usage() -> types.GenerateContentResponseUsageMetadata:
    return types.GenerateContentResponseUsageMetadata(
        prompt_token_count=6,
        candidates_token_count=1295,
        total_token_count=1301,
        prompt_tokens_details=[
            types.ModalityTokenCount(modality=types.MediaModality.TEXT, token_count=6)
        ],
        candidates_tokens_details=[
            types.ModalityTokenCount(modality=types.MediaModality.IMAGE, token_count=1290),
            types.ModalityTokenCount(modality=types.MediaModality.TEXT, token_count=5),
        ],
    )


def dump(response: types.GenerateContentResponse) -> dict[str, Any]:
    body: dict[str, Any] = response.model_dump(mode="json", exclude_none=True)
    return body


def image_answer(data: bytes) -> dict[str, Any]:
    parts = [
        types.Part(text="Here you go."),
        types.Part(inline_data=types.Blob(data=b"draft", mime_type="image/png"), thought=True),
        types.Part(inline_data=types.Blob(data=data, mime_type="image/png")),
    ]
    return dump(
        types.GenerateContentResponse(
            candidates=[
                types.Candidate(
                    content=types.Content(role="model", parts=parts),
                    finish_reason=types.FinishReason.STOP,
                )
            ],
            usage_metadata=usage(),
            model_version="gemini-2.5-flash-image",
        )
    )


def blocked_answer() -> dict[str, Any]:
    return dump(
        types.GenerateContentResponse(
            prompt_feedback=types.GenerateContentResponsePromptFeedback(
                block_reason=types.BlockedReason.PROHIBITED_CONTENT,
                block_reason_message="Not allowed.",
            ),
            usage_metadata=types.GenerateContentResponseUsageMetadata(prompt_token_count=6),
        )
    )


def stream_answer(data: bytes) -> list[dict[str, Any]]:
    """Text, then the image alone, then finishReason and the usage in a last event."""

    def event(parts: list[types.Part] | None, **candidate: Any) -> dict[str, Any]:
        content = types.Content(role="model", parts=parts) if parts else None
        return dump(
            types.GenerateContentResponse(
                candidates=[types.Candidate(content=content, **candidate)]
            )
        )

    last = event(None, finish_reason=types.FinishReason.STOP)
    last["usage_metadata"] = usage().model_dump(mode="json", exclude_none=True)
    return [
        event([types.Part(text="Painting")]),
        event([types.Part(text=" now.")]),
        event([types.Part(inline_data=types.Blob(data=data, mime_type="image/png"))]),
        last,
    ]


class SdkWrittenGoogle:
    """Gemini API and Vertex routes at the bare origin, answering in google-genai's dump."""

    def __init__(self, google: GoogleFake) -> None:
        self.google = google

    def install(self, fake: FakeUpstream) -> None:
        self.google.install()
        fake.route("POST", "/v1beta/models/*", self.gemini)
        fake.route("POST", "/v1/projects/*", self.vertex)

    def gemini(self, req: Received) -> Response:
        match = _PATH.match(req.path)
        if not match or req.headers.get("x-goog-api-key") != GEMINI_KEY:
            return JSONResponse(
                {
                    "error": {
                        "code": 400,
                        "message": "API key not valid.",
                        "status": "INVALID_ARGUMENT",
                    }
                },
                400,
            )
        return self.answer(req, match.group(2))

    def vertex(self, req: Received) -> Response:
        match = _VERTEX.match(req.path)
        token = req.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.google.issued:
            return JSONResponse(
                {"error": {"code": 401, "message": "no token", "status": "UNAUTHENTICATED"}}, 401
            )
        if not match or match.group(1) != ADC_PROJECT or match.group(2) != "global":
            return JSONResponse(
                {"error": {"code": 404, "message": f"no {req.path}", "status": "NOT_FOUND"}}, 404
            )
        return self.answer(req, match.group(4))

    def answer(self, req: Received, action: str) -> Response:
        body = req.json()
        config = body.get("generationConfig", {})
        if config.get("candidateCount", 1) != 1:
            return JSONResponse(
                {
                    "error": {
                        "code": 400,
                        "status": "INVALID_ARGUMENT",
                        "message": "Multiple candidates is not enabled",
                    }
                },
                400,
            )
        prompt = " ".join(p.get("text", "") for c in body["contents"] for p in c["parts"])
        if action == "streamGenerateContent":
            if req.query.get("alt") != "sse":
                return JSONResponse(
                    {
                        "error": {
                            "code": 400,
                            "status": "INVALID_ARGUMENT",
                            "message": "want alt=sse",
                        }
                    },
                    400,
                )
            events = (
                [blocked_answer()]
                if "[blocked]" in prompt
                else stream_answer(pixels("stream", 1_000_000))
            )
            payload = b"".join(b"data: " + json.dumps(e).encode() + b"\r\n\r\n" for e in events)

            def chunks() -> Iterator[bytes]:  # odd sizes: the image line spans many reads
                for i in range(0, len(payload), 50_021):
                    yield payload[i : i + 50_021]

            return StreamingResponse(chunks(), media_type="text/event-stream")
        if "[blocked]" in prompt:
            return JSONResponse(blocked_answer())
        return JSONResponse(image_answer(pixels(f"call-{len(self.google.upstream.requests)}")))


@pytest.fixture(scope="module")
def google_state(upstream: FakeUpstream) -> GoogleFake:
    return GoogleFake(upstream, GEMINI_KEY)


@pytest.fixture(scope="module")
def adc_account(google_state: GoogleFake) -> ServiceAccount:
    return google_state.service_account("adc-runner")


@pytest.fixture
def google(fake: FakeUpstream, google_state: GoogleFake) -> SdkWrittenGoogle:
    server = SdkWrittenGoogle(google_state)
    server.install(fake)
    return server


@pytest.fixture(scope="module")
def proxy(
    proxy_factory: Any,
    upstream: FakeUpstream,
    adc_account: ServiceAccount,
    tmp_path_factory: pytest.TempPathFactory,
) -> Any:
    adc = tmp_path_factory.mktemp("adc") / "application_default_credentials.json"
    adc.write_text(json.dumps({**adc_account.info, "project_id": ADC_PROJECT}))
    config = {
        "model_list": [
            {
                "model_name": "sdk-gemini",
                "litellm_params": {
                    "model": "gemini/gemini-2.5-flash-image",
                    "api_key": "os.environ/TEST_WIRE_GEMINI_KEY",
                    "api_base": upstream.base,
                },
            },
            {
                "model_name": "adc-vertex",  # no project, no credentials: ADC from the environment
                "litellm_params": {
                    "model": "vertex_ai/gemini-3-pro-image-preview",
                    "vertex_location": "global",
                    "api_base": upstream.base,
                },
            },
        ]
    }
    env = {
        "TEST_WIRE_GEMINI_KEY": GEMINI_KEY,
        "GOOGLE_APPLICATION_CREDENTIALS": str(adc),
        "GOOGLE_CLOUD_PROJECT": "",
        "VERTEXAI_PROJECT": "",
    }
    return proxy_factory(config, env=env)


@pytest.fixture
def client(proxy: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, max_retries=0)


def decoded(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


def data_uri_bytes(uri: str) -> bytes:
    assert uri.startswith("data:image/png;base64,")
    return decoded(uri.partition(",")[2])


def test_images_from_snake_case_url_safe_answers(
    client: openai.OpenAI, google: SdkWrittenGoogle, fake: FakeUpstream
) -> None:
    result = client.images.generate(
        model="sdk-gemini", prompt="a fox", n=2, size="1792x1024", response_format="b64_json"
    )
    assert result.data is not None
    images = sorted(decoded(d.b64_json or "") for d in result.data)
    assert images == sorted([pixels("call-1"), pixels("call-2")])
    assert result.usage is not None and result.usage.output_tokens_details is not None
    assert result.usage.output_tokens_details.image_tokens == 2 * 1290
    reqs = fake.received()
    assert [r.path for r in reqs] == ["/v1beta/models/gemini-2.5-flash-image:generateContent"] * 2
    for r in reqs:
        assert r.json()["generationConfig"]["imageConfig"] == {"aspectRatio": "16:9"}


def test_chat_n2_on_an_image_model_fans_out(
    client: openai.OpenAI, google: SdkWrittenGoogle, fake: FakeUpstream
) -> None:
    completion = client.chat.completions.create(
        model="sdk-gemini", n=2, messages=[{"role": "user", "content": "two foxes"}]
    )
    assert [c.index for c in completion.choices] == [0, 1]
    images = []
    for choice in completion.choices:
        assert choice.message.content == "Here you go."
        assert choice.finish_reason == "stop"
        images.append(data_uri_bytes((choice.message.model_extra or {})["image"]["url"]))
    assert sorted(images) == sorted([pixels("call-1"), pixels("call-2")])
    assert completion.usage is not None and completion.usage.completion_tokens == 2 * 1295
    details = completion.usage.completion_tokens_details
    assert details is not None and (details.model_extra or {})["image_tokens"] == 2 * 1290
    assert len(fake.received()) == 2
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="sdk-gemini", n=2, stream=True, messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.param == "n"


def test_stream_of_snake_case_events_with_a_split_multi_megabyte_image(
    client: openai.OpenAI, google: SdkWrittenGoogle
) -> None:
    chunks = list(
        client.chat.completions.create(
            model="sdk-gemini",
            messages=[{"role": "user", "content": "paint"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Painting now."
    images = [(c.choices[0].delta.model_extra or {}).get("image") for c in chunks if c.choices]
    (image,) = [i for i in images if i]
    assert data_uri_bytes(image["url"]) == pixels("stream", 1_000_000)
    assert [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ] == ["stop"]
    assert chunks[-1].usage is not None
    details = chunks[-1].usage.completion_tokens_details
    assert details is not None and (details.model_extra or {})["image_tokens"] == 1290


def test_snake_case_prompt_block_is_content_policy(
    client: openai.OpenAI, google: SdkWrittenGoogle
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(model="sdk-gemini", prompt="[blocked]")
    assert info.value.code == "content_policy_violation"
    assert "PROHIBITED_CONTENT" in info.value.message and "Not allowed." in info.value.message
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="sdk-gemini", stream=True, messages=[{"role": "user", "content": "[blocked]"}]
        )
    assert info.value.code == "content_policy_violation"


def test_vertex_global_with_adc_from_the_environment(
    client: openai.OpenAI,
    google: SdkWrittenGoogle,
    fake: FakeUpstream,
    adc_account: ServiceAccount,
) -> None:
    completion = client.chat.completions.create(
        model="adc-vertex", messages=[{"role": "user", "content": "a globe"}]
    )
    url = (completion.choices[0].message.model_extra or {})["image"]["url"]
    assert data_uri_bytes(url).startswith(b"\x89PNG")
    result = client.images.generate(model="adc-vertex", prompt="a globe")
    assert result.data is not None
    assert len(result.data) == 1
    vertex = [r for r in fake.received() if r.path.startswith("/v1/")]
    assert [r.path for r in vertex] == [
        f"/v1/projects/{ADC_PROJECT}/locations/global/publishers/google/models/"
        "gemini-3-pro-image-preview:generateContent"
    ] * 2
    for r in vertex:
        token = r.headers["authorization"].removeprefix("Bearer ")
        assert google.google.issued[token] == adc_account.client_email


def test_a_revoked_vertex_token_is_replaced_after_the_401(
    client: openai.OpenAI,
    google: SdkWrittenGoogle,
    fake: FakeUpstream,
    adc_account: ServiceAccount,
) -> None:
    messages: Any = [{"role": "user", "content": "a globe"}]
    client.chat.completions.create(model="adc-vertex", messages=messages)
    grants = google.google.token_requests.count(adc_account.client_email)
    google.google.issued.clear()  # every token issued so far is revoked
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="adc-vertex", messages=messages)
    assert info.value.code == "provider_authentication_failed"
    completion = client.chat.completions.create(model="adc-vertex", messages=messages)
    assert (completion.choices[0].message.model_extra or {})["image"]["url"]
    assert google.google.token_requests.count(adc_account.client_email) == grants + 1


@pytest.fixture(autouse=True)
def _no_leaks(proxy: Any) -> Iterator[None]:
    yield
    logs = proxy.logs()
    assert "PRIVATE KEY" not in logs and GEMINI_KEY not in logs
