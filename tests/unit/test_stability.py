"""Stability AI's own API: the path and multipart body of each model, sizes as aspect ratios,
refusals before any call, the OpenAI mask sent as Stability's (white = edit) pixel by pixel,
answers and errors on recorded payloads, the credentials and prices. No network."""

from __future__ import annotations

import asyncio
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
    UpstreamQuotaError,
    UpstreamRateLimitError,
)
from proxy.providers.registry import PROVIDERS, edit_refusal
from proxy.providers.stability.images import StabilityImages, credentials
from proxy.schemas import ImageRequest
from proxy.schemas.edits import EditRequest, InputImage
from proxy.upstream_request import UpstreamRequest, UpstreamResponse
from tests.fakes.multipart import Part, form_parts, text_fields
from tests.unit.test_pricing import price
from tests.unit.test_request_path_env import round_trip

ADAPTER = StabilityImages()
BASE = "https://api.stability.ai/v2beta/stable-image"
W, H = 48, 32
HOLE = (8, 4, 30, 20)  # the transparent rectangle: left, top, right, bottom (exclusive)


def deployment(model: str, env: dict[str, str] | None = None, **params: Any) -> Deployment:
    entry = {"model_name": "m", "litellm_params": {"model": f"stability/{model}", **params}}
    config = parse_config({"model_list": [entry]}, env=env if env is not None else {})
    return config.deployments[0]


def keyed(model: str, **params: Any) -> Deployment:
    return deployment(model, api_key="sk-stability-test", **params)


def parts(call: UpstreamRequest) -> list[Part]:
    assert call.method == "POST" and call.body is not None
    assert call.headers["accept"] == "application/json"
    return form_parts(call.headers["content-type"], call.body)


def generate(model: str, **body: Any) -> list[UpstreamRequest]:
    request = ImageRequest.from_body({"model": "m", "prompt": "a lighthouse", **body})
    return ADAPTER.build(request, keyed(model))


def fields_of(model: str, **body: Any) -> dict[str, str]:
    (call,) = generate(model, **body)
    found = parts(call)
    assert all(p.filename is None for p in found)  # a generation sends no file
    return text_fields(found)


def encoded(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


IMAGE = input_image(encoded(Image.new("RGB", (W, H), (30, 90, 150))), "image", 0)


def openai_mask(width: int = W, height: int = H) -> InputImage:
    mask = Image.new("RGBA", (width, height), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), HOLE)
    return input_image(encoded(mask), "mask", 0)


def edit(
    images: tuple[InputImage, ...] = (IMAGE,), mask: InputImage | None = None, **body: Any
) -> EditRequest:
    return EditRequest.from_parts({"model": "m", "prompt": "a red boat", **body}, images, mask)


def edit_parts(model: str, request: EditRequest) -> tuple[str, list[Part]]:
    calls = ADAPTER.build_edit(request, keyed(model))
    assert len(calls) == request.n
    return calls[0].url, parts(calls[0])


# --- generations -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "path", "model_field"),
    [
        ("sd3.5-large", "generate/sd3", "sd3.5-large"),
        ("sd3.5-large-turbo", "generate/sd3", "sd3.5-large-turbo"),
        ("sd3.5-medium", "generate/sd3", "sd3.5-medium"),
        ("sd3", "generate/sd3", None),
        ("stable-image-ultra", "generate/ultra", None),
        ("ultra", "generate/ultra", None),
        ("stable-image-core", "generate/core", None),
        ("core", "generate/core", None),
    ],
)
def test_the_model_picks_the_path(model: str, path: str, model_field: str | None) -> None:
    (call,) = generate(model)
    assert call.url == f"{BASE}/{path}"
    fields = text_fields(parts(call))
    assert fields.get("model") == model_field
    assert fields["prompt"] == "a lighthouse" and fields["output_format"] == "png"


def test_size_becomes_the_exact_aspect_ratio_and_native_fields_pass() -> None:
    fields = fields_of(
        "sd3.5-large",
        size="1536x1024",
        output_format="webp",
        negative_prompt="blurry",
        seed=42,
        style_preset="photographic",
        user="end-user-1",
    )
    assert fields == {
        "prompt": "a lighthouse",
        "model": "sd3.5-large",
        "aspect_ratio": "3:2",
        "negative_prompt": "blurry",
        "seed": "42",
        "style_preset": "photographic",
        "output_format": "webp",
    }
    assert fields_of("core", size="1024x1024")["aspect_ratio"] == "1:1"
    assert fields_of("core", size="auto").get("aspect_ratio") is None


