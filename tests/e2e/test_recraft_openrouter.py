"""Recraft and OpenRouter end to end through the official SDK, against fake upstreams that
speak their documented wire formats and check what they receive."""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any

import openai
import pytest
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse

from tests.conftest import MASTER_KEY
from tests.fakes.server import FakeUpstream, Received

PNG_B64 = base64.b64encode(b"\x89PNG\r\n\x1a\nopenrouter-image").decode()
RECRAFT_KEY = "recraft-token-8d21f0"
OPENROUTER_KEY = "sk-or-v1-upstream-3c7e"
GEMINI = "google/gemini-2.5-flash-image"


@pytest.fixture(scope="module")
def proxy(proxy_factory: Any, upstream: FakeUpstream) -> Any:
    base = upstream.base
    config = {
        "model_list": [
            {
                "model_name": "recraft",
                "litellm_params": {
                    "model": "recraft/recraftv3",
                    "api_key": RECRAFT_KEY,
                    "api_base": f"{base}/recraft/v1",
                },
            },
            {
                "model_name": "recraft-litellm-base",
                "litellm_params": {
                    "model": "recraft/recraftv4",
                    "api_key": RECRAFT_KEY,
                    "api_base": f"{base}/recraft",
                },
            },
            {
                "model_name": "recraft-badkey",
                "litellm_params": {
                    "model": "recraft/recraftv3",
                    "api_key": "wrong-token",
                    "api_base": f"{base}/recraft/v1",
                },
            },
            {
                "model_name": "nano-banana",
                "litellm_params": {
                    "model": f"openrouter/{GEMINI}",
                    "api_key": OPENROUTER_KEY,
                    "api_base": f"{base}/openrouter/api/v1",
                    "http_referer": "https://myapp.example",
                    "x_title": "My App",
                },
            },
            {
                "model_name": "flux-or",
                "litellm_params": {
                    "model": "openrouter/black-forest-labs/flux.2-pro",
                    "api_key": OPENROUTER_KEY,
                    "api_base": f"{base}/openrouter/api/v1",
                    "modalities": ["image"],
                    "extra_headers": {"X-Title": "Flux App"},
                },
            },
        ]
    }
    return proxy_factory(config)


@pytest.fixture
def client(proxy: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, max_retries=0)


# --- fake Recraft ---------------------------------------------------------------------

RECRAFT_SIZES_V3 = {"1024x1024", "1365x1024", "1820x1024", "16:9"}


def fake_recraft(req: Received) -> Any:
    if req.headers.get("authorization") != f"Bearer {RECRAFT_KEY}":
        return PlainTextResponse("request unauthorized", 401)
    body = req.json()
    if not isinstance(body.get("prompt"), str) or "model" not in body:
        return PlainTextResponse("prompt is required", 400)
    n = body.get("n", 1)
    fmt = body.get("response_format", "url")
    data = []
    for i in range(n):
        item: dict[str, Any] = {"image_id": f"a1f2c8d4-1234-4abc-9def-00000000000{i}"}
        if fmt == "b64_json":
            item["b64_json"] = PNG_B64
        else:
            item["url"] = f"https://img.recraft.ai/signed/{i}.png?sig=abc"
        data.append(item)
    return {"created": 1748140800, "credits": 40 * n, "data": data}


