"""fal.ai: the app URL and JSON body of generations and edits, refusals before any call, the
OpenAI mask sent to Fill apps as white = edit pixel by pixel, answers (CDN URLs, data URIs,
flagged images) and errors on recorded payloads, credentials and prices. No network."""

from __future__ import annotations

import asyncio
import base64
import io
from typing import Any

import orjson
import pytest
from PIL import Image

from proxy.api.uploads import input_image
from proxy.config import ConfigError, Deployment
from proxy.configure import parse_config
from proxy.errors import (
    ContentPolicyError,
    InvalidRequestError,
    ProviderAuthError,
    UpstreamBadRequestError,
    UpstreamError,
    UpstreamNotFoundError,
    UpstreamRateLimitError,
)
from proxy.providers.fal.images import FalImages, credentials
from proxy.providers.registry import PROVIDERS, edit_refusal
from proxy.schemas import ImageRequest
from proxy.schemas.edits import EditRequest, InputImage
from proxy.upstream_request import UpstreamRequest, UpstreamResponse
from tests.unit.test_pricing import price
from tests.unit.test_request_path_env import round_trip
from tests.unit.test_stability import (
    IMAGE,
    H,
    W,
    assert_white_is_the_hole,
    edit,
    encoded,
    openai_mask,
)

ADAPTER = FalImages()
KEY = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b:9f8e7d6c5b4a39281706f5e4d3c2b1a0"


def deployment(app: str, env: dict[str, str] | None = None, **params: Any) -> Deployment:
    entry = {"model_name": "m", "litellm_params": {"model": f"fal_ai/{app}", **params}}
    return parse_config({"model_list": [entry]}, env=env if env is not None else {}).deployments[0]


def keyed(app: str = "fal-ai/flux/schnell", **params: Any) -> Deployment:
    return deployment(app, api_key=KEY, **params)


def sent(call: UpstreamRequest) -> dict[str, Any]:
    assert call.method == "POST" and call.headers["content-type"] == "application/json"
    return dict(orjson.loads(call.body or b""))


def generate(app: str = "fal-ai/flux/schnell", **body: Any) -> tuple[str, dict[str, Any]]:
    request = ImageRequest.from_body({"model": "m", "prompt": "a fox", **body})
    (call,) = ADAPTER.build(request, keyed(app))
    return call.url, sent(call)


# --- generations ---------------------------------------------------------------------------------


def test_generation_posts_the_app_input_to_the_app_url() -> None:
    url, body = generate(
        n=3,
        size="1024x768",
        output_format="png",
        num_inference_steps=4,
        seed=7,
        enable_safety_checker=False,
        user="end-user",
    )
    assert url == "https://fal.run/fal-ai/flux/schnell"
    assert body == {
        "prompt": "a fox",
        "num_images": 3,
        "image_size": {"width": 1024, "height": 768},
        "output_format": "png",
        "num_inference_steps": 4,
        "seed": 7,
        "enable_safety_checker": False,
    }


