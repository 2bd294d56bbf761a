"""Bedrock Stability edit models end to end: ``client.images.edit`` of the official OpenAI SDK
through the proxy to a fake Bedrock runtime that verifies every SigV4 signature, checking
exactly what reached it: Stability's JSON body, and a mask whose white area is the area the
client made transparent."""

from __future__ import annotations

import base64
import io
from typing import Any

import openai
import pytest
from PIL import Image
from starlette.responses import Response

from tests.conftest import MASTER_KEY
from tests.e2e.test_image_edits import log_record
from tests.fakes.aws import FakeBedrock, Key, aws_error
from tests.fakes.server import FakeUpstream, Received

AKID, SECRET = "AKIDBEDROCKEDITS0001", "bedrock-edits-secret"
INPAINT = "us.stability.stable-image-inpaint-v1:0"
ERASE = "stability.stable-image-erase-object-v1:0"
REPLACE = "stability.stable-image-search-replace-v1:0"
REMOVE_BG = "stability.stable-image-remove-background-v1:0"
STYLE_TRANSFER = "us.stability.stable-style-transfer-v1:0"
NOVA = "amazon.nova-canvas-v1:0"
W, H = 64, 40
HOLE = (10, 6, 41, 29)  # left, top, right, bottom (exclusive)


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


PHOTO = png_bytes(Image.new("RGB", (W, H), (40, 120, 200)))
MASK = Image.new("RGBA", (W, H), (255, 255, 255, 255))
MASK.paste((0, 0, 0, 0), HOLE)
OPENAI_MASK = png_bytes(MASK)
ANSWER_PNG = png_bytes(Image.new("RGB", (W, H), (250, 0, 0)))


@pytest.fixture(scope="module")
def proxy(proxy_factory: Any, upstream: FakeUpstream) -> Any:
    def entry(name: str, model: str) -> dict[str, Any]:
        return {
            "model_name": name,
            "litellm_params": {
                "model": f"bedrock/{model}",
                "aws_access_key_id": AKID,
                "aws_secret_access_key": SECRET,
                "aws_region_name": "us-west-2",
                "api_base": upstream.base,
            },
        }

    models = [
        entry("inpaint", INPAINT),
        entry("erase", ERASE),
        entry("replace", REPLACE),
        entry("remove-bg", REMOVE_BG),
        entry("style-transfer", STYLE_TRANSFER),
        entry("nova", NOVA),
    ]
    models[0]["model_info"] = {"mode": "image_edit"}
    return proxy_factory({"model_list": models})


@pytest.fixture
def client(proxy: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, max_retries=0)


@pytest.fixture
def bedrock(fake: FakeUpstream) -> FakeBedrock:
    return FakeBedrock(fake, {AKID: Key(SECRET)})


def stability_answer(rec: Received, body: dict[str, Any]) -> Response | dict[str, Any]:
    """Stability's answer, or AWS's ValidationException for a body it would refuse."""
    if not isinstance(body.get("image", body.get("init_image")), str):
        return aws_error("ValidationException", "Malformed input request: image required", 400)
    if "forbidden" in str(body.get("prompt", "")):
        return {"seeds": [1], "finish_reasons": ["Filter reason: prompt"], "images": []}
    return {
        "seeds": [42],
        "finish_reasons": [None],
        "images": [base64.b64encode(ANSWER_PNG).decode()],
    }


def inpaint(client: openai.OpenAI, prompt: str, **kwargs: Any) -> Any:
    """``client.images.edit`` of the photo with the OpenAI mask on the inpaint model (raw)."""
    return client.images.with_raw_response.edit(
        model="inpaint",
        image=("photo.png", PHOTO, "image/png"),
        mask=("mask.png", OPENAI_MASK, "image/png"),
        prompt=prompt,
        **kwargs,
    )


def white_area(mask_b64: str) -> set[tuple[int, int]]:
    image = Image.open(io.BytesIO(base64.b64decode(mask_b64)))
    assert image.mode == "L" and image.size == (W, H)
    values = {image.getpixel((x, y)) for y in range(H) for x in range(W)}
    assert values == {0, 255}
    return {(x, y) for y in range(H) for x in range(W) if image.getpixel((x, y)) == 255}


def transparent_area() -> set[tuple[int, int]]:
    left, top, right, bottom = HOLE
    return {(x, y) for y in range(top, bottom) for x in range(left, right)}


def test_inpaint_with_a_mask_through_the_sdk(client: openai.OpenAI, bedrock: FakeBedrock) -> None:
    bedrock.model(INPAINT, stability_answer, region="us-west-2")
    raw = inpaint(
        client,
        "a red boat",
        n=2,
        extra_body={"negative_prompt": "blurry", "seed": 9, "grow_mask": 4},
    )
    result = raw.parse()
    assert result.data is not None and len(result.data) == 2
    assert base64.b64decode(result.data[0].b64_json or "") == ANSWER_PNG
    assert len(bedrock.calls) == 2  # one image per call
    call = bedrock.calls[0]
    assert call.raw_path == "/model/us.stability.stable-image-inpaint-v1%3A0/invoke"
    assert "/us-west-2/bedrock/aws4_request" in call.headers["authorization"]
    body = call.json()
    mask = body.pop("mask")
    assert body == {
        "image": base64.b64encode(PHOTO).decode(),
        "prompt": "a red boat",
        "negative_prompt": "blurry",
        "seed": 9,
        "grow_mask": 4,
    }
    assert white_area(mask) == transparent_area()
    assert float(raw.headers["x-response-cost"]) == pytest.approx(2 * 0.07)