def test_recraft_style_and_substyle(client: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.route("POST", "/recraft/v1/images/generations", fake_recraft)
    result = client.images.generate(
        model="recraft",
        prompt="a friendly fox",
        size="1820x1024",
        n=2,
        extra_body={
            "style": "digital_illustration",  # a Recraft style, outside the SDK's Literal
            "substyle": "hand_drawn",
            "controls": {"colors": [{"rgb": [255, 142, 60]}], "no_text": True, "artistic_level": 3},
            "negative_prompt": "blurry",
        },
    )
    assert result.data is not None
    assert [d.url for d in result.data] == [
        "https://img.recraft.ai/signed/0.png?sig=abc",
        "https://img.recraft.ai/signed/1.png?sig=abc",
    ]
    assert result.created == 1748140800
    assert all(d.model_extra == {} for d in result.data)  # no image_id
    assert "credits" not in (result.model_extra or {})
    (req,) = fake.posts()
    assert req.json() == {
        "model": "recraftv3",
        "prompt": "a friendly fox",
        "size": "1820x1024",
        "n": 2,
        "style": "digital_illustration",
        "substyle": "hand_drawn",
        "controls": {"colors": [{"rgb": [255, 142, 60]}], "no_text": True, "artistic_level": 3},
        "negative_prompt": "blurry",
    }
    assert req.headers["authorization"] == f"Bearer {RECRAFT_KEY}"
    assert MASTER_KEY not in str(req.headers)


def test_recraft_b64_and_litellm_style_base(client: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.route("POST", "/recraft/v1/images/generations", fake_recraft)
    result = client.images.generate(
        model="recraft-litellm-base", prompt="x", size="1344x768", response_format="b64_json"
    )
    assert result.data is not None
    assert result.data[0].b64_json == PNG_B64
    (req,) = fake.posts()
    assert req.path == "/recraft/v1/images/generations"
    assert req.json()["model"] == "recraftv4" and req.json()["response_format"] == "b64_json"


@pytest.mark.parametrize("size", ["1792x1024", "1344x768", "512x512"])
def test_recraft_bad_size_is_400_naming_accepted(
    client: openai.OpenAI, fake: FakeUpstream, size: str
) -> None:
    fake.route("POST", "/recraft/v1/images/generations", fake_recraft)
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(model="recraft", prompt="x", size=size)
    err = info.value
    assert err.status_code == 400 and err.code == "invalid_size"
    assert size in err.message and "1820x1024" in err.message and "16:9" in err.message
    assert fake.posts() == []


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"quality": "hd"}, "quality"),
        ({"n": 7}, "n"),
        ({"extra_body": {"background": "transparent"}}, "background"),
        ({"extra_body": {"output_format": "webp"}}, "output_format"),
    ],
)
def test_recraft_unsupported_params_refused(
    client: openai.OpenAI, fake: FakeUpstream, kwargs: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(model="recraft", prompt="x", **kwargs)
    assert info.value.param == param
    assert fake.posts() == []


def test_recraft_plain_text_401(client: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.route("POST", "/recraft/v1/images/generations", fake_recraft)
    with pytest.raises(openai.APIStatusError) as info:
        client.images.generate(model="recraft-badkey", prompt="x")
    err = info.value
    assert err.status_code == 502
    assert isinstance(err.body, dict)
    assert err.body["type"] == "provider_auth_error"
    assert err.code == "provider_authentication_failed"
    assert "request unauthorized" in err.message
    assert "wrong-token" not in err.message
    assert fake.posts()[0].headers["authorization"] == "Bearer wrong-token"


# --- fake OpenRouter ------------------------------------------------------------------


def or_image(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}, "index": 0}


def or_answer(images: list[dict[str, Any]], content: str = "Here is your image.") -> Any:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if images:
        message["images"] = images
    return {
        "id": "gen-123",
        "object": "chat.completion",
        "created": 1748372400,
        "model": GEMINI,
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "native_finish_reason": "STOP",
                "message": message,
            }
        ],
        "usage": {
            "prompt_tokens": 6,
            "completion_tokens": 1299,
            "total_tokens": 1305,
            "completion_tokens_details": {"image_tokens": 1290},
            "cost": 0.0387,
        },
    }


def or_error(status: int, message: str, metadata: Any = None) -> JSONResponse:
    error: dict[str, Any] = {"code": status, "message": message}
    if metadata is not None:
        error["metadata"] = metadata
    return JSONResponse({"error": error}, status)


def checked(req: Received) -> Any:
    """Refuse what real OpenRouter would refuse; None when the request is well formed."""
    if req.headers.get("authorization") != f"Bearer {OPENROUTER_KEY}":
        return or_error(401, "No auth credentials found")
    body = req.json()
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        return or_error(400, "messages: Required")
    if "/" not in body.get("model", ""):
        return or_error(400, f"{body.get('model')} is not a valid model ID")
    return None


OR_PATH = "/openrouter/api/v1/chat/completions"