def test_a_size_of_another_shape_is_a_400_listing_the_ratios() -> None:
    with pytest.raises(InvalidRequestError) as info:
        generate("sd3.5-large", size="1792x1024")  # 7:4: Stability would make another shape
    assert info.value.param == "size"
    assert "16:9, 1:1, 21:9, 2:3, 3:2, 4:5, 5:4, 9:16, 9:21" in info.value.message
    with pytest.raises(InvalidRequestError):
        generate("core", size="big")


def test_an_explicit_aspect_ratio_wins_over_size() -> None:
    fields = fields_of("ultra", size="1792x1024", aspect_ratio="16:9")
    assert fields["aspect_ratio"] == "16:9"
    with pytest.raises(InvalidRequestError) as info:
        generate("ultra", aspect_ratio="4:3")
    assert info.value.param == "aspect_ratio" and "9:21" in info.value.message


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("quality", "hd"),
        ("background", "transparent"),
        ("moderation", "low"),
        ("output_compression", 80),
        ("partial_images", 2),
        ("style", "vivid"),
    ],
)
def test_openai_only_parameters_are_400s_naming_them(param: str, value: Any) -> None:
    with pytest.raises(InvalidRequestError) as info:
        generate("sd3.5-large", **{param: value})
    assert info.value.param == param and f"'{param}'" in info.value.message
    with pytest.raises(InvalidRequestError) as edit_info:
        ADAPTER.build_edit(edit(**{param: value}), keyed("inpaint"))
    assert edit_info.value.param == param


def test_output_format_is_png_jpeg_or_webp() -> None:
    assert fields_of("core", output_format="jpeg")["output_format"] == "jpeg"
    with pytest.raises(InvalidRequestError) as info:
        generate("core", output_format="gif")
    assert info.value.param == "output_format"


def test_n_fans_out_into_calls_of_one_image_sharing_one_body() -> None:
    calls = generate("sd3.5-medium", n=3)
    assert len(calls) == 3
    assert all(c.body is calls[0].body for c in calls)  # serialized once
    assert len({id(c.headers) for c in calls}) == 3  # each signed on its own


def test_an_edit_model_on_generations_points_at_the_edits_endpoint() -> None:
    with pytest.raises(InvalidRequestError) as info:
        generate("inpaint")
    assert "/v1/images/edits" in info.value.message


# --- answers and errors --------------------------------------------------------------------


def answer(body: Any, status: int = 200) -> UpstreamResponse:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return UpstreamResponse(status, {"content-type": "application/json"}, raw)


def test_the_json_answer_is_one_b64_image() -> None:
    request = ImageRequest.from_body({"model": "m", "prompt": "p", "output_format": "jpeg"})
    result = ADAPTER.parse(
        answer({"image": "aGVsbG8=", "finish_reason": "SUCCESS", "seed": 343940597}),
        request,
        keyed("core"),
    )
    assert result.data == [{"b64_json": "aGVsbG8="}]
    assert result.extra == {"output_format": "jpeg"}


def test_a_filtered_image_is_a_content_policy_400() -> None:
    request = ImageRequest.from_body({"model": "m", "prompt": "p"})
    filtered = answer({"image": "Ymx1cg==", "finish_reason": "CONTENT_FILTERED", "seed": 1})
    with pytest.raises(ContentPolicyError) as info:
        ADAPTER.parse(filtered, request, keyed("core"))
    assert info.value.status == 400 and "CONTENT_FILTERED" in info.value.message
    with pytest.raises(UpstreamError):
        ADAPTER.parse(answer({"finish_reason": "SUCCESS"}), request, keyed("core"))
    with pytest.raises(UpstreamError):
        ADAPTER.parse(answer({"finish_reason": "ERROR", "image": "x"}), request, keyed("core"))


def stability_error(status: int, name: str, *errors: str) -> UpstreamResponse:
    body = {"id": "a4b7c9d2e1f0a4b7c9d2e1f0a4b7c9d2", "name": name, "errors": list(errors)}
    return answer(body, status)


@pytest.mark.parametrize(
    ("status", "name", "kind", "client_status"),
    [
        (400, "bad_request", UpstreamBadRequestError, 400),
        (401, "unauthorized", ProviderAuthError, 502),
        (402, "payment_required", UpstreamQuotaError, 429),
        (403, "content_moderation", ContentPolicyError, 400),
        (404, "not_found", UpstreamNotFoundError, 502),
        (413, "payload_too_large", UpstreamBadRequestError, 413),
        (422, "invalid_language", UpstreamBadRequestError, 400),
        (429, "rate_limit_exceeded", UpstreamRateLimitError, 429),
        (500, "internal_error", UpstreamError, 502),
    ],
)
def test_errors_map_to_the_gateway_family(
    status: int, name: str, kind: type[Exception], client_status: int
) -> None:
    error = ADAPTER.map_error(
        stability_error(status, name, "the first problem", "the second"), keyed("core")
    )
    assert type(error) is kind
    assert error.status == client_status
    assert "the first problem; the second" in error.message


