"""Recraft edits and variations end to end: the official SDK against a fake Recraft that
speaks its multipart tools (``imageToImage``, ``inpaint``, ``removeBackground``,
``variateImage``) and checks what reached it: the tool, the fields, the files, the mask
converted to white-edits pixel by pixel."""

from __future__ import annotations

import base64
import io
from typing import Any

import httpx
import openai
import pytest
from PIL import Image
from starlette.responses import JSONResponse, PlainTextResponse

from proxy.providers.mock.png import render_png
from tests.conftest import MASTER_KEY
from tests.fakes.multipart import Part, form_parts, text_fields
from tests.fakes.server import FakeUpstream, Received

RECRAFT_KEY = "recraft-edits-token-51c9"
W, H = 320, 256
HOLE = (40, 30, 200, 170)  # left, top, right (exclusive), bottom (exclusive)
OUT_PNG = render_png(8, 8, (5, 6, 7))
OUT_B64 = base64.b64encode(OUT_PNG).decode()
TOOLS = ("imageToImage", "inpaint", "eraseRegion", "removeBackground", "variateImage")


def encoded(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


PHOTO = encoded(Image.new("RGB", (W, H), (30, 90, 150)))
SQUARE = encoded(Image.new("RGB", (1024, 1024), (60, 60, 60)))


def openai_mask() -> bytes:
    image = Image.new("RGBA", (W, H), (0, 0, 0, 255))
    image.paste((0, 0, 0, 0), HOLE)
    image.putpixel((0, 0), (9, 9, 9, 128))  # half transparent: kept
    return encoded(image)


@pytest.fixture(scope="module")
def proxy(proxy_factory: Any, upstream: FakeUpstream) -> Any:
    base = upstream.base
    return proxy_factory(
        {
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
                    "model_name": "recraft-cutout",
                    "litellm_params": {
                        "model": "recraft/recraftv3",
                        "api_key": RECRAFT_KEY,
                        "api_base": f"{base}/recraft",  # LiteLLM's base, without /v1
                        "recraft_operation": "removeBackground",
                    },
                    "model_info": {"mode": "image_edit", "output_cost_per_image": 0.01},
                },
                {
                    "model_name": "recraft-badkey",
                    "litellm_params": {
                        "model": "recraft/recraftv3",
                        "api_key": "wrong-token",
                        "api_base": f"{base}/recraft/v1",
                    },
                },
            ]
        }
    )


@pytest.fixture
def client(proxy: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, max_retries=0)


def parts_of(r: Received) -> list[Part]:
    return form_parts(r.headers["content-type"], r.body)


def files_of(r: Received) -> dict[str, Part]:
    return {p.name: p for p in parts_of(r) if p.filename is not None}


def image_item(i: int, fmt: str) -> dict[str, Any]:
    item: dict[str, Any] = {"image_id": f"a1f2c8d4-1234-4abc-9def-00000000000{i}"}
    if fmt == "b64_json":
        item["b64_json"] = OUT_B64
    else:
        item["url"] = f"https://img.recraft.ai/signed/{i}.png?sig=abc"
    return item


def fake_recraft(req: Received) -> Any:
    """Recraft's tools as its spec describes them: multipart, ``image`` (and ``mask``)
    files, a ``GenerateImageResponse`` or, for removeBackground, a ``ProcessImageResponse``."""
    if req.headers.get("authorization") != f"Bearer {RECRAFT_KEY}":
        return PlainTextResponse("request unauthorized", 401)
    tool = req.path.rsplit("/", 1)[-1]
    fields = text_fields(parts_of(req))
    files = files_of(req)
    if "image" not in files:
        return PlainTextResponse("image is required", 400)
    if tool == "imageToImage" and ("strength" not in fields or "prompt" not in fields):
        return PlainTextResponse("prompt and strength are required", 400)
    if tool in ("inpaint", "eraseRegion") and "mask" not in files:
        return PlainTextResponse("mask is required", 400)
    if tool == "variateImage" and "size" not in fields:
        return PlainTextResponse("size is required", 400)
    fmt = fields.get("response_format", "url")
    if tool in ("eraseRegion", "removeBackground"):
        return {"created": 1748140900, "credits": 10, "image": image_item(0, fmt)}
    n = int(fields.get("n", "1"))
    data = [image_item(i, fmt) for i in range(n)]
    return JSONResponse({"created": 1748140800, "credits": 40 * n, "data": data})


