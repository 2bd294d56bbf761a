"""``response_format`` for Recraft, OpenRouter and Bedrock, end to end through the OpenAI SDK:
the bytes the client gets (inline or behind a link) are the provider's image."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import openai
import pytest
from starlette.responses import Response

from proxy.providers.mock.png import render_png
from tests.conftest import MASTER_KEY
from tests.fakes.server import FakeUpstream, Received

RECRAFT_PNG = render_png(9, 9, (1, 100, 200))
OR_PNG = render_png(10, 10, (200, 100, 1))
NOVA_PNG = render_png(11, 11, (50, 50, 150))
OR_PATH = "/openrouter/api/v1/chat/completions"
NOVA = "amazon.nova-canvas-v1:0"
BEDROCK_KEY = "bedrock-api-key-delivery"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def proxy(
    proxy_factory: Any, upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    base = upstream.base

    def model(name: str, model: str, **params: Any) -> dict[str, Any]:
        return {"model_name": name, "litellm_params": {"model": model, **params}}

    return proxy_factory(
        {
            "model_list": [
                model("recraft", "recraft/recraftv3", api_key="rk", api_base=f"{base}/recraft/v1"),
                model(
                    "or-image",
                    "openrouter/google/gemini-2.5-flash-image",
                    api_key="ok",
                    api_base=f"{base}/openrouter/api/v1",
                ),
                model(
                    "nova",
                    f"bedrock/{NOVA}",
                    api_key=BEDROCK_KEY,
                    aws_region_name="us-east-1",
                    api_base=base,
                ),
            ],
            "general_settings": {
                "image_store": {"path": str(tmp_path_factory.mktemp("store"))},
                "image_fetch": {
                    "allowed_hosts": ["127.0.0.1"],
                    "allow_private_cidrs": ["127.0.0.1/32"],
                },
            },
        }
    )


@pytest.fixture
def client(proxy: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, max_retries=0)


def fetch_link(url: str | None, proxy: Any) -> bytes:
    assert url is not None and url.startswith(f"{proxy.base_url}/v1/images/files/")
    r = httpx.get(url)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    return r.content


def test_recraft_both_formats(client: openai.OpenAI, fake: FakeUpstream) -> None:
    def recraft(r: Received) -> Any:
        if r.json().get("response_format") == "b64_json":
            return {
                "created": 1,
                "credits": 1,
                "data": [{"image_id": "x", "b64_json": b64(RECRAFT_PNG)}],
            }
        return {
            "created": 1,
            "credits": 1,
            "data": [{"image_id": "x", "url": "https://img.recraft.ai/a/b.png"}],
        }

    fake.route("POST", "/recraft/v1/images/generations", recraft)
    inline = client.images.generate(model="recraft", prompt="p", response_format="b64_json")
    assert inline.data is not None
    assert base64.b64decode(inline.data[0].b64_json or "") == RECRAFT_PNG
    linked = client.images.generate(model="recraft", prompt="p", response_format="url")
    assert linked.data is not None
    assert linked.data[0].url == "https://img.recraft.ai/a/b.png"


def or_answer(url: str) -> dict[str, Any]:
    return {
        "id": "g",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {
                    "role": "assistant",
                    "content": "",
                    "images": [{"type": "image_url", "image_url": {"url": url}}],
                },
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def test_openrouter_data_url_both_formats(
    client: openai.OpenAI, fake: FakeUpstream, proxy: Any
) -> None:
    fake.route("POST", OR_PATH, lambda r: or_answer(f"data:image/png;base64,{b64(OR_PNG)}"))
    linked = client.images.generate(model="or-image", prompt="p", n=2, response_format="url")
    assert linked.data is not None
    assert [fetch_link(d.url, proxy) for d in linked.data] == [OR_PNG, OR_PNG]
    inline = client.images.generate(model="or-image", prompt="p", response_format="b64_json")
    assert inline.data is not None
    assert base64.b64decode(inline.data[0].b64_json or "") == OR_PNG
    assert all("response_format" not in r.json() for r in fake.received(OR_PATH))


def test_openrouter_http_url_downloaded_for_b64(client: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.route("POST", OR_PATH, lambda r: or_answer(f"{fake.base}/or-cdn/out.png"))
    fake.route("GET", "/or-cdn/out.png", lambda r: Response(OR_PNG, media_type="image/png"))
    inline = client.images.generate(model="or-image", prompt="p", response_format="b64_json")
    assert inline.data is not None
    assert base64.b64decode(inline.data[0].b64_json or "") == OR_PNG
    kept = client.images.generate(model="or-image", prompt="p")
    assert kept.data is not None
    assert kept.data[0].url == f"{fake.base}/or-cdn/out.png"


def test_openrouter_chat_links(client: openai.OpenAI, fake: FakeUpstream, proxy: Any) -> None:
    fake.route("POST", OR_PATH, lambda r: or_answer(f"data:image/png;base64,{b64(OR_PNG)}"))
    result = client.chat.completions.create(
        model="or-image",
        messages=[{"role": "user", "content": "draw"}],
        extra_body={"image_response_format": "url"},
    )
    extra = result.choices[0].message.model_extra or {}
    assert fetch_link(extra["images"][0]["image_url"]["url"], proxy) == OR_PNG
    assert "image_response_format" not in fake.received(OR_PATH)[0].json()


def test_bedrock_both_formats(client: openai.OpenAI, fake: FakeUpstream, proxy: Any) -> None:
    def nova(r: Received) -> Any:
        assert r.headers["authorization"] == f"Bearer {BEDROCK_KEY}"
        count = r.json().get("imageGenerationConfig", {}).get("numberOfImages", 1)
        return {"images": [b64(NOVA_PNG)] * count}

    fake.route("POST", f"/model/{NOVA}/invoke", nova)
    linked = client.images.generate(
        model="nova", prompt="p", n=2, size="1024x1024", response_format="url"
    )
    assert linked.data is not None
    assert [fetch_link(d.url, proxy) for d in linked.data] == [NOVA_PNG, NOVA_PNG]
    inline = client.images.generate(model="nova", prompt="p", response_format="b64_json")
    assert inline.data is not None
    assert base64.b64decode(inline.data[0].b64_json or "") == NOVA_PNG