def test_erase_and_search_and_replace_and_remove_background(
    client: openai.OpenAI, bedrock: FakeBedrock
) -> None:
    for model in (ERASE, REPLACE, REMOVE_BG):
        bedrock.model(model, stability_answer, region="us-west-2")
    client.images.edit(
        model="erase",
        image=("photo.png", PHOTO, "image/png"),
        mask=("mask.png", OPENAI_MASK, "image/png"),
        prompt="remove it",
    )
    client.images.edit(
        model="replace",
        image=("photo.png", PHOTO, "image/png"),
        prompt="a golden retriever",
        extra_body={"search_prompt": "the cat"},
    )
    client.images.edit(
        model="remove-bg",
        image=("photo.png", PHOTO, "image/png"),
        prompt="cut it out",
        output_format="webp",
    )
    erase, replace, remove = (c.json() for c in bedrock.calls)
    assert set(erase) == {"image", "mask"} and white_area(erase["mask"]) == transparent_area()
    assert replace == {
        "image": base64.b64encode(PHOTO).decode(),
        "prompt": "a golden retriever",
        "search_prompt": "the cat",
    }
    assert remove == {"image": base64.b64encode(PHOTO).decode(), "output_format": "webp"}


def test_style_transfer_reads_the_image_then_the_style_image(
    client: openai.OpenAI, bedrock: FakeBedrock
) -> None:
    bedrock.model(STYLE_TRANSFER, stability_answer, region="us-west-2")
    style = png_bytes(Image.new("RGB", (16, 16), (255, 200, 0)))
    result = client.images.edit(
        model="style-transfer",
        image=[("photo.png", PHOTO, "image/png"), ("style.png", style, "image/png")],
        prompt="in this style",
        extra_body={"style_strength": 0.9},
    )
    assert result.data is not None and len(result.data) == 1
    (call,) = bedrock.calls
    assert call.raw_path == "/model/us.stability.stable-style-transfer-v1%3A0/invoke"
    assert call.json() == {
        "init_image": base64.b64encode(PHOTO).decode(),
        "style_image": base64.b64encode(style).decode(),
        "prompt": "in this style",
        "style_strength": 0.9,
    }


def test_refusals_are_400s_without_any_upstream_call(
    client: openai.OpenAI, bedrock: FakeBedrock, fake: FakeUpstream
) -> None:
    photo = ("photo.png", PHOTO, "image/png")
    with pytest.raises(openai.BadRequestError) as masked:
        client.images.edit(
            model="replace",
            image=photo,
            mask=("mask.png", OPENAI_MASK, "image/png"),
            prompt="p",
            extra_body={"search_prompt": "x"},
        )
    assert masked.value.param == "mask" and "takes no mask" in masked.value.message
    small_mask = png_bytes(Image.new("RGBA", (W // 2, H), (0, 0, 0, 0)))
    with pytest.raises(openai.BadRequestError) as sized:
        client.images.edit(
            model="inpaint", image=photo, mask=("m.png", small_mask, "image/png"), prompt="p"
        )
    assert sized.value.param == "mask" and f"{W}x{H}" in sized.value.message
    flat_mask = png_bytes(Image.new("L", (W, H), 0))
    with pytest.raises(openai.BadRequestError) as flat:
        client.images.edit(
            model="inpaint", image=photo, mask=("m.png", flat_mask, "image/png"), prompt="p"
        )
    assert flat.value.param == "mask" and "alpha" in flat.value.message
    with pytest.raises(openai.BadRequestError) as nova:
        client.images.edit(model="nova", image=photo, prompt="p")
    assert "cannot edit images" in nova.value.message and "not an edit model" in nova.value.message
    with pytest.raises(openai.BadRequestError) as generation:
        client.images.generate(model="erase", prompt="p")
    assert "/v1/images/edits" in generation.value.message
    assert fake.received() == []


def test_a_filtered_edit_is_a_content_policy_400(
    client: openai.OpenAI, bedrock: FakeBedrock
) -> None:
    bedrock.model(INPAINT, stability_answer, region="us-west-2")
    with pytest.raises(openai.BadRequestError) as info:
        inpaint(client, "something forbidden")
    assert info.value.code == "content_policy_violation"
    assert len(bedrock.calls) == 1


def test_no_image_bytes_or_secret_in_the_logs(
    proxy: Any, client: openai.OpenAI, bedrock: FakeBedrock
) -> None:
    bedrock.model(INPAINT, stability_answer, region="us-west-2")
    raw = inpaint(client, "a lighthouse")
    record = log_record(proxy, raw.headers["x-request-id"])  # the edit's line is written
    assert record["endpoint"] == "image_edits" and record["input_images"] == 1
    assert record["input_bytes"] == len(PHOTO) + len(OPENAI_MASK)
    (call,) = bedrock.calls
    logs = proxy.logs()
    sent_mask = call.json()["mask"]
    for b64 in (base64.b64encode(PHOTO).decode(), sent_mask, base64.b64encode(ANSWER_PNG).decode()):
        assert b64[20:60] not in logs
    assert SECRET not in logs