@pytest.fixture
def recraft(fake: FakeUpstream) -> FakeUpstream:
    for tool in TOOLS:
        fake.route("POST", f"/recraft/v1/images/{tool}", fake_recraft)
    return fake


def test_an_edit_without_mask_is_image_to_image_with_the_cost(
    client: openai.OpenAI, recraft: FakeUpstream
) -> None:
    raw = client.images.with_raw_response.edit(
        model="recraft",
        image=("boat.png", PHOTO, "image/png"),
        prompt="a red boat at dusk",
        n=2,
        extra_body={"strength": 0.5, "style": "digital_illustration", "random_seed": 42},
    )
    result = raw.parse()
    assert result.data is not None
    assert [d.url for d in result.data] == [
        "https://img.recraft.ai/signed/0.png?sig=abc",
        "https://img.recraft.ai/signed/1.png?sig=abc",
    ]
    assert result.created == 1748140800
    assert float(raw.headers["x-response-cost"]) == pytest.approx(2 * 0.04)
    (sent,) = recraft.received()
    assert sent.path == "/recraft/v1/images/imageToImage"
    assert sent.headers["authorization"] == f"Bearer {RECRAFT_KEY}"
    assert text_fields(parts_of(sent)) == {
        "model": "recraftv3",
        "prompt": "a red boat at dusk",
        "n": "2",
        "strength": "0.5",
        "style": "digital_illustration",
        "random_seed": "42",
    }
    (image,) = files_of(sent).values()
    assert image.name == "image" and image.data == PHOTO and image.content_type == "image/png"


def test_an_edit_with_a_mask_is_inpaint_with_the_mask_white_where_transparent(
    client: openai.OpenAI, recraft: FakeUpstream
) -> None:
    result = client.images.edit(
        model="recraft",
        image=("boat.png", PHOTO, "image/png"),
        mask=("mask.png", openai_mask(), "image/png"),
        prompt="a red boat",
        response_format="b64_json",
    )
    assert result.data is not None
    assert [base64.b64decode(d.b64_json or "") for d in result.data] == [OUT_PNG]
    (sent,) = recraft.received()
    assert sent.path == "/recraft/v1/images/inpaint"
    assert text_fields(parts_of(sent)) == {
        "model": "recraftv3",
        "prompt": "a red boat",
        "response_format": "b64_json",
    }
    files = files_of(sent)
    assert list(files) == ["image", "mask"] and files["image"].data == PHOTO
    mask = Image.open(io.BytesIO(files["mask"].data))
    assert mask.mode == "L" and mask.size == (W, H)
    left, top, right, bottom = HOLE
    for y in range(H):
        for x in range(W):
            inside = left <= x < right and top <= y < bottom
            assert mask.getpixel((x, y)) == (255 if inside else 0), (x, y)


def test_a_process_image_response_is_wrapped_into_data(
    client: openai.OpenAI, recraft: FakeUpstream
) -> None:
    raw = client.images.with_raw_response.edit(
        model="recraft-cutout", image=("boat.png", PHOTO, "image/png"), prompt="cut it out"
    )
    result = raw.parse()
    assert result.data is not None
    assert [d.url for d in result.data] == ["https://img.recraft.ai/signed/0.png?sig=abc"]
    assert result.created == 1748140900
    assert float(raw.headers["x-response-cost"]) == pytest.approx(0.01)
    (sent,) = recraft.received()
    assert sent.path == "/recraft/v1/images/removeBackground"
    assert text_fields(parts_of(sent)) == {}  # no prompt, no model: the tool takes none
    assert list(files_of(sent)) == ["image"]


