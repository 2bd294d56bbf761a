"""OpenRouter edits and OpenRouter's images API without a network: the multipart body the
official OpenAI SDK records -> the proxy's reading of it -> the chat-completions (or
``POST /images``) bodies the adapter builds -> recorded answers parsed back and priced from
``usage.cost``."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from proxy.api.uploads import UploadFiles, read_multipart
from proxy.attempt.edits import EDITS
from proxy.config import ConfigError, Deployment
from proxy.errors import InvalidRequestError, UpstreamError, UpstreamQuotaError
from proxy.pricing.usage import provider_cost
from proxy.providers.openrouter.common import images_url
from proxy.providers.openrouter.images import OpenRouterImages
from proxy.schemas import ImageRequest
from proxy.schemas.edits import EditRequest, InputImage
from proxy.upstream_request import UpstreamRequest, UpstreamResponse
from tests.fakes.streams import translate
from tests.unit.test_edit_translation import LIMITS, as_starlette, png, recorded_edit
from tests.unit.test_edit_translation import deployment as configured
from tests.unit.test_google_edits import edit

ADAPTER = OpenRouterImages()
MODEL = "google/gemini-2.5-flash-image"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(200))
WEBP = b"RIFF\x20\x00\x00\x00WEBPVP8 " + bytes(range(100))
OUT_PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nedited").decode()
CHAT_URL = "https://openrouter.ai/api/v1/chat/completions"
IMAGES_URL = "https://openrouter.ai/api/v1/images"

# A chat answer as OpenRouter documents it (guide + LiteLLM's captured response).
CHAT_ANSWER = {
    "id": "gen-1748372400-abc",
    "object": "chat.completion",
    "created": 1748372400,
    "model": MODEL,
    "choices": [
        {
            "index": 0,
            "finish_reason": "stop",
            "message": {
                "role": "assistant",
                "content": "Here is the edited image.",
                "images": [
                    {
                        "type": "image_url",
                        "image_url": {"url": f"data:image/png;base64,{OUT_PNG}"},
                        "index": 0,
                    }
                ],
            },
        }
    ],
    "usage": {
        "prompt_tokens": 1294,
        "completion_tokens": 1299,
        "total_tokens": 2593,
        "completion_tokens_details": {"image_tokens": 1290},
        "cost": 0.0391122,
        "is_byok": False,
    },
}
# POST /images answer (OpenRouter's ImageGenerationResponse).
IMAGES_ANSWER = {
    "created": 1748372400,
    "data": [
        {"b64_json": OUT_PNG, "media_type": "image/png"},
        {"b64_json": OUT_PNG, "media_type": "image/png"},
    ],
    "usage": {"prompt_tokens": 0, "completion_tokens": 4175, "total_tokens": 4175, "cost": 0.08},
}


def dep(model: str = f"openrouter/{MODEL}", **params: Any) -> Deployment:
    return configured(model, **params)


def images_api(model: str = "openrouter/openai/gpt-image-2", **params: Any) -> Deployment:
    return dep(model, openrouter_api="images", **params)


def sent(req: UpstreamRequest) -> dict[str, Any]:
    assert req.body is not None
    body: dict[str, Any] = orjson.loads(req.body)
    return body


def data_url(data: bytes, media_type: str) -> dict[str, Any]:
    url = f"data:{media_type};base64,{base64.b64encode(data).decode()}"
    return {"type": "image_url", "image_url": {"url": url}}


def answer(body: Any, status: int = 200) -> UpstreamResponse:
    return UpstreamResponse(status, {}, orjson.dumps(body))


# --- edits through chat completions ---------------------------------------------------


async def test_the_sdk_payload_of_three_images_becomes_one_user_message_of_parts() -> None:
    first = png(16, 12, 1)
    recorded = recorded_edit(
        model="nano",
        image=[("a.png", first), ("b.jpg", JPEG, "image/jpeg"), ("c.webp", WEBP)],
        prompt="put the hat from the second image on the cat in the first",
        size="1536x1024",
        quality="medium",
        n=3,
        extra_body={"seed": 7},
    )
    upload = await read_multipart(as_starlette(recorded), LIMITS, UploadFiles())
    request = EditRequest.from_parts(upload.fields, tuple(upload.images))
    reqs = ADAPTER.build_edit(request, dep(http_referer="https://app.example"))
    assert len(reqs) == 3  # one image per chat call: n fans out
    for req in reqs:
        assert req.url == CHAT_URL
        assert req.headers == {
            "content-type": "application/json",
            "HTTP-Referer": "https://app.example",
        }
        assert sent(req) == {
            "model": MODEL,
            "seed": 7,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "text",
                            "text": "put the hat from the second image on the cat in the first",
                        },
                        data_url(first, "image/png"),
                        data_url(JPEG, "image/jpeg"),
                        data_url(WEBP, "image/webp"),
                    ],
                }
            ],
            "modalities": ["image", "text"],
            "image_config": {"aspect_ratio": "3:2", "image_size": "2K"},
        }
    # the images are serialized once and shared; each call has headers of its own
    assert reqs[0].body is reqs[1].body is reqs[2].body
    assert len({id(r.headers) for r in reqs}) == 3


def test_deployment_modalities_and_image_config_apply_to_edits() -> None:
    d = dep(
        "openrouter/black-forest-labs/flux.2-pro",
        modalities=["image"],
        image_config={"image_size": "1K"},
    )
    (req,) = ADAPTER.build_edit(edit(png(8, 8), size="auto"), d)
    body = sent(req)
    assert body["modalities"] == ["image"]
    assert body["image_config"] == {"image_size": "1K"}
    assert body["model"] == "black-forest-labs/flux.2-pro"


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"mask": png(8, 8)}, "mask"),
        ({"input_fidelity": "high"}, "input_fidelity"),
        ({"size": "1000x100"}, "size"),  # no aspect ratio near 10:1
        ({"quality": "ultra"}, "quality"),
        ({"style": "vivid"}, "style"),
        ({"modalities": ["text"]}, "modalities"),
    ],
)
def test_what_openrouter_cannot_do_is_a_400_before_any_call(
    kwargs: dict[str, Any], param: str
) -> None:
    with pytest.raises(InvalidRequestError) as err:
        ADAPTER.build_edit(edit(png(8, 8), **kwargs), dep())
    assert err.value.param == param
    if param == "mask":
        assert "OpenRouter edits by prompt" in err.value.message
    assert "base64" not in err.value.message


def test_markup_is_refused_and_input_fidelity_low_is_fine() -> None:
    request = EditRequest.from_parts(
        {"model": "m", "prompt": "p"}, (InputImage(png(8, 8), "image/png", "a"),),
        markup=InputImage(png(8, 8), "image/png", "m"),
    )  # fmt: skip
    with pytest.raises(InvalidRequestError) as err:
        ADAPTER.build_edit(request, dep())
    assert err.value.param == "markup"
    (req,) = ADAPTER.build_edit(edit(png(8, 8), input_fidelity="low"), dep())
    assert "input_fidelity" not in sent(req)


def test_an_edit_answer_parses_as_a_generation_and_is_priced_from_usage_cost() -> None:
    request = edit(png(8, 8))
    d = dep()
    result = ADAPTER.parse_edit(answer(CHAT_ANSWER), request, d)
    generated = ADAPTER.parse(answer(CHAT_ANSWER), ImageRequest.from_body(request.body), d)
    assert result == generated
    assert result.data == [{"url": f"data:image/png;base64,{OUT_PNG}"}]
    assert result.created == 1748372400
    assert result.usage is not None
    assert result.usage.raw == {
        "input_tokens": 1294,
        "output_tokens": 1299,
        "total_tokens": 2593,
        "output_tokens_details": {"image_tokens": 1290, "text_tokens": 9},
        "cost": 0.0391122,
    }
    assert provider_cost(result.usage.raw) == 0.0391122


def test_an_edit_answer_without_an_image_or_with_an_error_is_an_error() -> None:
    text_only = {
        **CHAT_ANSWER,
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"content": "no"}}],
    }
    with pytest.raises(UpstreamError) as err:
        ADAPTER.parse_edit(answer(text_only), edit(png(8, 8)), dep())
    assert "without an image" in err.value.message
    no_credits = answer({"error": {"code": 402, "message": "Insufficient credits"}}, 402)
    assert isinstance(ADAPTER.map_error(no_credits, dep()), UpstreamQuotaError)


def test_openrouter_deployments_can_edit() -> None:
    assert EDITS.refusal(dep()) is None
    assert EDITS.refusal(images_api()) is None
    assert ADAPTER.supports_edit_stream is True  # images-API deployments of OpenAI models


# --- OpenRouter's images API (openrouter_api: images) ----------------------------------


@pytest.mark.parametrize(
    ("api_base", "url"),
    [
        (None, IMAGES_URL),
        ("https://openrouter.ai/api/v1/", IMAGES_URL),
        ("https://openrouter.ai/api/v1/chat/completions", IMAGES_URL),
        ("http://127.0.0.1:9/or/api/v1/images", "http://127.0.0.1:9/or/api/v1/images"),
    ],
)
def test_images_url(api_base: str | None, url: str) -> None:
    params = {"api_base": api_base} if api_base else {}
    assert images_url(images_api(**params)) == url


def test_openrouter_api_is_checked_when_the_config_loads() -> None:
    with pytest.raises(ConfigError) as err:
        dep(openrouter_api="responses")
    assert "openrouter_api" in str(err.value)


def generation(d: Deployment, **body: Any) -> list[UpstreamRequest]:
    return ADAPTER.build(ImageRequest.from_body({"model": "or", "prompt": "a fox", **body}), d)


def test_a_generation_on_the_images_api_is_one_call_with_every_field() -> None:
    (req,) = generation(
        images_api(),
        size="1536x1024",
        quality="hd",
        background="transparent",
        output_format="webp",
        output_compression=80,
        n=3,
        seed=42,
        response_format="b64_json",
        user="u-1",
        extra_field={"kept": True},
        provider={"only": ["openai"]},
    )
    assert req.url == IMAGES_URL
    assert sent(req) == {
        "model": "openai/gpt-image-2",
        "prompt": "a fox",
        "size": "1536x1024",
        "quality": "high",
        "background": "transparent",
        "output_format": "webp",
        "output_compression": 80,
        "n": 3,
        "seed": 42,
        "user": "u-1",
        "extra_field": {"kept": True},
        "provider": {"only": ["openai"]},
    }


@pytest.mark.parametrize(
    ("body", "sent_shape"),
    [
        ({}, {}),
        ({"size": "auto"}, {}),
        ({"size": "2K"}, {"size": "2K"}),
        ({"size": "16:9"}, {"aspect_ratio": "16:9"}),
        ({"size": "16:9", "aspect_ratio": "16:9"}, {"aspect_ratio": "16:9"}),
        (
            {"aspect_ratio": "21:9", "resolution": "4K"},
            {"aspect_ratio": "21:9", "resolution": "4K"},
        ),
        ({"quality": "standard"}, {"quality": "low"}),
        ({"quality": "auto"}, {"quality": "auto"}),
    ],
)
def test_images_api_shape_and_quality(body: dict[str, Any], sent_shape: dict[str, Any]) -> None:
    (req,) = generation(images_api(), **body)
    assert sent(req) == {"model": "openai/gpt-image-2", "prompt": "a fox", **sent_shape}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"size": "huge"}, "size"),
        ({"size": "16:9", "aspect_ratio": "1:1"}, "size"),
        ({"aspect_ratio": "7:3"}, "aspect_ratio"),
        ({"resolution": "8K"}, "resolution"),
        ({"quality": "ultra"}, "quality"),
        ({"background": "transparent", "output_format": "jpeg"}, "background"),
        ({"background": "none"}, "background"),
        ({"output_format": "gif"}, "output_format"),
        ({"seed": "7"}, "seed"),
        ({"image_config": {"aspect_ratio": "1:1"}}, "image_config"),
        ({"image_size": "2K"}, "image_size"),
        ({"modalities": ["image"]}, "modalities"),
    ],
)
def test_images_api_bad_input_is_a_400_naming_it(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequestError) as err:
        generation(images_api(), **body)
    assert err.value.param == param


def test_images_api_answer_is_base64_with_the_exact_cost() -> None:
    d = images_api()
    request = ImageRequest.from_body({"model": "or", "prompt": "a fox", "n": 2})
    result = ADAPTER.parse(answer(IMAGES_ANSWER), request, d)
    assert result.data == [{"b64_json": OUT_PNG}, {"b64_json": OUT_PNG}]
    assert result.extra == {"output_format": "png"}
    assert result.created == 1748372400
    assert result.usage is not None
    assert result.usage.raw == {
        "input_tokens": 0,
        "output_tokens": 4175,
        "total_tokens": 4175,
        "cost": 0.08,
    }
    assert provider_cost(result.usage.raw) == 0.08


@pytest.mark.parametrize(
    "body",
    [
        {"created": 1, "data": []},
        {"created": 1, "data": [{"media_type": "image/png"}]},
        ["not", "an", "object"],
    ],
)
def test_images_api_answer_without_an_image_is_an_error(body: Any) -> None:
    request = ImageRequest.from_body({"model": "or", "prompt": "a fox"})
    with pytest.raises(UpstreamError):
        ADAPTER.parse(answer(body), request, images_api())


def test_an_edit_on_the_images_api_sends_input_references_in_one_call() -> None:
    first = png(16, 12, 1)
    reqs = ADAPTER.build_edit(edit(first, JPEG, n=2, size="1024x1024"), images_api())
    (req,) = reqs
    assert req.url == IMAGES_URL
    assert sent(req) == {
        "model": "openai/gpt-image-2",
        "prompt": "make it blue",
        "size": "1024x1024",
        "n": 2,
        "input_references": [data_url(first, "image/png"), data_url(JPEG, "image/jpeg")],
    }
    result = ADAPTER.parse_edit(answer(IMAGES_ANSWER), edit(first), images_api())
    assert len(result.data) == 2
    with pytest.raises(InvalidRequestError) as err:
        ADAPTER.build_edit(edit(first, mask=png(16, 12)), images_api())
    assert err.value.param == "mask"


# --- images API streams ---------------------------------------------------------------


def test_only_openai_models_stream_on_the_images_api_and_chat_never_does() -> None:
    (req,) = generation(images_api(), stream=True)
    assert req.stream and sent(req) == {
        "model": "openai/gpt-image-2",
        "prompt": "a fox",
        "stream": True,
    }
    for d, needs in (
        (images_api("openrouter/black-forest-labs/flux.2-pro"), "does not stream"),
        (dep(), "only through its images API"),
    ):
        with pytest.raises(InvalidRequestError) as err:
            generation(d, stream=True)
        assert err.value.param == "stream" and needs in err.value.message
        with pytest.raises(InvalidRequestError) as err:
            ADAPTER.build_edit(edit(png(8, 8), stream=True), d)
        assert err.value.param == "stream"


def test_the_stream_translator_relays_openai_events_and_maps_an_error() -> None:
    usage = {"prompt_tokens": 16, "completion_tokens": 272, "total_tokens": 288, "cost": 0.011}
    raw = (
        b": OPENROUTER PROCESSING\n\n"
        b'data: {"type":"image_generation.partial_image","partial_image_index":0,'
        b'"b64_json":"cGFydGlhbA=="}\n\n'
        b'data: {"type":"image_generation.text_chunk","phase":"content","text":"<svg"}\n\n'
        b'data: {"type":"image_generation.completed","b64_json":"ZmluYWw=",'
        b'"media_type":"image/webp","created":1748372400,"usage":' + orjson.dumps(usage) + b"}\n\n"
        b"data: [DONE]\n\n"
    )
    request = edit(png(8, 8), stream=True)
    events = translate(ADAPTER.edit_stream_translator(request, images_api()), raw)
    assert events == [
        (
            "image_edit.partial_image",
            {
                "type": "image_edit.partial_image",
                "b64_json": "cGFydGlhbA==",
                "partial_image_index": 0,
            },
        ),
        (
            "image_edit.completed",
            {
                "type": "image_edit.completed",
                "b64_json": "ZmluYWw=",
                "created_at": 1748372400,
                "output_format": "webp",
                "usage": {
                    "input_tokens": 16,
                    "output_tokens": 272,
                    "total_tokens": 288,
                    "cost": 0.011,
                },
            },
        ),
    ]
    translator = ADAPTER.stream_translator(
        ImageRequest.from_body({"model": "m", "prompt": "p"}), images_api()
    )
    error = (
        b'data: {"type":"error","error":{"message":"provider failed","code":"upstream_error"}}\n\n'
    )
    with pytest.raises(UpstreamError) as err:
        translate(translator, error)
    assert "provider failed" in err.value.message