def test_openrouter_images_n2_fans_out(client: openai.OpenAI, fake: FakeUpstream) -> None:
    counter = itertools.count()

    def handler(req: Received) -> Any:
        if (problem := checked(req)) is not None:
            return problem
        body = req.json()
        if body.get("modalities") != ["image", "text"]:
            return or_answer([], "text only")
        i = next(counter)
        data = base64.b64encode(b"\x89PNG\r\n\x1a\nimage-%d" % i).decode()  # PNG-shaped
        return or_answer([or_image(f"data:image/png;base64,{data}")])

    fake.route("POST", OR_PATH, handler)
    result = client.images.generate(
        model="nano-banana", prompt="a sunset over mountains", n=2, size="1792x1024", quality="high"
    )
    assert result.data is not None
    got = sorted(base64.b64decode(d.b64_json or "") for d in result.data)
    assert got == [b"\x89PNG\r\n\x1a\nimage-0", b"\x89PNG\r\n\x1a\nimage-1"]
    assert result.usage is not None
    assert result.usage.output_tokens == 2 * 1299 and result.usage.total_tokens == 2 * 1305
    reqs = fake.received(OR_PATH)
    assert len(reqs) == 2
    for req in reqs:
        assert req.json() == {
            "model": GEMINI,
            "messages": [{"role": "user", "content": "a sunset over mountains"}],
            "modalities": ["image", "text"],
            "image_config": {"aspect_ratio": "16:9", "image_size": "4K"},
        }
        assert req.headers["http-referer"] == "https://myapp.example"
        assert req.headers["x-title"] == "My App"