def test_a_json_edit_choosing_erase_region_in_the_body(proxy: Any, recraft: FakeUpstream) -> None:
    def data_url(data: bytes) -> str:
        return "data:image/png;base64," + base64.b64encode(data).decode()

    r = httpx.post(
        f"{proxy.base_url}/v1/images/edits",
        headers={"authorization": f"Bearer {MASTER_KEY}"},
        json={
            "model": "recraft",
            "prompt": "remove the boat",
            "images": [{"image_url": data_url(PHOTO)}],
            "mask": {"image_url": data_url(openai_mask())},
            "recraft_operation": "eraseRegion",
            "response_format": "b64_json",
        },
    )
    assert r.status_code == 200, r.text
    assert [base64.b64decode(d["b64_json"]) for d in r.json()["data"]] == [OUT_PNG]
    (sent,) = recraft.received()
    assert sent.path == "/recraft/v1/images/eraseRegion"
    assert text_fields(parts_of(sent)) == {"response_format": "b64_json"}
    files = files_of(sent)
    assert list(files) == ["image", "mask"]
    mask = Image.open(io.BytesIO(files["mask"].data))
    left, top, right, bottom = HOLE
    assert {(x, y) for y in range(H) for x in range(W) if mask.getpixel((x, y)) == 255} == {
        (x, y) for y in range(top, bottom) for x in range(left, right)
    }


def test_a_variation_through_create_variation(client: openai.OpenAI, recraft: FakeUpstream) -> None:
    with pytest.warns(DeprecationWarning):  # the SDK marks it deprecated (dall-e-2 retired)
        raw = client.images.with_raw_response.create_variation(
            model="recraft",
            image=("square.png", SQUARE, "image/png"),
            n=3,
            response_format="b64_json",
            extra_body={"random_seed": 7},
        )
    result = raw.parse()
    assert result.data is not None
    assert [base64.b64decode(d.b64_json or "") for d in result.data] == [OUT_PNG] * 3
    assert float(raw.headers["x-response-cost"]) == pytest.approx(3 * 0.04)
    (sent,) = recraft.received()
    assert sent.path == "/recraft/v1/images/variateImage"
    assert text_fields(parts_of(sent)) == {
        "n": "3",
        "response_format": "b64_json",
        "random_seed": "7",
        "size": "1024x1024",  # the image's own, one of recraftv3's sizes
    }
    assert files_of(sent)["image"].data == SQUARE


@pytest.mark.parametrize(
    ("call", "param", "words"),
    [
        (
            {"image": ("tiny.png", encoded(Image.new("RGB", (200, 200))), "image/png")},
            "image",
            "256 to 4096",
        ),
        (
            {"image": ("boat.png", PHOTO, "image/png"), "size": "1024x1024"},
            "size",
            "keeps the input image's size",
        ),
        (
            {"image": [("a.png", PHOTO, "image/png"), ("b.png", PHOTO, "image/png")]},
            "image",
            "one image at a time",
        ),
    ],
)
def test_refusals_name_the_problem_and_call_nothing(
    client: openai.OpenAI, recraft: FakeUpstream, call: dict[str, Any], param: str, words: str
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.images.edit(model="recraft", prompt="brighter", **call)
    assert info.value.param == param and words in info.value.message
    assert recraft.received() == []


def test_a_variation_of_an_odd_size_asks_for_size(
    client: openai.OpenAI, recraft: FakeUpstream
) -> None:
    with pytest.warns(DeprecationWarning), pytest.raises(openai.BadRequestError) as info:
        client.images.create_variation(model="recraft", image=("boat.png", PHOTO, "image/png"))
    assert info.value.param == "size" and "need a 'size'" in info.value.message
    assert recraft.received() == []


def test_a_wrong_token_is_a_provider_auth_error_without_the_key(
    client: openai.OpenAI, recraft: FakeUpstream
) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        client.images.edit(
            model="recraft-badkey", image=("boat.png", PHOTO, "image/png"), prompt="x"
        )
    err = info.value
    assert err.status_code == 502 and err.code == "provider_authentication_failed"
    assert "request unauthorized" in err.message and "wrong-token" not in err.message
