"""curl-level edge cases through the real server: paths, methods, headers and odd bodies.

Each answer is either the request served or an OpenAI error body; never a 500, a redirect
built from the Host header, or a traceback.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import openai
import orjson
import pytest
from starlette.responses import JSONResponse

from proxy.providers.mock.png import colour_for, render_png
from tests.conftest import MASTER_KEY
from tests.fakes.server import FakeUpstream

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
PNG_B64 = base64.b64encode(b"\x89PNG\r\n\x1a\nedge-case-image").decode()


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
                        "api_key": "sk-edge-upstream-2718",
                        "api_base": f"{upstream.base}/v1",
                    },
                },
                {
                    "model_name": "chat-model",
                    "litellm_params": {
                        "model": "openai/gpt-4o-mini",
                        "api_key": "sk-edge-upstream-2718",
                        "api_base": f"{upstream.base}/v1",
                    },
                },
            ]
        }
    )


def assert_openai_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    err = response.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert "Traceback" not in response.text
    return dict(err)


def image_body(**extra: Any) -> dict[str, Any]:
    return {"model": "mock-image", "prompt": "edge", "size": "8x8", **extra}


def assert_mock_image(response: httpx.Response, prompt: str) -> None:
    """One 8x8 mock image, drawn for exactly ``prompt`` (so the body was read as sent)."""
    assert response.status_code == 200, response.text
    (image,) = response.json()["data"]
    assert base64.b64decode(image["b64_json"]) == render_png(8, 8, colour_for(prompt, 0))


@pytest.mark.parametrize("path", ["/v1/images/generations/", "/images/generations/"])
def test_trailing_slash_is_served_not_redirected(proxy: Any, path: str) -> None:
    response = httpx.post(
        f"{proxy.base_url}{path}", json=image_body(), headers={**AUTH, "host": "evil.example"}
    )
    assert response.status_code == 200, response.text
    assert "location" not in response.headers
    assert len(response.json()["data"]) == 1


def test_trailing_slash_on_chat_and_models(proxy: Any) -> None:
    chat = httpx.post(
        f"{proxy.base_url}/v1/chat/completions/",
        headers=AUTH,
        json={"model": "mock-image", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert chat.status_code == 200, chat.text
    assert chat.json()["object"] == "chat.completion" and chat.json()["choices"]
    listed = httpx.get(f"{proxy.base_url}/v1/models/", headers=AUTH)
    assert listed.status_code == 200 and listed.json()["object"] == "list"
    one = httpx.get(f"{proxy.base_url}/v1/models/mock-image/", headers=AUTH)
    assert one.status_code == 200 and one.json()["id"] == "mock-image"
    assert httpx.get(f"{proxy.base_url}/health/liveness/").status_code == 200


def test_trailing_slash_still_needs_a_key(proxy: Any) -> None:
    response = httpx.post(f"{proxy.base_url}/v1/images/generations/", json=image_body())
    assert_openai_error(response, 401)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "OPTIONS", "PATCH"])
@pytest.mark.parametrize("path", ["/v1/images/generations", "/v1/chat/completions"])
def test_wrong_method_is_an_openai_405(proxy: Any, method: str, path: str) -> None:
    response = httpx.request(method, f"{proxy.base_url}{path}", headers=AUTH)
    assert_openai_error(response, 405)
    assert "POST" in response.headers["allow"]


def test_head_on_a_post_route_is_405_without_a_body(proxy: Any) -> None:
    response = httpx.head(f"{proxy.base_url}/v1/images/generations", headers=AUTH)
    assert response.status_code == 405
    assert response.content == b""


@pytest.mark.parametrize("path", ["/v1/models", "/v1/models/mock-image", "/metrics"])
def test_other_get_routes_do_not_answer_head(proxy: Any, path: str) -> None:
    response = httpx.head(f"{proxy.base_url}{path}", headers=AUTH)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_unknown_route_is_an_openai_404(proxy: Any, method: str) -> None:
    response = httpx.request(method, f"{proxy.base_url}/v1/nope/", headers=AUTH)
    err = assert_openai_error(response, 404)
    assert err == {
        "message": "No route /v1/nope.",
        "type": "invalid_request_error",
        "param": None,
        "code": "not_found",
    }


@pytest.mark.parametrize("path", ["/health/liveness", "/health/liveliness", "/health/readiness"])
def test_health_answers_head(proxy: Any, path: str) -> None:
    response = httpx.head(f"{proxy.base_url}{path}")
    assert response.status_code == 200
    assert response.content == b""


@pytest.mark.parametrize(
    "headers",
    [
        {},  # no content type at all
        {"content-type": "text/plain"},
        {"content-type": "application/x-www-form-urlencoded"},
        {"content-type": "application/json; charset=utf-8"},
    ],
)
def test_json_body_is_read_whatever_the_content_type_says(
    proxy: Any, headers: dict[str, str]
) -> None:
    content = b'{"model": "mock-image", "prompt": "edge", "size": "8x8"}'
    response = httpx.post(
        f"{proxy.base_url}/v1/images/generations", content=content, headers={**AUTH, **headers}
    )
    assert_mock_image(response, "edge")


def test_chunked_body(proxy: Any) -> None:
    def chunks() -> Any:
        yield b'{"model": "mock-image", '
        yield b'"prompt": "chunked", "size": "8x8"}'

    response = httpx.post(f"{proxy.base_url}/v1/images/generations", content=chunks(), headers=AUTH)
    assert_mock_image(response, "chunked")


def test_duplicate_keys_take_the_last_value(proxy: Any) -> None:
    content = b'{"model": "mock-image", "prompt": "x", "size": "4x4", "size": "8x16"}'
    response = httpx.post(f"{proxy.base_url}/v1/images/generations", content=content, headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json()["size"] == "8x16"


@pytest.mark.parametrize(
    "extra",
    [
        {"n": None},
        {"size": None},
        {"response_format": None},
        {"quality": None, "style": None, "user": None},
        {"stream": None},
        {"stream": False},
    ],
)
def test_nulls_mean_the_default(proxy: Any, extra: dict[str, Any]) -> None:
    response = httpx.post(
        f"{proxy.base_url}/v1/images/generations", json={**image_body(), **extra}, headers=AUTH
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["data"]) == 1


@pytest.mark.parametrize(
    "prompt", ["日本語の灯台 🎨", "nul\u0000byte", "rtl \u202e text", "x" * 20_000]
)
def test_unicode_and_long_prompts(proxy: Any, prompt: str) -> None:
    response = httpx.post(
        f"{proxy.base_url}/v1/images/generations", json=image_body(prompt=prompt), headers=AUTH
    )
    assert_mock_image(response, prompt)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b'{"model": "mock-image", "prompt": "\\ud800"}', "not valid JSON"),  # lone surrogate
        (b'{"model": "mock-image", "prompt": "x", "n": 1e400}', "not valid JSON"),
        (b'{"model": "mock-image", "prompt": "x", "n": NaN}', "not valid JSON"),
        (b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}", "too deeply"),
        (b'{"model": "mock-image", "prompt": "caf\xe9"}', "not valid JSON"),  # latin-1 byte
        (b"\xef\xbb\xbf{}", "not valid JSON"),  # a byte-order mark
        (b"null", "JSON object"),
        (b'"a string"', "JSON object"),
        (b'{"model": "mock-image", "prompt": "x", "n": 99999999999999999999999}', "'n'"),
        (b'{"model": ["mock-image"], "prompt": "x"}', "model"),
        (b'{"model": "mock-image", "prompt": "x", "stream": "true"}', "stream"),
        (b'{"model": "mock-image", "prompt": "x", "size": 1024}', "size"),
    ],
)
def test_malformed_bodies_are_400(proxy: Any, content: bytes, needle: str) -> None:
    response = httpx.post(f"{proxy.base_url}/v1/images/generations", content=content, headers=AUTH)
    err = assert_openai_error(response, 400)
    assert needle in err["message"] or err["param"] == needle.strip("'")


@pytest.mark.parametrize(
    "value",
    [
        "Bearer " + "a" * 8000,
        "Bearer sk-tést",
        "Basic Zm9vOmJhcg==",
        "Bearer",
        "Token " + MASTER_KEY,
        MASTER_KEY,
    ],
)
def test_odd_authorization_headers_are_401(proxy: Any, value: str) -> None:
    response = httpx.post(
        f"{proxy.base_url}/v1/images/generations",
        json=image_body(),
        headers={b"authorization": value.encode("utf-8")},
    )
    err = assert_openai_error(response, 401)
    assert "a" * 100 not in err["message"] and "sk-t" not in err["message"]


def test_long_unrelated_header_is_ignored(proxy: Any) -> None:
    response = httpx.post(
        f"{proxy.base_url}/v1/images/generations",
        json=image_body(),
        headers={**AUTH, "x-custom-trace": "t" * 8000},
    )
    assert_mock_image(response, "edge")
    assert "t" * 100 not in str(response.headers)  # not echoed back


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize("levels", [200, 253, 254, 300, 1022, 1023, 1024, 100_000])
@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/v1/images/generations", '{"model": "mock-image", "prompt": "x", "extra": %s}'),
        (
            "/v1/chat/completions",
            '{"model": "mock-image", "messages": [{"role": "user", "content": "x"}], "x": %s}',
        ),
        (
            "/v1/chat/completions",
            '{"model": "mock-image", "stream": true, '
            '"messages": [{"role": "user", "content": "x"}], "x": %s}',
        ),
        ("/key/generate", '{"metadata": {"a": %s}}'),
        ("/key/update", '{"key": "sk-none", "metadata": {"a": %s}}'),
    ],
)
def test_deeply_nested_bodies_are_a_400_naming_the_problem(
    proxy: Any, path: str, template: str, levels: int
) -> None:
    """254 to 1,024 levels used to be read, then failed with a 500 (or a 503 from the key
    store) when the body was written out again; deeper ones said "not valid JSON"."""
    content = (template % deep(levels)).encode()
    response = httpx.post(f"{proxy.base_url}{path}", content=content, headers=AUTH, timeout=30)
    err = assert_openai_error(response, 400)
    assert err["code"] == "json_too_deep" and "at most 128 levels" in err["message"]


def test_a_body_nested_to_the_limit_is_served(proxy: Any) -> None:
    extra = orjson.loads(deep(126))  # the body, "extra" and 126 more: 128 levels
    response = httpx.post(
        f"{proxy.base_url}/v1/images/generations", json=image_body(extra=extra), headers=AUTH
    )
    assert_mock_image(response, "edge")
    key = httpx.post(
        f"{proxy.base_url}/key/generate", json={"metadata": {"a": extra[0]}}, headers=AUTH
    )
    assert key.status_code == 200, key.text
    info = httpx.get(f"{proxy.base_url}/key/info", params={"key": key.json()["key"]}, headers=AUTH)
    assert info.status_code == 200 and info.json()["info"]["metadata"] == {"a": extra[0]}


@pytest.mark.parametrize("stream", [False, True])
def test_a_text_part_that_is_not_a_string_is_a_400_naming_it(proxy: Any, stream: bool) -> None:
    """It reached the mock provider, which failed on it: a 500."""
    body = {
        "model": "mock-image",
        "stream": stream,
        "messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}],
    }
    response = httpx.post(f"{proxy.base_url}/v1/chat/completions", json=body, headers=AUTH)
    err = assert_openai_error(response, 400)
    assert err["param"] == "messages[0].content[0].text"
    assert "'messages[0].content[0].text' must be a string" in err["message"]


def test_mock_bad_size_names_the_parameter(proxy: Any) -> None:
    response = httpx.post(
        f"{proxy.base_url}/v1/images/generations", json=image_body(size="huge"), headers=AUTH
    )
    err = assert_openai_error(response, 400)
    assert err["param"] == "size"
    assert err["message"].count("mock:") == 1


def test_provider_400_keeps_param_and_code(proxy: Any, fake: FakeUpstream) -> None:
    fake.route(
        "POST",
        "/v1/images/generations",
        lambda r: JSONResponse(
            {
                "error": {
                    "message": "Invalid value for size: '77x77'.",
                    "type": "invalid_request_error",
                    "param": "size",
                    "code": "invalid_value",
                }
            },
            400,
        ),
    )
    client = openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, max_retries=0)
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(model="gpt-image", prompt="x", size="77x77")
    assert info.value.param == "size"
    assert info.value.code == "invalid_value"
    assert "77x77" in info.value.message


def test_client_disconnect_cancels_an_image_stream(proxy: Any, fake: FakeUpstream) -> None:
    import asyncio
    import json
    import threading

    from starlette.responses import StreamingResponse

    closed = threading.Event()

    async def endless() -> Any:
        try:
            for i in range(600):
                event = {
                    "type": "image_generation.partial_image",
                    "b64_json": PNG_B64,
                    "partial_image_index": i,
                    "created_at": 1,
                    "size": "1024x1024",
                    "quality": "low",
                    "background": "opaque",
                    "output_format": "png",
                }
                yield (
                    f"event: image_generation.partial_image\ndata: {json.dumps(event)}\n\n"
                ).encode()
                await asyncio.sleep(0.05)
        finally:
            closed.set()

    fake.route(
        "POST",
        "/v1/images/generations",
        lambda r: StreamingResponse(endless(), media_type="text/event-stream"),
    )
    with httpx.stream(
        "POST",
        f"{proxy.base_url}/v1/images/generations",
        headers=AUTH,
        json={"model": "gpt-image", "prompt": "x", "stream": True, "partial_images": 3},
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        first = next(response.iter_raw())
        assert first.startswith(b"event: image_generation.partial_image\ndata: ")
    assert closed.wait(timeout=10), "upstream image stream was not cancelled"


def test_azure_openai_sdk_can_use_the_proxy(proxy: Any, fake: FakeUpstream) -> None:
    """AzureOpenAI sends ``/openai/deployments/{model}/…?api-version=`` with ``api-key``."""
    azure = openai.AzureOpenAI(
        azure_endpoint=proxy.base_url, api_key=MASTER_KEY, api_version="2024-10-21", max_retries=0
    )
    result = azure.images.generate(model="mock-image", prompt="x", size="8x16", n=2)
    assert result.data is not None
    assert len(result.data) == 2
    chat = azure.chat.completions.create(
        model="mock-image", messages=[{"role": "user", "content": "hi"}]
    )
    assert chat.choices[0].message.content
    chunks = list(
        azure.chat.completions.create(
            model="mock-image",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].usage is not None
    fake.route(
        "POST", "/v1/images/generations", lambda r: {"created": 1, "data": [{"b64_json": PNG_B64}]}
    )
    pinned = openai.AzureOpenAI(
        azure_endpoint=proxy.base_url,
        azure_deployment="gpt-image",
        api_key=MASTER_KEY,
        api_version="2024-10-21",
        max_retries=0,
    )
    result = pinned.images.generate(model="ignored", prompt="x")
    assert result.data is not None
    assert result.data[0].b64_json == PNG_B64
    assert fake.received()[0].json()["model"] == "gpt-image-1"  # the path chose the model
    wrong = openai.AzureOpenAI(
        azure_endpoint=proxy.base_url, api_key="sk-wrong", api_version="2024-10-21", max_retries=0
    )
    with pytest.raises(openai.AuthenticationError):
        wrong.images.generate(model="mock-image", prompt="x")
    with pytest.raises(openai.NotFoundError):
        azure.images.generate(model="no-such-deployment", prompt="x")


def test_client_leaving_mid_body_is_499_not_a_server_error(proxy: Any) -> None:
    import json
    import socket
    import time

    with socket.create_connection(("127.0.0.1", proxy.port)) as sock:
        sock.sendall(
            b"POST /v1/images/generations HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: Bearer " + MASTER_KEY.encode() + b"\r\n"
            b'Content-Length: 1000\r\n\r\n{"model": '
        )
    deadline = time.monotonic() + 10
    records: list[dict[str, Any]] = []
    while not records and time.monotonic() < deadline:
        records = [
            json.loads(line)
            for line in proxy.logs().splitlines()
            if '"event":"request"' in line and '"status":499' in line
        ]
        time.sleep(0.05)
    assert records, proxy.logs()[-2000:]
    assert records[0]["error_class"] == "ClientClosedError"
    assert "unhandled" not in proxy.logs()


def test_final_server_errors_tell_the_sdk_not_to_retry(proxy: Any, fake: FakeUpstream) -> None:
    fake.route(
        "POST",
        "/v1/images/generations",
        lambda r: JSONResponse(
            {
                "error": {
                    "message": "Incorrect API key provided",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "invalid_api_key",
                }
            },
            401,
        ),
    )
    client = openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY)  # retries on
    with pytest.raises(openai.InternalServerError) as info:
        client.images.generate(model="gpt-image", prompt="x")
    assert info.value.status_code == 502
    assert info.value.response.headers["x-should-retry"] == "false"
    assert len(fake.received()) == 1  # the SDK did not resend it


@pytest.mark.parametrize(
    ("body", "media_type"),
    [
        (b"", "text/event-stream"),
        (b'{"created": 1, "data": [{"b64_json": "QQ=="}]}', "application/json"),  # stream ignored
    ],
)
def test_image_stream_without_an_image_is_502(
    proxy: Any, fake: FakeUpstream, body: bytes, media_type: str
) -> None:
    from starlette.responses import Response

    fake.route("POST", "/v1/images/generations", lambda r: Response(body, media_type=media_type))
    client = openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, max_retries=0)
    with pytest.raises(openai.APIStatusError) as info:
        list(client.images.generate(model="gpt-image", prompt="x", stream=True))
    assert info.value.status_code == 502
    assert "without a completed image" in info.value.message


def test_image_stream_cut_after_partials_ends_with_an_error_event(
    proxy: Any, fake: FakeUpstream
) -> None:
    from starlette.responses import Response

    from tests.fakes.server import sse

    partial = {
        "type": "image_generation.partial_image",
        "b64_json": PNG_B64,
        "partial_image_index": 0,
        "created_at": 1,
        "size": "1024x1024",
        "quality": "low",
        "background": "opaque",
        "output_format": "png",
    }
    fake.route(
        "POST",
        "/v1/images/generations",
        lambda r: Response(
            sse([("image_generation.partial_image", partial)]), media_type="text/event-stream"
        ),
    )
    client = openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, max_retries=0)
    seen: list[str] = []
    with pytest.raises(openai.APIError, match="without a completed image"):
        for event in client.images.generate(
            model="gpt-image", prompt="x", stream=True, partial_images=1
        ):
            seen.append(event.type)
    assert seen == ["image_generation.partial_image"]


@pytest.mark.parametrize(
    ("body", "media_type"),
    [
        (b"", "text/event-stream"),
        (b": keep-alive\n\n", "text/event-stream"),
        (b'{"id": "c", "object": "chat.completion", "choices": []}', "application/json"),
    ],
)
def test_chat_stream_without_a_chunk_is_502(
    proxy: Any, fake: FakeUpstream, body: bytes, media_type: str
) -> None:
    from starlette.responses import Response

    fake.route("POST", "/v1/chat/completions", lambda r: Response(body, media_type=media_type))
    client = openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, max_retries=0)
    with pytest.raises(openai.APIStatusError) as info:
        list(
            client.chat.completions.create(
                model="chat-model", messages=[{"role": "user", "content": "x"}], stream=True
            )
        )
    assert info.value.status_code == 502
    assert "without a chunk" in info.value.message


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/images/generations", {"model": "gpt-image", "prompt": "slow"}),
        (
            "/v1/chat/completions",
            {"model": "chat-model", "messages": [{"role": "user", "content": "slow"}]},
        ),
        (
            "/v1/chat/completions",
            {
                "model": "chat-model",
                "stream": True,  # before its first chunk
                "messages": [{"role": "user", "content": "slow"}],
            },
        ),
    ],
)
def test_client_leaving_cancels_a_pending_upstream_call(
    proxy: Any, fake: FakeUpstream, path: str, body: dict[str, Any]
) -> None:
    import asyncio
    import threading

    from starlette.responses import StreamingResponse

    started, closed = threading.Event(), threading.Event()

    async def never_finishes() -> Any:
        try:
            started.set()
            for _ in range(600):  # an answer that takes 30 s to come
                await asyncio.sleep(0.05)
            yield b"{}"
        finally:
            closed.set()

    fake.route(
        "POST", path, lambda r: StreamingResponse(never_finishes(), media_type="application/json")
    )
    with pytest.raises(httpx.ReadTimeout):  # the client gives up and hangs up
        httpx.post(
            f"{proxy.base_url}{path}", json=body, headers=AUTH, timeout=httpx.Timeout(10, read=0.5)
        )
    assert started.is_set()
    assert closed.wait(timeout=10), "the upstream call outlived its client"