def test_error_messages_carry_no_key_and_no_base64() -> None:
    key = "sk-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0"
    blob = "iVBORw0KGgo" + "A" * 400
    error = ADAPTER.map_error(
        stability_error(401, "unauthorized", f"bad key {key}", blob), keyed("core")
    )
    assert key not in error.message and blob not in error.message


def test_a_plain_text_error_still_maps() -> None:
    error = ADAPTER.map_error(UpstreamResponse(502, {}, b"Bad Gateway"), keyed("core"))
    assert isinstance(error, UpstreamError) and "Bad Gateway" in error.message


# --- edits ----------------------------------------------------------------------------------


def mask_part(found: list[Part]) -> Image.Image:
    (mask,) = [p for p in found if p.name == "mask"]
    assert mask.content_type == "image/png"
    image = Image.open(io.BytesIO(mask.data))
    assert image.format == "PNG" and image.mode == "L" and image.size == (W, H)
    return image


def assert_white_is_the_hole(image: Image.Image) -> None:
    left, top, right, bottom = HOLE
    for y in range(H):
        for x in range(W):
            inside = left <= x < right and top <= y < bottom
            assert image.getpixel((x, y)) == (255 if inside else 0), (x, y)


def test_inpaint_sends_the_image_and_the_mask_white_where_the_client_made_it_transparent() -> None:
    request = edit(mask=openai_mask(), negative_prompt="blurry", seed="7", grow_mask="3", n=2)
    url, found = edit_parts("inpaint", request)
    assert url == f"{BASE}/edit/inpaint"
    assert text_fields(found) == {
        "prompt": "a red boat",
        "negative_prompt": "blurry",
        "seed": "7",
        "grow_mask": "3",
        "output_format": "png",
    }
    (image,) = [p for p in found if p.name == "image"]
    assert image.data == IMAGE.data and image.content_type == "image/png"
    assert_white_is_the_hole(mask_part(found))


def test_erase_takes_the_mask_and_no_prompt() -> None:
    url, found = edit_parts("erase", edit(mask=openai_mask()))
    assert url == f"{BASE}/edit/erase"
    assert text_fields(found) == {"output_format": "png"}
    assert_white_is_the_hole(mask_part(found))


def test_outpaint_reads_the_sides_from_the_body() -> None:
    url, found = edit_parts("outpaint", edit(left="64", down="32", creativity="0.4"))
    assert url == f"{BASE}/edit/outpaint"
    assert text_fields(found) == {
        "prompt": "a red boat",
        "left": "64",
        "down": "32",
        "creativity": "0.4",
        "output_format": "png",
    }
    with pytest.raises(InvalidRequestError) as info:
        ADAPTER.build_edit(edit(), keyed("outpaint"))
    assert "left, right, up, down" in info.value.message


def test_search_and_replace_and_recolor_need_their_search_fields() -> None:
    url, found = edit_parts("search-and-replace", edit(search_prompt="the cat"))
    assert url == f"{BASE}/edit/search-and-replace"
    assert text_fields(found)["search_prompt"] == "the cat"
    url, found = edit_parts("edit/search-and-recolor", edit(select_prompt="the car"))
    assert url == f"{BASE}/edit/search-and-recolor"
    assert text_fields(found)["select_prompt"] == "the car"
    for model, field in (
        ("search-and-replace", "search_prompt"),
        ("search-and-recolor", "select_prompt"),
    ):
        with pytest.raises(InvalidRequestError) as info:
            ADAPTER.build_edit(edit(), keyed(model))
        assert info.value.param == field


def test_remove_background_png_or_webp_only() -> None:
    url, found = edit_parts("remove-background", edit(output_format="webp"))
    assert url == f"{BASE}/edit/remove-background"
    assert text_fields(found) == {"output_format": "webp"}
    with pytest.raises(InvalidRequestError) as info:
        ADAPTER.build_edit(edit(output_format="jpeg"), keyed("remove-background"))
    assert info.value.param == "output_format"


def test_style_transfer_sends_the_image_then_the_style_image() -> None:
    style = input_image(encoded(Image.new("RGB", (16, 16), (255, 200, 0))), "image", 1)
    url, found = edit_parts("style-transfer", edit(images=(IMAGE, style)))
    assert url == f"{BASE}/control/style-transfer"
    files = [(p.name, p.data) for p in found if p.filename is not None]
    assert files == [("init_image", IMAGE.data), ("style_image", style.data)]


