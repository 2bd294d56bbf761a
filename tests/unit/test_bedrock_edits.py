"""Bedrock Stability edit models: the exact InvokeModel body of each, the OpenAI mask turned
into Stability's white = edit, refusals before any call, the answer parsed, the capability
declared for these model ids only. No network."""

from __future__ import annotations

import base64
import io
import threading
from typing import Any

import orjson
import pytest
from PIL import Image

from proxy.api.uploads import input_image
from proxy.attempt.edits import built_edit
from proxy.config import ConfigError, Deployment
from proxy.configure import parse_config
from proxy.errors import ContentPolicyError, InvalidRequestError
from proxy.providers.bedrock.images import BedrockImages
from proxy.providers.registry import edit_refusal
from proxy.schemas import ImageRequest
from proxy.schemas.edits import EditRequest, InputImage
from proxy.upstream_request import UpstreamRequest, UpstreamResponse

ADAPTER = BedrockImages()
W, H = 48, 32
HOLE = (8, 4, 30, 20)  # the transparent rectangle: left, top, right, bottom (exclusive)
INPAINT = "us.stability.stable-image-inpaint-v1:0"
OUTPAINT = "stability.stable-outpaint-v1:0"
ERASE = "stability.stable-image-erase-object-v1:0"
REPLACE = "stability.stable-image-search-replace-v1:0"
RECOLOR = "stability.stable-image-search-recolor-v1:0"
REMOVE_BG = "stability.stable-image-remove-background-v1:0"
SKETCH = "stability.stable-image-control-sketch-v1:0"
STRUCTURE = "stability.stable-image-control-structure-v1:0"
STYLE_GUIDE = "stability.stable-image-style-guide-v1:0"
STYLE_TRANSFER = "us.stability.stable-style-transfer-v1:0"
FAST_UPSCALE = "stability.stable-fast-upscale-v1:0"
CONSERVATIVE_UPSCALE = "stability.stable-conservative-upscale-v1:0"
CREATIVE_UPSCALE = "stability.stable-creative-upscale-v1:0"
EDIT_MODELS = (
    INPAINT,
    OUTPAINT,
    ERASE,
    REPLACE,
    RECOLOR,
    REMOVE_BG,
    SKETCH,
    STRUCTURE,
    STYLE_GUIDE,
    STYLE_TRANSFER,
    FAST_UPSCALE,
    CONSERVATIVE_UPSCALE,
    CREATIVE_UPSCALE,
)


def encoded(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


IMAGE = input_image(encoded(Image.new("RGB", (W, H), (30, 90, 150))), "image", 0)
IMAGE_B64 = base64.b64encode(IMAGE.data).decode()


def openai_mask(width: int = W, height: int = H) -> InputImage:
    mask = Image.new("RGBA", (width, height), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), HOLE)
    return input_image(encoded(mask), "mask", 0)


def deployment(model: str, **info: Any) -> Deployment:
    entry = {
        "model_name": "m",
        "litellm_params": {"model": f"bedrock/{model}", "aws_region_name": "us-east-1"},
        "model_info": info,
    }
    return parse_config({"model_list": [entry]}, env={}).deployments[0]


def edit(
    images: tuple[InputImage, ...] = (IMAGE,), mask: InputImage | None = None, **body: Any
) -> EditRequest:
    fields = {"model": "m", "prompt": "a red boat", **body}
    return EditRequest.from_parts(fields, images, mask)


def sent(model: str, request: EditRequest) -> list[dict[str, Any]]:
    built = ADAPTER.build_edit(request, deployment(model))
    return [orjson.loads(r.body or b"") for r in built]


def mask_pixels(b64: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(b64)))
    assert image.format == "PNG" and image.mode == "L" and image.size == (W, H)
    return image


def assert_white_is_the_hole(b64: str) -> None:
    image = mask_pixels(b64)
    left, top, right, bottom = HOLE
    for y in range(H):
        for x in range(W):
            inside = left <= x < right and top <= y < bottom
            assert image.getpixel((x, y)) == (255 if inside else 0), (x, y)


def test_inpaint_body_with_the_mask_white_where_the_client_made_it_transparent() -> None:
    request = edit(
        mask=openai_mask(),
        negative_prompt="blurry",
        seed=7,
        grow_mask=3,
        style_preset="photographic",
        output_format="jpeg",
    )
    (body,) = sent(INPAINT, request)
    mask = body.pop("mask")
    assert body == {
        "image": IMAGE_B64,
        "prompt": "a red boat",
        "negative_prompt": "blurry",
        "seed": 7,
        "grow_mask": 3,
        "style_preset": "photographic",
        "output_format": "jpeg",
    }
    assert_white_is_the_hole(mask)


