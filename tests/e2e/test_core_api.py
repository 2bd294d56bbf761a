"""Keys, bad input, models, health and the mock provider, through the real server."""

from __future__ import annotations

import base64
import struct
import threading
from typing import Any

import httpx
import openai
import pytest
from starlette.responses import StreamingResponse

from tests.conftest import MASTER_KEY
from tests.fakes.server import FakeUpstream

UPSTREAM_KEY = "sk-core-upstream-key-3141"


@pytest.fixture(scope="module")
def proxy(proxy_factory: Any, upstream: FakeUpstream) -> Any:
    return proxy_factory(
        {
            "model_list": [
                {"model_name": "mock-image", "litellm_params": {"model": "mock/placeholder"}},
                {
                    "model_name": "gpt-image",
                    "litellm_params": {
                        "model": "openai/gpt-image-1",
                        "api_key": UPSTREAM_KEY,
                        "api_base": f"{upstream.base}/v1",
                    },
                },
                {
                    "model_name": "chat-model",
                    "litellm_params": {
                        "model": "openai/gpt-4o",
                        "api_key": UPSTREAM_KEY,
                        "api_base": f"{upstream.base}/v1",
                    },
                },
            ],
            "general_settings": {"max_request_size_mb": 0.5},
        }
    )


@pytest.fixture
def client(proxy: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, max_retries=0)


def post(
    proxy: Any,
    path: str,
    content: bytes | str,
    key: str | None = MASTER_KEY,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    h = {"content-type": "application/json", **(headers or {})}
    if key:
        h["authorization"] = f"Bearer {key}"
    return httpx.post(f"{proxy.base_url}{path}", content=content, headers=h, timeout=10)


def assert_error(response: httpx.Response, status: int, *needles: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    err = response.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    for needle in needles:
        assert needle in err["message"] or needle == err["param"], err
    assert "Traceback" not in response.text
    return dict(err)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b"", "empty"),
        (b'{"model": "mock-image"}', "prompt"),
        (b'{"model": "mock-image", "prompt": 42}', "prompt"),
        (b'{"model": "mock-image", "prompt": "  "}', "prompt"),
        (b'{"model": "mock-image", "prompt": "x", "n": 0}', "'n'"),
        (b'{"model": "mock-image", "prompt": "x", "n": 11}', "'n'"),
        (b'{"model": "mock-image", "prompt": "x", "n": "2"}', "'n'"),
        (b'{"model": "mock-image", "prompt": "x", "n": 1.5}', "'n'"),
        (b'{"model": "mock-image", "prompt": "x", "response_format": "png"}', "response_format"),
        (b'{"prompt": "x"}', "model"),
    ],
)
def test_bad_image_input_is_400(proxy: Any, body: bytes, needle: str) -> None:
    assert_error(post(proxy, "/v1/images/generations", body), 400, needle)


@pytest.mark.parametrize(
    "field",
    [
        "api_base",
        "base_url",
        "api_key",
        "vertex_project",
        "vertex_credentials",
        "aws_secret_access_key",
        "aws_region_name",
        "api_version",
        "azure_endpoint",
        "azure_ad_token",
        "client_secret",
        "organization",
    ],
)
def test_client_cannot_redirect_credentials(proxy: Any, fake: FakeUpstream, field: str) -> None:
    body = {"model": "gpt-image", "prompt": "x", field: "http://169.254.169.254/"}
    err = assert_error(
        post(proxy, "/v1/images/generations", httpx.Request("POST", "/", json=body).content),
        400,
        field,
    )
    assert err["param"] == field
    chat = {"model": "chat-model", "messages": [{"role": "user", "content": "x"}], field: "y"}
    assert_error(
        post(proxy, "/v1/chat/completions", httpx.Request("POST", "/", json=chat).content),
        400,
        field,
    )
    assert fake.received() == []


def test_unknown_model_is_404(proxy: Any) -> None:
    err = assert_error(
        post(proxy, "/v1/images/generations", b'{"model": "nope", "prompt": "x"}'), 404, "nope"
    )
    assert err["code"] == "model_not_found"