def test_mask_refusals_before_any_call() -> None:
    with pytest.raises(InvalidRequestError) as masked:
        ADAPTER.build_edit(edit(mask=openai_mask(), search_prompt="x"), keyed("search-and-replace"))
    assert masked.value.param == "mask" and "takes no mask" in masked.value.message
    with pytest.raises(InvalidRequestError) as sized:
        ADAPTER.build_edit(edit(mask=openai_mask(W // 2, H)), keyed("inpaint"))
    assert sized.value.param == "mask" and f"{W}x{H}" in sized.value.message
    flat = input_image(encoded(Image.new("L", (W, H), 0)), "mask", 0)
    with pytest.raises(InvalidRequestError) as no_alpha:
        ADAPTER.build_edit(edit(mask=flat), keyed("inpaint"))
    assert no_alpha.value.param == "mask" and "alpha" in no_alpha.value.message


def test_edits_keep_the_input_size() -> None:
    url, _ = edit_parts("inpaint", edit(size=f"{W}x{H}"))
    assert url.endswith("/edit/inpaint")
    with pytest.raises(InvalidRequestError) as info:
        ADAPTER.build_edit(edit(size="1024x1024"), keyed("inpaint"))
    assert info.value.param == "size"


def test_the_mask_is_converted_in_a_worker_thread() -> None:
    from proxy.attempt.edits import built_edit

    calls = asyncio.run(built_edit(ADAPTER, edit(mask=openai_mask()), keyed("inpaint")))
    assert len(calls) == 1


def test_only_edit_models_edit() -> None:
    assert edit_refusal(keyed("inpaint")) is None
    assert edit_refusal(keyed("conservative")) is None
    refusal = edit_refusal(keyed("sd3.5-large"))
    assert refusal is not None and "inpaint" in refusal


# --- config, credentials, prices ----------------------------------------------------------------


def test_unknown_models_are_refused_when_the_config_loads() -> None:
    with pytest.raises(ConfigError) as info:
        keyed("sdxl-1.0")
    assert "sd3.5-large" in str(info.value)
    with pytest.raises(ConfigError) as creative:
        keyed("creative")  # answered asynchronously by Stability: not served
    assert "not a Stability AI model" in str(creative.value)


def test_the_key_and_base_come_from_the_config_or_the_environment() -> None:
    with pytest.raises(ConfigError) as info:
        deployment("core")
    assert "STABILITY_API_KEY" in str(info.value)
    env = {"STABILITY_API_KEY": "sk-from-env", "STABILITY_API_BASE": "http://127.0.0.1:9/st"}
    dep = deployment("core", env=env)
    call = ADAPTER.build(ImageRequest.from_body({"model": "m", "prompt": "p"}), dep)[0]
    assert call.url == "http://127.0.0.1:9/st/v2beta/stable-image/generate/core"
    asyncio.run(credentials(dep).authorize(call))
    assert call.headers["authorization"] == "Bearer sk-from-env"
    assert "sk-from-env" not in repr(dep)
    names = PROVIDERS["stability"].credential_env  # one table: the loader fills them in
    assert (names.key, names.base) == (("STABILITY_API_KEY",), ("STABILITY_API_BASE",))


@pytest.mark.parametrize(
    ("model", "each"),
    [
        ("stable-image-ultra", 0.08),
        ("ultra", 0.08),
        ("sd3.5-large", 0.065),
        ("sd3.5-large-turbo", 0.04),
        ("sd3.5-medium", 0.035),
        ("stable-image-core", 0.03),
        ("core", 0.03),
    ],
)
def test_prices_are_credits_per_image(model: str, each: float) -> None:
    cost, basis = price("stability", model, images=2)
    assert cost == pytest.approx(2 * each) and basis == "per_image"


@pytest.mark.parametrize(
    ("model", "each"),
    [("inpaint", 0.05), ("edit/inpaint", 0.05), ("outpaint", 0.04), ("style-transfer", 0.08),
     ("fast", 0.02), ("upscale/conservative", 0.40)],
)  # fmt: skip
def test_edit_control_and_upscale_prices_are_credits_per_image(model: str, each: float) -> None:
    cost, basis = price("stability", model, images=1)
    assert cost == pytest.approx(each) and basis == "per_image"


def test_a_model_missing_from_the_table_is_unknown_until_declared() -> None:
    assert price("stability", "stable-audio-2")[0] is None


async def test_the_request_path_never_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {"STABILITY_API_KEY": "sk-env-key-0123", "STABILITY_API_BASE": "http://127.0.0.1:9/s"}
    dep = deployment("stable-image-core", env=env)
    built = await round_trip(dep, monkeypatch, {"image": "aGk=", "finish_reason": "SUCCESS"})
    assert built[0].url == "http://127.0.0.1:9/s/v2beta/stable-image/generate/core"
    assert built[0].headers["authorization"] == "Bearer sk-env-key-0123"