def test_erase_sends_image_and_mask_and_no_prompt() -> None:
    (body,) = sent(ERASE, edit(mask=openai_mask(), grow_mask=5, seed=1))
    mask = body.pop("mask")
    assert body == {"image": IMAGE_B64, "grow_mask": 5, "seed": 1}
    assert_white_is_the_hole(mask)


@pytest.mark.parametrize(
    ("model", "extra", "expected"),
    [
        (
            OUTPAINT,
            {"left": 64, "down": 32, "creativity": 0.4},
            {"prompt": "a red boat", "left": 64, "down": 32, "creativity": 0.4},
        ),
        (
            REPLACE,
            {"search_prompt": "the car", "negative_prompt": "text"},
            {"prompt": "a red boat", "search_prompt": "the car", "negative_prompt": "text"},
        ),
        (
            RECOLOR,
            {"select_prompt": "the hat", "output_format": "webp"},
            {"prompt": "a red boat", "select_prompt": "the hat", "output_format": "webp"},
        ),
        (REMOVE_BG, {"output_format": "webp"}, {"output_format": "webp"}),
        (REMOVE_BG, {}, {}),
        (REMOVE_BG, {"background": "transparent"}, {}),
        (
            SKETCH,
            {"control_strength": "0.6", "negative_prompt": "text"},
            {"prompt": "a red boat", "control_strength": 0.6, "negative_prompt": "text"},
        ),
        (STRUCTURE, {"seed": 3}, {"prompt": "a red boat", "seed": 3}),
        (
            STYLE_GUIDE,
            {"fidelity": "0.5", "aspect_ratio": "16:9"},
            {"prompt": "a red boat", "fidelity": 0.5, "aspect_ratio": "16:9"},
        ),
        (FAST_UPSCALE, {"output_format": "jpeg"}, {"output_format": "jpeg"}),
        (CONSERVATIVE_UPSCALE, {"creativity": "0.2"}, {"prompt": "a red boat", "creativity": 0.2}),
        (CREATIVE_UPSCALE, {}, {"prompt": "a red boat"}),
    ],
)
def test_each_service_body(model: str, extra: dict[str, Any], expected: dict[str, Any]) -> None:
    assert sent(model, edit(**extra)) == [{"image": IMAGE_B64, **expected}]


def test_style_transfer_sends_the_first_image_as_init_and_the_second_as_style() -> None:
    style = input_image(encoded(Image.new("RGB", (20, 20), (200, 10, 10))), "image", 1)
    (body,) = sent(STYLE_TRANSFER, edit((IMAGE, style), style_strength="0.8"))
    assert body == {
        "init_image": IMAGE_B64,
        "style_image": base64.b64encode(style.data).decode(),
        "prompt": "a red boat",
        "style_strength": 0.8,
    }
    with pytest.raises(InvalidRequestError, match="init_image, then style_image") as caught:
        sent(STYLE_TRANSFER, edit())
    assert caught.value.param == "image"


def test_n_fans_out_to_one_call_per_image_on_the_invoke_url() -> None:
    built = ADAPTER.build_edit(edit(mask=openai_mask(), n=3), deployment(INPAINT))
    assert len(built) == 3 and len({r.body for r in built}) == 1
    assert built[0].url == (
        "https://bedrock-runtime.us-east-1.amazonaws.com/model/"
        "us.stability.stable-image-inpaint-v1%3A0/invoke"
    )
    assert built[0].headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("model", "request_args", "param", "words"),
    [
        (OUTPAINT, {"mask": True, "left": 10}, "mask", "takes no mask"),
        (REPLACE, {"mask": True, "search_prompt": "x"}, "mask", "takes no mask"),
        (REMOVE_BG, {"mask": True}, "mask", "takes no mask"),
        (REPLACE, {}, "search_prompt", "needs 'search_prompt'"),
        (RECOLOR, {}, "select_prompt", "needs 'select_prompt'"),
        (OUTPAINT, {}, "left", "at least one of left, right, up, down"),
        (OUTPAINT, {"left": 10, "size": "1024x1024"}, "size", "auto"),
        (CREATIVE_UPSCALE, {"size": f"{W}x{H}"}, "size", "auto"),
        (SKETCH, {"mask": True}, "mask", "takes no mask"),
        (INPAINT, {"size": "1024x1024"}, "size", f"{W}x{H}"),
        (INPAINT, {"input_fidelity": "high"}, "input_fidelity", "low"),
        (INPAINT, {"quality": "high"}, "quality", "standard"),
        (REMOVE_BG, {"output_format": "jpeg"}, "output_format", "png or webp"),
        (REMOVE_BG, {"background": "opaque"}, "background", "auto or transparent"),
        (INPAINT, {"background": "transparent"}, "background", "auto or opaque"),
        (INPAINT, {"two_images": True}, "image", "one image"),
    ],
)
def test_refused_before_any_call(
    model: str, request_args: dict[str, Any], param: str, words: str
) -> None:
    args = dict(request_args)
    images = (IMAGE, IMAGE) if args.pop("two_images", False) else (IMAGE,)
    mask = openai_mask() if args.pop("mask", False) else None
    with pytest.raises(InvalidRequestError) as caught:
        ADAPTER.build_edit(edit(images, mask, **args), deployment(model))
    assert caught.value.status == 400 and caught.value.param == param
    assert words in caught.value.message