def test_bad_chat_input(proxy: Any) -> None:
    assert_error(post(proxy, "/v1/chat/completions", b'{"model": "chat-model"}'), 400, "messages")
    assert_error(
        post(proxy, "/v1/chat/completions", b'{"model": "chat-model", "messages": []}'),
        400,
        "messages",
    )
    assert_error(
        post(proxy, "/v1/chat/completions", b'{"model": "chat-model", "messages": ["hi"]}'),
        400,
        "messages[0]",
    )
    assert_error(
        post(
            proxy,
            "/v1/chat/completions",
            b'{"model": "chat-model", "messages": [{"role": "user"}], "stream": "yes"}',
        ),
        400,
        "stream",
    )


def test_oversized_body_is_413_before_reading(proxy: Any) -> None:
    big = b'{"model": "mock-image", "prompt": "' + b"a" * 600_000 + b'"}'
    assert_error(post(proxy, "/v1/images/generations", big), 413, "limit")

    def chunks() -> Any:  # no content-length: the limit applies while streaming the body
        yield b'{"model": "mock-image", "prompt": "'
        for _ in range(100):
            yield b"a" * 10_000
        yield b'"}'

    response = httpx.post(
        f"{proxy.base_url}/v1/images/generations",
        content=chunks(),
        headers={"authorization": f"Bearer {MASTER_KEY}"},
        timeout=10,
    )
    assert_error(response, 413, "limit")


@pytest.mark.parametrize(
    "path",
    ["/v1/images/generations", "/v1/chat/completions", "/v1/models", "/v1/models/mock-image"],
)
def test_every_model_route_needs_a_key(proxy: Any, path: str) -> None:
    for key in (None, "sk-wrong", MASTER_KEY + "x"):
        h = {"authorization": f"Bearer {key}"} if key else {}
        method = "GET" if "models" in path else "POST"
        response = httpx.request(
            method,
            f"{proxy.base_url}{path}",
            headers=h,
            content=b'{"model": "mock-image", "prompt": "x"}',
            timeout=10,
        )
        assert_error(response, 401)


def test_azure_style_api_key_header_is_accepted(proxy: Any) -> None:
    response = post(
        proxy,
        "/images/generations",
        b'{"model": "mock-image", "prompt": "x", "size": "8x8"}',
        key=None,
        headers={"api-key": MASTER_KEY},
    )
    assert response.status_code == 200, response.text
    (image,) = response.json()["data"]
    assert _png_dims(base64.b64decode(image["b64_json"])) == (8, 8)


def test_models_lists_public_names_only(client: openai.OpenAI, proxy: Any) -> None:
    names = [m.id for m in client.models.list()]
    assert names == ["mock-image", "gpt-image", "chat-model"]
    raw = httpx.get(
        f"{proxy.base_url}/v1/models", headers={"authorization": f"Bearer {MASTER_KEY}"}
    ).text
    assert UPSTREAM_KEY not in raw and "gpt-image-1" not in raw and "api_base" not in raw
    assert client.models.retrieve("gpt-image").id == "gpt-image"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("missing")


def test_health_needs_no_key_and_leaks_nothing(proxy: Any) -> None:
    for path in ("/health/liveness", "/health/liveliness", "/health/readiness"):
        response = httpx.get(f"{proxy.base_url}{path}")
        assert response.status_code == 200
        assert UPSTREAM_KEY not in response.text and MASTER_KEY not in response.text
        assert "127.0.0.1" not in response.text


def test_unknown_route_is_openai_404(proxy: Any) -> None:
    response = httpx.get(
        f"{proxy.base_url}/v1/nothing-here", headers={"authorization": f"Bearer {MASTER_KEY}"}
    )
    assert_error(response, 404)