def test_openrouter_images_http_url_and_image_only_model(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    def handler(req: Received) -> Any:
        if (problem := checked(req)) is not None:
            return problem
        assert req.json()["modalities"] == ["image"]
        return or_answer([or_image("https://cdn.openrouter.example/out.png")], "")

    fake.route("POST", OR_PATH, handler)
    result = client.images.generate(model="flux-or", prompt="a cat", size="1024x1536")
    assert result.data is not None
    assert result.data[0].url == "https://cdn.openrouter.example/out.png"
    (req,) = fake.posts()
    assert req.json()["image_config"] == {"aspect_ratio": "2:3"}
    assert req.json()["model"] == "black-forest-labs/flux.2-pro"
    assert req.headers["x-title"] == "Flux App" and "http-referer" not in req.headers


def test_openrouter_images_without_image_is_an_error(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    fake.route("POST", OR_PATH, lambda r: checked(r) or or_answer([], "I cannot draw that."))
    with pytest.raises(openai.APIStatusError) as info:
        client.images.generate(model="nano-banana", prompt="x")
    assert info.value.status_code == 502
    assert "without an image" in info.value.message and "I cannot draw that" in info.value.message


def test_openrouter_size_with_no_ratio_refused(client: openai.OpenAI, fake: FakeUpstream) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(model="nano-banana", prompt="x", size="3000x1000")
    assert info.value.param == "size" and "21:9" in info.value.message
    assert fake.posts() == []


@pytest.mark.parametrize(
    ("status", "answer", "exc", "code"),
    [
        (
            402,
            or_error(402, "Insufficient credits. Add more using https://openrouter.ai/credits"),
            openai.RateLimitError,
            "insufficient_quota",
        ),
        (
            403,
            or_error(
                403,
                "Input was flagged",
                {
                    "reasons": ["violence"],
                    "flagged_input": "x",
                    "provider_name": "OpenAI",
                    "model_slug": GEMINI,
                },
            ),
            openai.BadRequestError,
            "content_policy_violation",
        ),
        (429, or_error(429, "Rate limit exceeded"), openai.RateLimitError, "rate_limit_exceeded"),
        (
            502,
            or_error(502, "Provider returned error", {"error_type": "server"}),
            openai.InternalServerError,
            "upstream_error",
        ),
    ],
)
def test_openrouter_errors(
    client: openai.OpenAI, fake: FakeUpstream, status: int, answer: Any, exc: Any, code: str
) -> None:
    fake.route("POST", OR_PATH, lambda r: checked(r) or answer)
    with pytest.raises(exc) as info:
        client.images.generate(model="nano-banana", prompt="x")
    assert info.value.code == code
    assert OPENROUTER_KEY not in info.value.message
    with pytest.raises(exc) as info:
        client.chat.completions.create(
            model="nano-banana", messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.code == code


def test_openrouter_chat_plain(client: openai.OpenAI, fake: FakeUpstream) -> None:
    url = f"data:image/png;base64,{PNG_B64}"
    fake.route("POST", OR_PATH, lambda r: checked(r) or or_answer([or_image(url)]))
    result = client.chat.completions.create(
        model="nano-banana",
        messages=[{"role": "user", "content": "Draw a sunset"}],
        extra_body={"modalities": ["image", "text"], "image_config": {"aspect_ratio": "16:9"}},
    )
    message = result.choices[0].message
    assert message.content == "Here is your image."
    extra = message.model_extra or {}
    assert extra["images"] == [or_image(url)]
    assert extra["image"] == {"url": url, "detail": "auto"}
    assert result.model == "nano-banana"
    body = fake.posts()[0].json()
    assert body["modalities"] == ["image", "text"]
    assert body["image_config"] == {"aspect_ratio": "16:9"}
    assert body["model"] == GEMINI


def _sse(*frames: Any, done: bool = True) -> list[bytes]:
    out = []
    for f in frames:
        out.append(f if isinstance(f, bytes) else b"data: " + json.dumps(f).encode() + b"\n\n")
    if done:
        out.append(b"data: [DONE]\n\n")
    return out


def _chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "gen-9",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": GEMINI,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }


@pytest.mark.parametrize("include_usage", [True, False])
def test_openrouter_chat_stream(
    client: openai.OpenAI, fake: FakeUpstream, include_usage: bool
) -> None:
    url = f"data:image/png;base64,{PNG_B64}"
    usage = {"prompt_tokens": 6, "completion_tokens": 1299, "total_tokens": 1305, "cost": 0.04}
    frames = _sse(
        b": OPENROUTER PROCESSING\n\n",
        _chunk({"role": "assistant", "content": "Here "}),
        b": OPENROUTER PROCESSING\n\n",
        _chunk({"content": "it is."}),
        _chunk({"images": [or_image(url)]}),
        _chunk({}, "stop"),
        {
            "id": "gen-9",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": GEMINI,
            "choices": [],
            "usage": usage,
        },
    )

    def handler(req: Received) -> Any:
        if (problem := checked(req)) is not None:
            return problem
        assert req.json()["stream"] is True
        return StreamingResponse(iter(frames), media_type="text/event-stream")

    fake.route("POST", OR_PATH, handler)
    kwargs: dict[str, Any] = {"stream_options": {"include_usage": True}} if include_usage else {}
    chunks = list(
        client.chat.completions.create(
            model="nano-banana",
            messages=[{"role": "user", "content": "Draw"}],
            stream=True,
            extra_body={"modalities": ["image", "text"]},
            **kwargs,
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Here it is."
    image_deltas = [(c.choices[0].delta.model_extra or {}) for c in chunks if c.choices]
    with_images = [d for d in image_deltas if "images" in d]
    assert len(with_images) == 1
    assert with_images[0]["images"] == [or_image(url)]
    assert with_images[0]["image"] == {"url": url, "detail": "auto"}
    assert all(c.model == "nano-banana" for c in chunks)
    assert len([c for c in chunks if c.usage]) == (1 if include_usage else 0)


def test_openrouter_chat_stream_mid_stream_error(client: openai.OpenAI, fake: FakeUpstream) -> None:
    frames = _sse(
        _chunk({"role": "assistant", "content": "Start"}),
        _chunk(
            {"content": ""},
            "error",
            error={
                "code": 502,
                "message": "Provider disconnected unexpectedly",
                "metadata": {"error_type": "provider_unavailable"},
            },
        ),
        done=False,
    )
    fake.route(
        "POST",
        OR_PATH,
        lambda r: checked(r) or StreamingResponse(iter(frames), media_type="text/event-stream"),
    )
    stream = client.chat.completions.create(
        model="nano-banana", messages=[{"role": "user", "content": "x"}], stream=True
    )
    got: list[Any] = []
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            got.append(chunk)
    assert "Provider disconnected unexpectedly" in info.value.message
    assert [c.choices[0].delta.content for c in got] == ["Start"]


def test_openrouter_chat_image_model_asks_for_images_by_default(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    """OpenRouter only draws when ``modalities`` includes "image": a plain chat request to an
    image model (no ``modalities`` from the client or the deployment) still gets its image."""
    url = f"data:image/png;base64,{PNG_B64}"

    def handler(req: Received) -> Any:
        if (problem := checked(req)) is not None:
            return problem
        drawn = "image" in (req.json().get("modalities") or [])
        return or_answer([or_image(url)] if drawn else [], "text only")

    fake.route("POST", OR_PATH, handler)
    result = client.chat.completions.create(
        model="nano-banana", messages=[{"role": "user", "content": "Draw a sunset"}]
    )
    extra = result.choices[0].message.model_extra or {}
    assert extra["image"] == {"url": url, "detail": "auto"}
    assert fake.posts()[0].json()["modalities"] == ["image", "text"]
