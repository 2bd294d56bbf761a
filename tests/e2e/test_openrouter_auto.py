"""``openrouter_api: auto`` (the default) end to end: the proxy reads OpenRouter's image
model list (``GET /api/v1/images/models``) once, sends the models it names to the images API
(exact cost from ``usage.cost``) and the others to chat completions, streams what the list
marks ``supports_streaming``, and goes on through chat when the list cannot be read."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from starlette.responses import JSONResponse, Response

from proxy.providers.mock.png import render_png
from tests.conftest import MASTER_KEY
from tests.e2e.test_openrouter_edits import openrouter_stream
from tests.e2e.test_recraft_openrouter import or_answer, or_image
from tests.fakes.server import FakeUpstream, Received

KEY = "sk-or-v1-auto-93c2"
BASE = "/openrouter/api/v1"
DOWN_BASE = "/down/api/v1"  # an account whose model list answers 500
IMAGES_COST = 0.05
# The list as OpenRouter's API reference shows it ("List image generation models").
LISTING = {
    "data": [
        {
            "id": "bytedance-seed/seedream-4.5",
            "name": "Seedream 4.5",
            "created": 1692901234,
            "description": "A text-to-image model.",
            "architecture": {"input_modalities": ["text", "image"], "output_modalities": ["image"]},
            "endpoints": "/api/v1/images/models/bytedance-seed/seedream-4.5/endpoints",
            "supported_parameters": {"resolution": {"type": "enum", "values": ["1K", "2K", "4K"]}},
            "supports_streaming": False,
        },
        {
            "id": "openai/gpt-image-2",
            "name": "GPT Image 2",
            "created": 1776729600,
            "description": "OpenAI's image model.",
            "architecture": {"input_modalities": ["text", "image"], "output_modalities": ["image"]},
            "endpoints": "/api/v1/images/models/openai/gpt-image-2/endpoints",
            "supported_parameters": {"quality": {"type": "enum", "values": ["low", "high"]}},
            "supports_streaming": True,
        },
    ]
}


def png(shade: int) -> bytes:
    return render_png(8, 8, (shade, shade, shade))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def authorized(req: Received) -> bool:
    return req.headers.get("authorization") == f"Bearer {KEY}"


def listing(req: Received) -> Any:
    if not authorized(req):
        return JSONResponse({"error": {"code": 401, "message": "No auth credentials"}}, 401)
    return LISTING


def images(req: Received) -> Any:
    body = req.json()
    if body.get("stream"):
        return Response(openrouter_stream(png(99)), media_type="text/event-stream")
    usage = {"prompt_tokens": 0, "completion_tokens": 272, "total_tokens": 272}
    data = [{"b64_json": b64(png(40)), "media_type": "image/png"}]
    return {"created": 1748372400, "data": data, "usage": {**usage, "cost": IMAGES_COST}}


def chat(req: Received) -> Any:
    return or_answer([or_image(f"data:image/png;base64,{b64(png(70))}")], "Here you go.")


@pytest.fixture(scope="module")
def openrouter() -> Iterator[FakeUpstream]:
    """A fake OpenRouter whose routes stay for the module: the proxy reads the list as it
    starts."""
    server = FakeUpstream()
    for base in (BASE, DOWN_BASE):
        server.route("POST", f"{base}/images", images)
        server.route("POST", f"{base}/chat/completions", chat)
    server.route("GET", f"{BASE}/images/models", listing)
    server.route("GET", f"{DOWN_BASE}/images/models", lambda req: JSONResponse({}, 500))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def proxy(proxy_factory: Any, openrouter: FakeUpstream) -> Any:
    def deployment(name: str, model: str, base: str = BASE, **extra: Any) -> dict[str, Any]:
        params = {"model": f"openrouter/{model}", "api_key": KEY, **extra}
        return {
            "model_name": name,
            "litellm_params": {**params, "api_base": f"{openrouter.base}{base}"},
        }

    return proxy_factory(
        {
            "model_list": [
                deployment("seedream", "bytedance-seed/seedream-4.5"),
                deployment("gpt-image", "openai/gpt-image-2"),
                deployment("gemini", "google/gemini-2.5-flash-image"),  # not in the list
                deployment("seedream-chat", "bytedance-seed/seedream-4.5", openrouter_api="chat"),
                deployment(
                    "seedream-configured",
                    "bytedance-seed/seedream-4.5",
                    image_config={"aspect_ratio": "16:9"},
                ),
                deployment("seedream-down", "bytedance-seed/seedream-4.5", DOWN_BASE),
            ]
        }
    )


@pytest.fixture
def client(proxy: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, max_retries=0)


def calls(openrouter: FakeUpstream, since: int) -> list[str]:
    return [r.path for r in openrouter.requests[since:] if r.method == "POST"]


def test_a_listed_model_goes_to_the_images_api_with_its_exact_cost(
    client: openai.OpenAI, openrouter: FakeUpstream
) -> None:
    since = len(openrouter.requests)
    raw = client.images.with_raw_response.generate(model="seedream", prompt="a harbour", size="2K")
    result = raw.parse()
    assert result.data and base64.b64decode(result.data[0].b64_json or "") == png(40)
    assert calls(openrouter, since) == [f"{BASE}/images"]
    sent = openrouter.requests[-1].json()
    assert sent == {"model": "bytedance-seed/seedream-4.5", "prompt": "a harbour", "size": "2K"}
    assert float(raw.headers["x-response-cost"]) == pytest.approx(IMAGES_COST)


def test_a_model_the_list_does_not_name_goes_through_chat(
    client: openai.OpenAI, openrouter: FakeUpstream
) -> None:
    since = len(openrouter.requests)
    result = client.images.generate(model="gemini", prompt="a harbour")
    assert result.data and base64.b64decode(result.data[0].b64_json or "") == png(70)
    assert calls(openrouter, since) == [f"{BASE}/chat/completions"]


def test_chat_options_and_an_explicit_choice_keep_chat(
    client: openai.OpenAI, openrouter: FakeUpstream
) -> None:
    since = len(openrouter.requests)
    client.images.generate(model="seedream-chat", prompt="p")
    client.images.generate(model="seedream-configured", prompt="p")
    client.images.generate(model="seedream", prompt="p", extra_body={"image_config": {"x": 1}})
    assert calls(openrouter, since) == [f"{BASE}/chat/completions"] * 3


def test_streaming_follows_the_lists_supports_streaming(
    client: openai.OpenAI, openrouter: FakeUpstream
) -> None:
    since = len(openrouter.requests)
    events = list(client.images.generate(model="gpt-image", prompt="a lighthouse", stream=True))
    assert [e.type for e in events][-1] == "image_generation.completed"
    assert calls(openrouter, since) == [f"{BASE}/images"]
    with pytest.raises(openai.BadRequestError) as err:
        client.images.generate(model="seedream", prompt="p", stream=True)
    assert "does not stream bytedance-seed/seedream-4.5" in err.value.message
    assert calls(openrouter, since) == [f"{BASE}/images"]  # refused before any call


def test_the_list_is_read_once_per_account_and_a_failing_one_means_chat(
    client: openai.OpenAI, openrouter: FakeUpstream
) -> None:
    client.images.generate(model="seedream", prompt="p")
    since = len(openrouter.requests)
    result = client.images.generate(model="seedream-down", prompt="p")
    assert result.data and base64.b64decode(result.data[0].b64_json or "") == png(70)
    assert calls(openrouter, since) == [f"{DOWN_BASE}/chat/completions"]
    lists = [r for r in openrouter.requests if r.method == "GET"]
    assert sorted(r.path for r in lists) == [f"{DOWN_BASE}/images/models", f"{BASE}/images/models"]
    assert all(authorized(r) for r in lists)  # asked with the deployment's key


def test_what_each_deployment_learned_is_shown_to_the_master_key(
    client: openai.OpenAI, proxy: Any
) -> None:
    for model in ("seedream", "gpt-image", "gemini", "seedream-down"):
        client.images.generate(model=model, prompt="p")  # each taught by now, whatever start did
    rows = httpx.get(
        f"{proxy.base_url}/router/deployments", headers={"authorization": f"Bearer {MASTER_KEY}"}
    ).json()["deployments"]
    learned = {row["model_group"]: row["learned"] for row in rows}
    assert learned["seedream"] == {"openrouter.images_api": True, "openrouter.streams": False}
    assert learned["gpt-image"] == {"openrouter.images_api": True, "openrouter.streams": True}
    assert learned["gemini"] == {"openrouter.images_api": False}
    assert learned["seedream-down"] == {} and learned["seedream-chat"] == {}