def test_form_text_becomes_stabilitys_numbers() -> None:
    (body,) = sent(OUTPAINT, edit(left="64", up="0", seed="12", creativity="0.3"))
    assert body == {
        "image": IMAGE_B64,
        "prompt": "a red boat",
        "left": 64,
        "up": 0,
        "seed": 12,
        "creativity": 0.3,
    }
    with pytest.raises(InvalidRequestError, match="'seed' must be an integer") as caught:
        sent(INPAINT, edit(seed="lucky"))
    assert caught.value.param == "seed"
    with pytest.raises(InvalidRequestError, match="at least one of"):
        sent(OUTPAINT, edit(left="0", up="0"))


def test_the_input_size_is_accepted() -> None:
    assert len(sent(INPAINT, edit(size=f"{W}x{H}"))) == 1


def test_a_mask_of_another_size_is_refused() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        ADAPTER.build_edit(edit(mask=openai_mask(W, H + 2)), deployment(INPAINT))
    assert caught.value.param == "mask" and caught.value.code == "mask_size_mismatch"


def test_the_answer_becomes_b64_json_items_and_a_filter_a_content_policy_error() -> None:
    request = edit(output_format="jpeg")
    ok = UpstreamResponse(
        200, {}, orjson.dumps({"seeds": [5], "finish_reasons": [None], "images": ["QUJD"]})
    )
    result = ADAPTER.parse_edit(ok, request, deployment(REPLACE))
    assert result.data == [{"b64_json": "QUJD"}] and result.extra == {"output_format": "jpeg"}
    filtered = UpstreamResponse(
        200, {}, orjson.dumps({"finish_reasons": ["Filter reason: input image"]})
    )
    with pytest.raises(ContentPolicyError, match="Filter reason: input image"):
        ADAPTER.parse_edit(filtered, request, deployment(REPLACE))


@pytest.mark.parametrize("model", EDIT_MODELS)
def test_the_edit_models_can_edit(model: str) -> None:
    assert edit_refusal(deployment(model)) is None


@pytest.mark.parametrize(
    "model",
    ["amazon.nova-canvas-v1:0", "stability.sd3-5-large-v1:0", "stability.stable-image-core-v1:1"],
)
def test_other_bedrock_models_cannot(model: str) -> None:
    refusal = edit_refusal(deployment(model))
    assert refusal is not None and model in refusal and "stable-image-inpaint" in refusal


def test_config_refuses_image_edit_mode_on_a_generation_model() -> None:
    with pytest.raises(ConfigError, match="not an edit model"):
        deployment("amazon.nova-canvas-v1:0", mode="image_edit")
    assert deployment(INPAINT, mode="image_edit").model == INPAINT


def test_an_edit_model_on_generations_points_at_the_edits_endpoint() -> None:
    request = ImageRequest.from_body({"model": "m", "prompt": "a boat"})
    with pytest.raises(InvalidRequestError, match="/v1/images/edits") as caught:
        ADAPTER.build(request, deployment(ERASE))
    assert caught.value.param == "model"


class ThreadRecording(BedrockImages):
    def __init__(self) -> None:
        self.threads: list[int] = []

    def build_edit(self, request: EditRequest, deployment: Deployment) -> list[UpstreamRequest]:
        self.threads.append(threading.get_ident())
        return super().build_edit(request, deployment)


async def test_a_mask_is_converted_off_the_event_loop() -> None:
    adapter = ThreadRecording()
    await built_edit(adapter, edit(), deployment(INPAINT))
    await built_edit(adapter, edit(mask=openai_mask()), deployment(INPAINT))
    loop_thread = threading.get_ident()
    assert adapter.threads[0] == loop_thread and adapter.threads[1] != loop_thread