def test_the_app_own_image_size_wins_and_auto_leaves_the_default() -> None:
    _, body = generate(size="1024x1024", image_size="landscape_16_9")
    assert body["image_size"] == "landscape_16_9"
    _, body = generate(size="auto")
    assert "image_size" not in body and body["num_images"] == 1


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"n": 5}, "n"),
        ({"size": "large"}, "size"),
        ({"output_format": "webp"}, "output_format"),
        ({"quality": "high"}, "quality"),
        ({"background": "transparent"}, "background"),
        ({"moderation": "low"}, "moderation"),
        ({"output_compression": 50}, "output_compression"),
        ({"style": "vivid"}, "style"),
    ],
)
def test_what_fal_cannot_honour_is_a_400_naming_it(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        generate(**body)
    assert info.value.param == param


# --- answers and errors ------------------------------------------------------------------------


def answer(body: Any, status: int = 200) -> UpstreamResponse:
    return UpstreamResponse(status, {"content-type": "application/json"}, orjson.dumps(body))


def parse(body: Any) -> list[dict[str, Any]]:
    request = ImageRequest.from_body({"model": "m", "prompt": "p"})
    return ADAPTER.parse(answer(body), request, keyed()).data


FLUX_ANSWER = {
    "images": [
        {
            "url": "https://v3.fal.media/files/koala/abc123.jpeg",
            "width": 1024,
            "height": 768,
            "content_type": "image/jpeg",
        },
        {
            "url": "https://v3.fal.media/files/panda/def456.jpeg",
            "width": 1024,
            "height": 768,
            "content_type": "image/jpeg",
        },
    ],
    "timings": {"inference": 0.31},
    "seed": 1234,
    "has_nsfw_concepts": [False, False],
    "prompt": "a fox",
}


def test_cdn_urls_become_url_items_on_fal_media() -> None:
    assert parse(FLUX_ANSWER) == [
        {"url": "https://v3.fal.media/files/koala/abc123.jpeg"},
        {"url": "https://v3.fal.media/files/panda/def456.jpeg"},
    ]
    assert ADAPTER.image_hosts == ("fal.media",)


def test_sync_mode_data_uris_stay_urls_for_the_delivery_stage() -> None:
    uri = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\nx").decode()
    assert parse({"images": [{"url": uri, "content_type": "image/png"}]}) == [{"url": uri}]


def test_flagged_images_are_dropped_and_all_flagged_is_a_content_policy_400() -> None:
    partly = {**FLUX_ANSWER, "has_nsfw_concepts": [True, False]}
    assert parse(partly) == [{"url": "https://v3.fal.media/files/panda/def456.jpeg"}]
    with pytest.raises(ContentPolicyError) as info:
        parse({**FLUX_ANSWER, "has_nsfw_concepts": [True, True]})
    assert info.value.status == 400 and "has_nsfw_concepts" in info.value.message
    with pytest.raises(UpstreamError):
        parse({"images": []})
    with pytest.raises(UpstreamError):
        parse({"detail": "nothing"})


INPUT_DATA_URI = "data:image/png;base64," + "iVBORw0KGgo" + "A" * 300


@pytest.mark.parametrize(
    ("status", "body", "kind", "client_status", "text"),
    [
        (
            422,
            {
                "detail": [
                    {
                        "loc": ["body", "num_images"],
                        "msg": "ensure this value is less than or equal to 4",
                        "type": "value_error.number.not_le",
                    }
                ]
            },
            UpstreamBadRequestError,
            400,
            "num_images: ensure this value is less than or equal to 4",
        ),
        (
            422,
            {
                "detail": [
                    {
                        "loc": ["body", "image_urls", 0],
                        "msg": "The content was flagged by a content checker.",
                        "type": "content_policy_violation",
                        "input": INPUT_DATA_URI,
                        "categories": ["sexual"],
                    }
                ]
            },
            ContentPolicyError,
            400,
            "image_urls.0: The content was flagged by a content checker.",
        ),
        (401, {"detail": "Authentication is required"}, ProviderAuthError, 502, "Authentication"),
        (404, {"detail": "Application 'nope' not found"}, UpstreamNotFoundError, 502, "nope"),
        (429, {"detail": "Rate limit exceeded"}, UpstreamRateLimitError, 429, "Rate limit"),
        (500, {"detail": "Internal server error"}, UpstreamError, 502, "Internal"),
    ],
)
def test_errors_map_to_the_gateway_family(
    status: int, body: Any, kind: type[Exception], client_status: int, text: str
) -> None:
    error = ADAPTER.map_error(answer(body, status), keyed())
    assert type(error) is kind and error.status == client_status
    assert text in error.message
    assert "iVBORw0KGgo" not in error.message  # the flagged input is never echoed


# --- edits -------------------------------------------------------------------------------------


OTHER = input_image(encoded(Image.new("RGB", (16, 16), (255, 200, 0))), "image", 1)


def data_url(image: InputImage) -> str:
    return "data:image/png;base64," + base64.b64encode(image.data).decode()


def edited(app: str, request: EditRequest) -> tuple[str, dict[str, Any]]:
    (call,) = ADAPTER.build_edit(request, keyed(app))
    return call.url, sent(call)


@pytest.mark.parametrize(
    ("app", "url_app"),
    [
        ("fal-ai/nano-banana", "fal-ai/nano-banana/edit"),
        ("fal-ai/flux-2-pro", "fal-ai/flux-2-pro/edit"),
        ("fal-ai/nano-banana/edit", "fal-ai/nano-banana/edit"),
        ("fal-ai/qwen-image-edit", "fal-ai/qwen-image-edit"),
    ],
)
def test_image_urls_apps_get_every_image_as_a_data_url(app: str, url_app: str) -> None:
    url, body = edited(app, edit(images=(IMAGE, OTHER), n=2, seed=5))
    assert url == f"https://fal.run/{url_app}"
    assert body == {
        "prompt": "a red boat",
        "num_images": 2,
        "seed": 5,
        "image_urls": [data_url(IMAGE), data_url(OTHER)],
    }


def test_kontext_takes_one_image_url() -> None:
    url, body = edited("fal-ai/flux-pro/kontext", edit(guidance_scale=3.5))
    assert url == "https://fal.run/fal-ai/flux-pro/kontext"
    assert body == {
        "prompt": "a red boat",
        "num_images": 1,
        "guidance_scale": 3.5,
        "image_url": data_url(IMAGE),
    }
    with pytest.raises(InvalidRequestError) as info:
        edited("fal-ai/flux-pro/kontext", edit(images=(IMAGE, OTHER)))
    assert info.value.param == "image"


def test_fill_apps_get_the_mask_white_where_the_client_made_it_transparent() -> None:
    url, body = edited("fal-ai/flux-pro/v1/fill", edit(mask=openai_mask()))
    assert url == "https://fal.run/fal-ai/flux-pro/v1/fill"
    assert body["image_url"] == data_url(IMAGE)
    prefix = "data:image/png;base64,"
    assert body["mask_url"].startswith(prefix)
    mask = Image.open(io.BytesIO(base64.b64decode(body["mask_url"][len(prefix) :])))
    assert mask.format == "PNG" and mask.mode == "L" and mask.size == (W, H)
    assert_white_is_the_hole(mask)


def test_mask_refusals() -> None:
    with pytest.raises(InvalidRequestError) as no_mask_app:
        edited("fal-ai/nano-banana", edit(mask=openai_mask()))
    assert no_mask_app.value.param == "mask" and "takes no mask" in no_mask_app.value.message
    with pytest.raises(InvalidRequestError) as missing:
        edited("fal-ai/flux-pro/v1/fill", edit())
    assert missing.value.param == "mask"
    with pytest.raises(InvalidRequestError) as sized:
        edited("fal-ai/flux-pro/v1/fill", edit(mask=openai_mask(W // 2, H)))
    assert sized.value.param == "mask" and f"{W}x{H}" in sized.value.message
    with pytest.raises(InvalidRequestError) as fidelity:
        edited("fal-ai/nano-banana", edit(input_fidelity="high"))
    assert fidelity.value.param == "input_fidelity"


def test_edit_answers_parse_like_generations() -> None:
    result = ADAPTER.parse_edit(answer(FLUX_ANSWER), edit(), keyed("fal-ai/nano-banana"))
    assert len(result.data) == 2
    assert edit_refusal(keyed("fal-ai/nano-banana")) is None


# --- config, credentials, prices ----------------------------------------------------------------


def test_an_app_id_needs_an_owner() -> None:
    with pytest.raises(ConfigError) as info:
        keyed("flux-schnell")
    assert "fal_ai/<owner>/<app>" in str(info.value)


@pytest.mark.parametrize("name", ["FAL_AI_API_KEY", "FAL_KEY"])
def test_the_key_comes_from_the_config_or_either_environment_variable(name: str) -> None:
    with pytest.raises(ConfigError) as info:
        deployment("fal-ai/flux/schnell")
    assert "FAL_KEY" in str(info.value)
    env = {name: KEY, "FAL_AI_API_BASE": "http://127.0.0.1:9/fal"}
    dep = deployment("fal-ai/flux/schnell", env=env)
    call = ADAPTER.build(ImageRequest.from_body({"model": "m", "prompt": "p"}), dep)[0]
    assert call.url == "http://127.0.0.1:9/fal/fal-ai/flux/schnell"
    asyncio.run(credentials(dep).authorize(call))
    assert call.headers["authorization"] == f"Key {KEY}"
    assert KEY not in repr(dep) and KEY not in repr(credentials(dep))
    names = PROVIDERS["fal_ai"].credential_env  # one table: the loader fills them in
    assert (names.key, names.base) == (("FAL_AI_API_KEY", "FAL_KEY"), ("FAL_AI_API_BASE",))
    assert PROVIDERS["fal_ai"].environment == ("FAL_KEY_ID", "FAL_KEY_SECRET")  # the pair


def test_the_key_may_be_fal_clients_id_and_secret_pair() -> None:
    key_id, secret = KEY.split(":")
    dep = deployment("fal-ai/flux/schnell", env={"FAL_KEY_ID": key_id, "FAL_KEY_SECRET": secret})
    call = ADAPTER.build(ImageRequest.from_body({"model": "m", "prompt": "p"}), dep)[0]
    asyncio.run(credentials(dep).authorize(call))
    assert call.headers["authorization"] == f"Key {KEY}"
    with pytest.raises(ConfigError):
        deployment("fal-ai/flux/schnell", env={"FAL_KEY_ID": key_id})  # half a pair


@pytest.mark.parametrize(
    ("app", "kwargs", "expected"),
    [
        ("fal-ai/flux/schnell", {}, 0.003),  # default 1024x768: 1 MP
        ("fal-ai/flux/schnell", {"size": "1536x1024", "images": 2}, 2 * 0.006),  # 1.5 MP -> 2
        ("fal-ai/flux/dev", {"size": "1024x1024"}, 0.025),
        ("fal-ai/flux-pro/kontext", {"images": 3}, 0.12),
        ("fal-ai/flux-2-pro", {}, 0.03),  # $0.03 the first MP
        ("fal-ai/flux-2-pro", {"size": "1920x1080"}, 0.045),  # 2.07 MP -> + $0.015
        ("fal-ai/flux-2-flex/edit", {"size": "2048x1536"}, 0.15),  # 3 MP at $0.05
        ("fal-ai/flux-2-max", {"size": "1024x1024"}, 0.07),
        ("fal-ai/nano-banana-pro", {}, 0.15),  # 1K by default
        ("fal-ai/nano-banana-pro", {"size": "4096x4096"}, 0.30),
        ("fal-ai/nano-banana-2/edit", {"size": "512x512"}, 0.06),  # 0.5K: x0.75
        ("fal-ai/nano-banana-2", {"size": "2048x2048", "images": 2}, 2 * 0.12),  # 2K: x1.5
        ("fal-ai/imagen4/preview/ultra", {}, 0.06),
        ("fal-ai/bytedance/seedream/v4/edit", {}, 0.03),
    ],
)
def test_prices_per_image_rounded_up_to_the_megapixel(
    app: str, kwargs: dict[str, Any], expected: float
) -> None:
    cost, basis = price("fal_ai", app, **kwargs)
    assert cost == pytest.approx(expected) and basis == "per_image"
    assert price("fal_ai", "fal-ai/some-new-app")[0] is None


async def test_the_request_path_never_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dep = deployment("fal-ai/flux/schnell", env={"FAL_KEY": KEY})
    built = await round_trip(dep, monkeypatch, FLUX_ANSWER)
    assert built[0].url == "https://fal.run/fal-ai/flux/schnell"
    assert built[0].headers["authorization"] == f"Key {KEY}"
