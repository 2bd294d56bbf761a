"""OpenRouter image edits and OpenRouter's images API end to end: ``client.images.edit`` /
``client.images.generate`` of the official OpenAI SDK through the proxy to a fake OpenRouter
on loopback that speaks its wire format (chat completions with ``message.images``, and
``POST /images``), verifying exactly what reached it and the cost it reported."""

from __future__ import annotations

import base64
import itertools
from typing import Any

import openai
import pytest
from openai.types import ImageGenCompletedEvent
from starlette.responses import JSONResponse, Response

from proxy.providers.mock.png import render_png
from tests.conftest import MASTER_KEY
from tests.e2e.test_recraft_openrouter import or_answer, or_image
from tests.fakes.server import FakeUpstream, Received, sse

OPENROUTER_KEY = "sk-or-v1-edits-51d0"
GEMINI = "google/gemini-2.5-flash-image"
GPT_IMAGE = "openai/gpt-image-2"
CHAT_PATH = "/openrouter/api/v1/chat/completions"
IMAGES_PATH = "/openrouter/api/v1/images"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(64))
CALL_COST = 0.0387  # usage.cost of one chat call (or_answer)
IMAGES_COST = 0.13  # usage.cost of one images-API call


def png(width: int, height: int, shade: int) -> bytes:
    return render_png(width, height, (shade, shade, shade))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def data_url_part(data: bytes, media_type: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": f"data:{media_type};base64,{b64(data)}"}}


@pytest.fixture(scope="module")
def proxy(proxy_factory: Any, upstream: FakeUpstream) -> Any:
    openrouter = {"api_key": OPENROUTER_KEY, "api_base": f"{upstream.base}/openrouter/api/v1"}
    return proxy_factory(
        {
            "model_list": [
                {
                    "model_name": "or-edit",
                    "litellm_params": {"model": f"openrouter/{GEMINI}", **openrouter},
                    "model_info": {"mode": "image_edit"},
                },
                {
                    "model_name": "or-flux-images",
                    "litellm_params": {
                        "model": "openrouter/black-forest-labs/flux.2-pro",
                        "openrouter_api": "images",
                        **openrouter,
                    },
                },
                {
                    "model_name": "or-images",
                    "litellm_params": {
                        "model": f"openrouter/{GPT_IMAGE}",
                        "openrouter_api": "images",
                        "x_title": "Edits App",
                        **openrouter,
                    },
                },
            ]
        }
    )


@pytest.fixture
def client(proxy: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, max_retries=0)


def refused(req: Received) -> JSONResponse | None:
    """What real OpenRouter refuses before it calls a model; None when well formed."""
    if req.headers.get("authorization") != f"Bearer {OPENROUTER_KEY}":
        return JSONResponse({"error": {"code": 401, "message": "No auth credentials"}}, 401)
    if "/" not in req.json().get("model", ""):
        return JSONResponse({"error": {"code": 400, "message": "not a valid model ID"}}, 400)
    return None


def chat_answer(image: bytes) -> Any:
    return or_answer([or_image(f"data:image/png;base64,{b64(image)}")], "Here you go.")


def chat_route(fake: FakeUpstream) -> list[bytes]:
    """A fake chat endpoint that draws one distinct PNG per call; returns what it drew."""
    drawn: list[bytes] = []
    shades = itertools.count(10, 40)

    def handler(req: Received) -> Any:
        if (problem := refused(req)) is not None:
            return problem
        body = req.json()
        if "image" not in body.get("modalities", []):
            return {**chat_answer(b""), "choices": [{"index": 0, "message": {"content": "?"}}]}
        image = png(8, 8, next(shades))
        drawn.append(image)
        return chat_answer(image)

    fake.route("POST", CHAT_PATH, handler)
    return drawn


def test_edit_sends_both_images_as_data_url_parts_in_order_and_bills_usage_cost(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    drawn = chat_route(fake)
    first = png(24, 16, 30)
    raw = client.images.with_raw_response.edit(
        model="or-edit",
        image=[("a.png", first), ("b.jpg", JPEG, "image/jpeg")],
        prompt="put the hat from the second image on the cat in the first",
        size="1792x1024",
    )
    result = raw.parse()
    assert result.data is not None and len(result.data) == 1
    assert base64.b64decode(result.data[0].b64_json or "") == drawn[0]
    (sent,) = fake.posts()
    assert sent.path == CHAT_PATH
    assert sent.headers["authorization"] == f"Bearer {OPENROUTER_KEY}"
    assert sent.json() == {
        "model": GEMINI,
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "text",
                        "text": "put the hat from the second image on the cat in the first",
                    },
                    data_url_part(first, "image/png"),
                    data_url_part(JPEG, "image/jpeg"),
                ],
            }
        ],
        "modalities": ["image", "text"],
        "image_config": {"aspect_ratio": "16:9"},
    }
    assert float(raw.headers["x-response-cost"]) == pytest.approx(CALL_COST)
    assert result.usage is not None and result.usage.output_tokens == 1299