def _png_dims(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = struct.unpack(">II", data[16:24])
    return w, h


def test_mock_honours_n_size_and_b64(client: openai.OpenAI) -> None:
    result = client.images.generate(
        model="mock-image", prompt="a lighthouse", n=3, size="320x200", response_format="b64_json"
    )
    assert result.data is not None
    assert len(result.data) == 3
    images = [base64.b64decode(d.b64_json or "") for d in result.data]
    assert all(_png_dims(img) == (320, 200) for img in images)
    again = client.images.generate(
        model="mock-image", prompt="a lighthouse", n=1, size="320x200", response_format="b64_json"
    )
    assert again.data is not None
    assert base64.b64decode(again.data[0].b64_json or "") == images[0]  # deterministic


def test_mock_url_format_serves_the_png(client: openai.OpenAI) -> None:
    result = client.images.generate(
        model="mock-image", prompt="a tree", size="64x48", response_format="url", n=2
    )
    assert result.data is not None
    for item in result.data:
        assert item.url and item.url.startswith("http") and item.b64_json is None
        response = httpx.get(item.url)
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"
        assert _png_dims(response.content) == (64, 48)


def test_mock_rejects_bad_size(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(model="mock-image", prompt="x", size="huge")
    assert "size" in info.value.message


def test_mock_chat_answers_text_and_image(client: openai.OpenAI) -> None:
    result = client.chat.completions.create(
        model="mock-image", messages=[{"role": "user", "content": "draw"}]
    )
    message = result.choices[0].message
    assert message.content
    extra = message.model_extra or {}
    assert extra["image"]["url"].startswith("data:image/png;base64,")
    assert extra["images"][0]["image_url"]["url"] == extra["image"]["url"]
    chunks = list(
        client.chat.completions.create(
            model="mock-image",
            messages=[{"role": "user", "content": "draw"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    images = [
        c.choices[0].delta.model_extra.get("image")
        for c in chunks
        if c.choices and c.choices[0].delta.model_extra
    ]
    assert any(i and i["url"].startswith("data:image/png;base64,") for i in images)
    assert chunks[-1].usage is not None


def test_client_disconnect_cancels_upstream_stream(proxy: Any, fake: FakeUpstream) -> None:
    closed = threading.Event()
    sent_first = threading.Event()
    release = threading.Event()

    async def endless() -> Any:
        import asyncio

        try:
            chunk = {
                "id": "c",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "m",
                "choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": None}],
            }
            import json

            for _ in range(600):
                yield f"data: {json.dumps(chunk)}\n\n".encode()
                sent_first.set()
                await asyncio.sleep(0.05)
                if release.is_set():
                    break
        finally:
            closed.set()

    fake.route(
        "POST",
        "/v1/chat/completions",
        lambda r: StreamingResponse(endless(), media_type="text/event-stream"),
    )
    with httpx.stream(
        "POST",
        f"{proxy.base_url}/v1/chat/completions",
        headers={"authorization": f"Bearer {MASTER_KEY}"},
        json={
            "model": "chat-model",
            "stream": True,
            "messages": [{"role": "user", "content": "x"}],
        },
    ) as response:
        assert response.status_code == 200
        next(response.iter_raw())
    # the client is gone: the proxy must close its upstream stream well before it ends
    assert closed.wait(timeout=10), "upstream stream was not cancelled"
    release.set()


def test_a_chat_completion_id_is_the_proxys_and_finds_its_spend_record(
    client: openai.OpenAI, proxy: Any
) -> None:
    """The provider's id (here the mock's ``chatcmpl-mock-…``) never reaches the client: the
    answer's ``id``, and every chunk's of a stream, is ``chatcmpl-<x-request-id>``, and
    ``/spend/logs?request_id=`` takes it as it is (LiteLLM's habit: the response id)."""
    messages: Any = [{"role": "user", "content": "draw"}]
    raw = client.chat.completions.with_raw_response.create(model="mock-image", messages=messages)
    completion = raw.parse()
    assert completion.id == f"chatcmpl-{raw.headers['x-request-id']}"
    found = httpx.get(
        f"{proxy.base_url}/spend/logs",
        params={"request_id": completion.id},
        headers={"authorization": f"Bearer {MASTER_KEY}"},
        timeout=10,
    )
    assert found.status_code == 200, found.text
    assert [r["request_id"] for r in found.json()["data"]] == [raw.headers["x-request-id"]]
    with client.chat.completions.with_streaming_response.create(
        model="mock-image", messages=messages, stream=True
    ) as streamed:
        ids = {chunk.id for chunk in streamed.parse()}
        assert ids == {f"chatcmpl-{streamed.headers['x-request-id']}"}