def test_edit_n_fans_out_into_calls_and_sums_their_cost(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    drawn = chat_route(fake)
    image = png(8, 8, 70)
    raw = client.images.with_raw_response.edit(
        model="or-edit", image=("a.png", image), prompt="make it night", n=3
    )
    result = raw.parse()
    assert result.data is not None
    assert sorted(base64.b64decode(d.b64_json or "") for d in result.data) == sorted(drawn)
    assert len(drawn) == 3
    sent = fake.received(CHAT_PATH)
    assert len(sent) == 3 and fake.posts() == sent
    expected = sent[0].json()
    assert expected["messages"][0]["content"][1] == data_url_part(image, "image/png")
    assert all(r.json() == expected for r in sent)
    assert "n" not in expected
    assert float(raw.headers["x-response-cost"]) == pytest.approx(3 * CALL_COST)


def test_a_mask_is_refused_without_an_upstream_call(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    chat_route(fake)
    with pytest.raises(openai.BadRequestError) as err:
        client.images.edit(
            model="or-edit",
            image=("a.png", png(8, 8, 10)),
            mask=("m.png", png(8, 8, 200)),
            prompt="replace the sky",
        )
    assert err.value.status_code == 400
    assert "OpenRouter edits by prompt" in err.value.message
    body = err.value.body
    assert isinstance(body, dict) and body.get("param") == "mask"
    assert fake.posts() == []


def test_streamed_edit_is_refused_without_an_upstream_call(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    chat_route(fake)
    with pytest.raises(openai.BadRequestError) as err:
        client.images.edit(model="or-edit", image=("a.png", png(8, 8, 10)), prompt="p", stream=True)
    assert "stream" in err.value.message
    assert fake.posts() == []


def test_upstream_error_is_mapped_without_the_key_or_image_bytes(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    fake.route(
        "POST",
        CHAT_PATH,
        lambda req: JSONResponse(
            {"error": {"code": 402, "message": "Insufficient credits. Add more."}}, 402
        ),
    )
    image = png(8, 8, 99)
    with pytest.raises(openai.APIStatusError) as err:
        client.images.edit(model="or-edit", image=("a.png", image), prompt="p")
    assert err.value.status_code in (402, 429, 502, 503)
    assert "insufficient credits" in err.value.message.lower()
    assert OPENROUTER_KEY not in err.value.message
    assert b64(image)[:40] not in err.value.message


# --- OpenRouter's images API ----------------------------------------------------------


def images_route(fake: FakeUpstream) -> None:
    def handler(req: Received) -> Any:
        if (problem := refused(req)) is not None:
            return problem
        body = req.json()
        n = body.get("n", 1)
        data = [{"b64_json": b64(png(8, 8, 20 + i)), "media_type": "image/png"} for i in range(n)]
        usage = {"prompt_tokens": 0, "completion_tokens": 272, "total_tokens": 272}
        return {"created": 1748372400, "data": data, "usage": {**usage, "cost": IMAGES_COST}}

    fake.route("POST", IMAGES_PATH, handler)


def test_images_api_generation_is_one_call_with_openrouter_fields_and_its_cost(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    images_route(fake)
    raw = client.images.with_raw_response.generate(
        model="or-images",
        prompt="a storefront at blue hour",
        size="1536x1024",
        quality="high",
        background="transparent",
        output_format="png",
        n=2,
        extra_body={"seed": 11, "provider": {"only": ["openai"]}},
    )
    result = raw.parse()
    assert result.data is not None and len(result.data) == 2
    assert all(base64.b64decode(d.b64_json or "").startswith(b"\x89PNG") for d in result.data)
    (sent,) = fake.posts()
    assert sent.path == IMAGES_PATH
    assert sent.headers["x-title"] == "Edits App"
    assert sent.json() == {
        "model": GPT_IMAGE,
        "prompt": "a storefront at blue hour",
        "size": "1536x1024",
        "quality": "high",
        "background": "transparent",
        "output_format": "png",
        "n": 2,
        "seed": 11,
        "provider": {"only": ["openai"]},
    }
    assert float(raw.headers["x-response-cost"]) == pytest.approx(IMAGES_COST)


def test_images_api_edit_sends_input_references(client: openai.OpenAI, fake: FakeUpstream) -> None:
    images_route(fake)
    first, second = png(16, 16, 40), png(16, 16, 80)
    raw = client.images.with_raw_response.edit(
        model="or-images",
        image=[("a.png", first), ("b.png", second)],
        prompt="blend them",
        extra_body={"seed": 5},
    )
    assert raw.parse().data is not None
    (sent,) = fake.received(IMAGES_PATH)
    assert sent.json() == {
        "model": GPT_IMAGE,
        "prompt": "blend them",
        "seed": 5,
        "input_references": [data_url_part(first, "image/png"), data_url_part(second, "image/png")],
    }
    assert float(raw.headers["x-response-cost"]) == pytest.approx(IMAGES_COST)


def test_images_api_stream_and_bad_input_are_400s_without_a_call(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    images_route(fake)
    with pytest.raises(openai.BadRequestError) as err:
        client.images.generate(model="or-flux-images", prompt="p", stream=True)
    assert "stream" in err.value.message and "does not stream" in err.value.message
    with pytest.raises(openai.BadRequestError) as err:
        client.images.generate(model="or-edit", prompt="p", stream=True)
    assert "only through its images API" in err.value.message
    with pytest.raises(openai.BadRequestError) as err:
        client.images.generate(
            model="or-images", prompt="p", background="transparent", output_format="jpeg"
        )
    assert "transparent" in err.value.message
    assert fake.posts() == []


def openrouter_stream(final: bytes) -> bytes:
    """What OpenRouter streams from an OpenAI model: ``data:`` lines only, then [DONE]."""
    usage = {"prompt_tokens": 16, "completion_tokens": 272, "total_tokens": 288}
    return b": OPENROUTER PROCESSING\n\n" + sse(
        [
            (None, {"type": "image_generation.partial_image", "partial_image_index": 0,
                    "b64_json": b64(png(4, 4, 1))}),
            (None, {"type": "image_generation.partial_image", "partial_image_index": 1,
                    "b64_json": b64(png(4, 4, 2))}),
            (None, {"type": "image_generation.completed", "b64_json": b64(final),
                    "media_type": "image/png", "created": 1748372400,
                    "usage": {**usage, "cost": IMAGES_COST}}),
        ],
        done=True,
    )  # fmt: skip


def test_images_api_stream_relays_previews_and_the_final_image(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    final = png(8, 8, 123)

    def handler(req: Received) -> Any:
        if (problem := refused(req)) is not None:
            return problem
        assert req.json()["stream"] is True
        return Response(openrouter_stream(final), media_type="text/event-stream")

    fake.route("POST", IMAGES_PATH, handler)
    events = list(client.images.generate(model="or-images", prompt="a lighthouse", stream=True))
    assert [e.type for e in events] == [
        "image_generation.partial_image",
        "image_generation.partial_image",
        "image_generation.completed",
    ]
    completed = events[-1]
    assert isinstance(completed, ImageGenCompletedEvent)
    assert base64.b64decode(completed.b64_json) == final
    assert completed.usage.output_tokens == 272
    (sent,) = fake.received(IMAGES_PATH)
    assert sent.json() == {"model": GPT_IMAGE, "prompt": "a lighthouse", "stream": True}


def test_images_api_streamed_edit_relays_image_edit_events(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    final = png(8, 8, 77)
    fake.route(
        "POST",
        IMAGES_PATH,
        lambda req: Response(openrouter_stream(final), media_type="text/event-stream"),
    )
    image = png(8, 8, 5)
    stream = client.images.edit(
        model="or-images", image=("a.png", image), prompt="make it night", stream=True
    )
    events = list(stream)
    assert [e.type for e in events] == [
        "image_edit.partial_image",
        "image_edit.partial_image",
        "image_edit.completed",
    ]
    assert base64.b64decode(events[-1].b64_json) == final
    (sent,) = fake.received(IMAGES_PATH)
    body = sent.json()
    assert body["stream"] is True
    assert body["input_references"] == [data_url_part(image, "image/png")]


def test_images_api_stream_error_event_ends_the_stream_with_an_error(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    error = {"type": "error", "error": {"message": "The upstream provider returned an error",
                                        "code": "upstream_error"}}  # fmt: skip
    body = sse(
        [(None, {"type": "image_generation.partial_image", "partial_image_index": 0,
                 "b64_json": b64(png(4, 4, 1))}), (None, error)],
        done=True,
    )  # fmt: skip
    fake.route("POST", IMAGES_PATH, lambda req: Response(body, media_type="text/event-stream"))
    with pytest.raises(openai.APIError) as err:
        list(client.images.generate(model="or-images", prompt="p", stream=True))
    assert "upstream provider returned an error" in str(err.value.message)
