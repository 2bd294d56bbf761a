"""Stability AI's own API and fal.ai end to end through the official SDK, against fake upstreams
on loopback that speak their wire formats and check what they receive: Stability's multipart
forms (the mask read back pixel by pixel), fal's JSON and its CDN."""

from __future__ import annotations

import base64
import io
from typing import Any

import openai
import pytest
from PIL import Image
from starlette.responses import JSONResponse

from tests.conftest import MASTER_KEY
from tests.e2e.test_bedrock_edits import (
    ANSWER_PNG,
    OPENAI_MASK,
    PHOTO,
    H,
    W,
    inpaint,
    png_bytes,
    transparent_area,
)
from tests.e2e.test_image_edits import log_record
from tests.fakes.multipart import Part, form_parts, text_fields
from tests.fakes.server import FakeUpstream, Received

STABILITY_KEY = "sk-stability-e2e-5f1c"
STABILITY_ENV_KEY = "sk-stability-env-91ab"
FAL_KEY = "5c2d9e1a-7b3f-4e8d-9a6c-1f2e3d4c5b6a:0a1b2c3d4e5f60718293a4b5c6d7e8f9"
FAL_ENV_KEY = "8e7d6c5b-4a39-4281-9706-f5e4d3c2b1a0:ffeeddccbbaa99887766554433221100"
ST = "/stability/v2beta/stable-image"
ANSWER_B64 = base64.b64encode(ANSWER_PNG).decode()


@pytest.fixture(scope="module")
def proxy(proxy_factory: Any, upstream: FakeUpstream) -> Any:
    base = upstream.base

    def stability(name: str, model: str, **params: Any) -> dict[str, Any]:
        litellm = {
            "model": f"stability/{model}",
            "api_key": STABILITY_KEY,
            "api_base": f"{base}/stability",
            **params,
        }
        return {"model_name": name, "litellm_params": litellm}

    env_keyed = stability("core-env", "stable-image-core")
    del env_keyed["litellm_params"]["api_key"]  # STABILITY_API_KEY from the environment
    models = [
        stability("sd35", "sd3.5-large"),
        stability("ultra", "stable-image-ultra"),
        env_keyed,
        stability("inpaint", "inpaint"),
        stability("outpaint", "outpaint"),
        stability("replace", "search-and-replace"),
        stability("remove-bg", "remove-background"),
    ]
    models[3]["model_info"] = {"mode": "image_edit"}

    def fal(name: str, app: str, **params: Any) -> dict[str, Any]:
        litellm = {"model": f"fal_ai/{app}", "api_key": FAL_KEY, "api_base": f"{base}/fal"}
        return {"model_name": name, "litellm_params": {**litellm, **params}}

    fal_env_keyed = fal("schnell-env", "fal-ai/flux/schnell")
    del fal_env_keyed["litellm_params"]["api_key"]  # FAL_KEY from the environment
    models += [
        fal("schnell", "fal-ai/flux/schnell"),
        fal_env_keyed,
        fal("nano-edit", "fal-ai/nano-banana"),
        fal("fill", "fal-ai/flux-pro/v1/fill"),
    ]
    return proxy_factory(
        {
            "model_list": models,
            "general_settings": {
                "image_fetch": {
                    "allowed_hosts": ["127.0.0.1"],
                    "allow_private_cidrs": ["127.0.0.1/32"],
                }
            },
        },
        env={"STABILITY_API_KEY": STABILITY_ENV_KEY, "FAL_KEY": FAL_ENV_KEY},
    )


@pytest.fixture
def client(proxy: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, max_retries=0)


# --- fake Stability ---------------------------------------------------------------------------


def stability_error(status: int, name: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"id": "e3b0c44298fc1c149afbf4c8996fb924", "name": name, "errors": [message]}, status
    )


def fake_stability(req: Received) -> Any:
    """Stability's v2beta answer to a multipart form, or its error for what it refuses."""
    if req.headers.get("authorization") not in (
        f"Bearer {STABILITY_KEY}",
        f"Bearer {STABILITY_ENV_KEY}",
    ):
        return stability_error(401, "unauthorized", "authorization: invalid API key")
    if req.headers.get("accept") != "application/json":
        return stability_error(400, "bad_request", "accept: must be application/json or image/*")
    content_type = req.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        return stability_error(400, "bad_request", "content-type: must be multipart/form-data")
    fields = text_fields(form_parts(content_type, req.body))
    prompt = fields.get("prompt", "")
    if "forbidden" in prompt:
        return {"image": ANSWER_B64, "finish_reason": "CONTENT_FILTERED", "seed": 7}
    if "moderate" in prompt:
        return stability_error(
            403,
            "content_moderation",
            "Your request was flagged by our content moderation system, as a result your "
            "request was denied and you were not charged.",
        )
    if "unprocessable" in prompt:
        return stability_error(422, "invalid_language", "English is the only supported language")
    return {"image": ANSWER_B64, "finish_reason": "SUCCESS", "seed": 1234}


def sent_parts(req: Received) -> list[Part]:
    return form_parts(req.headers["content-type"], req.body)


def white_area(part: Part) -> set[tuple[int, int]]:
    image = Image.open(io.BytesIO(part.data))
    assert image.format == "PNG" and image.mode == "L" and image.size == (W, H)
    values = {image.getpixel((x, y)) for y in range(H) for x in range(W)}
    assert values == {0, 255}
    return {(x, y) for y in range(H) for x in range(W) if image.getpixel((x, y)) == 255}


# --- Stability: generations ---------------------------------------------------------------------


def test_stability_generation_fans_n_out_as_multipart_forms(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    fake.route("POST", f"{ST}/generate/sd3", fake_stability)
    raw = client.images.with_raw_response.generate(
        model="sd35",
        prompt="a lighthouse at dusk",
        n=2,
        size="1536x1024",
        extra_body={"negative_prompt": "blurry", "style_preset": "photographic"},
    )
    result = raw.parse()
    assert result.data is not None and len(result.data) == 2
    assert all(base64.b64decode(d.b64_json or "") == ANSWER_PNG for d in result.data)
    calls = fake.received()
    assert len(calls) == 2  # one image per call
    for call in calls:
        assert call.headers["authorization"] == f"Bearer {STABILITY_KEY}"
        assert MASTER_KEY not in str(call.headers)
        parts = sent_parts(call)
        assert all(p.filename is None for p in parts)
        assert text_fields(parts) == {
            "prompt": "a lighthouse at dusk",
            "model": "sd3.5-large",
            "aspect_ratio": "3:2",
            "negative_prompt": "blurry",
            "style_preset": "photographic",
            "output_format": "png",
        }
    assert float(raw.headers["x-response-cost"]) == pytest.approx(2 * 0.065)


def test_stability_key_from_the_environment_and_url_output(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    fake.route("POST", f"{ST}/generate/core", fake_stability)
    result = client.images.generate(model="core-env", prompt="a kite", output_format="jpeg")
    assert result.data is not None and len(result.data) == 1
    (call,) = fake.received()
    assert call.headers["authorization"] == f"Bearer {STABILITY_ENV_KEY}"
    assert text_fields(sent_parts(call))["output_format"] == "jpeg"


def test_stability_refusals_are_400s_without_an_upstream_call(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    with pytest.raises(openai.BadRequestError) as size:
        client.images.generate(model="ultra", prompt="p", size="1792x1024")
    assert size.value.param == "size" and "16:9" in size.value.message
    with pytest.raises(openai.BadRequestError) as quality:
        client.images.generate(model="ultra", prompt="p", quality="high")
    assert quality.value.param == "quality"
    with pytest.raises(openai.BadRequestError) as background:
        client.images.generate(model="ultra", prompt="p", background="transparent")
    assert background.value.param == "background"
    with pytest.raises(openai.BadRequestError) as edit_model:
        client.images.generate(model="inpaint", prompt="p")
    assert "/v1/images/edits" in edit_model.value.message
    assert fake.received() == []


def test_stability_explicit_aspect_ratio_wins(client: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.route("POST", f"{ST}/generate/ultra", fake_stability)
    client.images.generate(
        model="ultra", prompt="p", size="1792x1024", extra_body={"aspect_ratio": "16:9"}
    )
    (call,) = fake.received()
    assert text_fields(sent_parts(call))["aspect_ratio"] == "16:9"


def test_stability_content_filter_and_errors(client: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.route("POST", f"{ST}/generate/sd3", fake_stability)
    with pytest.raises(openai.BadRequestError) as filtered:
        client.images.generate(model="sd35", prompt="something forbidden")
    assert filtered.value.code == "content_policy_violation"
    with pytest.raises(openai.BadRequestError) as moderated:
        client.images.generate(model="sd35", prompt="moderate me")
    assert moderated.value.code == "content_policy_violation"
    assert "content moderation" in moderated.value.message
    with pytest.raises(openai.BadRequestError) as unprocessable:
        client.images.generate(model="sd35", prompt="unprocessable")
    assert "English is the only supported language" in unprocessable.value.message
    fake.route(
        "POST", f"{ST}/generate/sd3", lambda r: stability_error(401, "unauthorized", "bad key")
    )
    with pytest.raises(openai.APIStatusError) as auth:
        client.images.generate(model="sd35", prompt="p")
    assert auth.value.status_code == 502
    assert STABILITY_KEY not in auth.value.message


# --- Stability: edits ---------------------------------------------------------------------------


def test_stability_inpaint_sends_the_mask_white_where_the_client_made_it_transparent(
    proxy: Any, client: openai.OpenAI, fake: FakeUpstream
) -> None:
    fake.route("POST", f"{ST}/edit/inpaint", fake_stability)
    raw = inpaint(
        client,
        "a red boat",
        n=2,
        extra_body={"negative_prompt": "blurry", "seed": 9, "grow_mask": 4},
    )
    result = raw.parse()
    assert result.data is not None and len(result.data) == 2
    assert base64.b64decode(result.data[0].b64_json or "") == ANSWER_PNG
    calls = fake.received()
    assert len(calls) == 2
    parts = sent_parts(calls[0])
    assert text_fields(parts) == {
        "prompt": "a red boat",
        "negative_prompt": "blurry",
        "seed": "9",
        "grow_mask": "4",
        "output_format": "png",
    }
    files = {p.name: p for p in parts if p.filename is not None}
    assert set(files) == {"image", "mask"}
    assert files["image"].data == PHOTO and files["image"].content_type == "image/png"
    assert white_area(files["mask"]) == transparent_area()
    record = log_record(proxy, raw.headers["x-request-id"])
    assert record["endpoint"] == "image_edits" and record["input_images"] == 1


def test_stability_outpaint_replace_and_remove_background(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    for path in ("outpaint", "search-and-replace", "remove-background"):
        fake.route("POST", f"{ST}/edit/{path}", fake_stability)
    photo = ("photo.png", PHOTO, "image/png")
    client.images.edit(
        model="outpaint", image=photo, prompt="more sea", extra_body={"left": 32, "up": 16}
    )
    client.images.edit(
        model="replace", image=photo, prompt="a dog", extra_body={"search_prompt": "the cat"}
    )
    client.images.edit(model="remove-bg", image=photo, prompt="cut it out", output_format="webp")
    outpaint, replace, remove = (text_fields(sent_parts(c)) for c in fake.received())
    assert outpaint == {"prompt": "more sea", "left": "32", "up": "16", "output_format": "png"}
    assert replace == {"prompt": "a dog", "search_prompt": "the cat", "output_format": "png"}
    assert remove == {"output_format": "webp"}


def test_stability_edit_refusals_before_any_call(client: openai.OpenAI, fake: FakeUpstream) -> None:
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
    with pytest.raises(openai.BadRequestError) as generator:
        client.images.edit(model="sd35", image=photo, prompt="p")
    assert "cannot edit images" in generator.value.message
    with pytest.raises(openai.BadRequestError) as no_side:
        client.images.edit(model="outpaint", image=photo, prompt="p")
    assert "left, right, up, down" in no_side.value.message
    assert fake.received() == []


def test_stability_logs_hold_no_image_bytes_or_key(
    proxy: Any, client: openai.OpenAI, fake: FakeUpstream
) -> None:
    fake.route("POST", f"{ST}/edit/inpaint", fake_stability)
    raw = inpaint(client, "a lighthouse")
    log_record(proxy, raw.headers["x-request-id"])
    logs = proxy.logs()
    for b64 in (base64.b64encode(PHOTO).decode(), ANSWER_B64):
        assert b64[20:60] not in logs
    assert STABILITY_KEY not in logs and STABILITY_ENV_KEY not in logs


# --- fake fal.ai --------------------------------------------------------------------------------

FAL_PNG = png_bytes(Image.new("RGB", (32, 24), (0, 200, 90)))


def fake_fal(upstream: FakeUpstream, flags: list[bool] | None = None) -> Any:
    """fal's synchronous run: the app's JSON in, CDN URLs (here on loopback) out."""

    def run(req: Received) -> Any:
        if req.headers.get("authorization") not in (f"Key {FAL_KEY}", f"Key {FAL_ENV_KEY}"):
            return JSONResponse({"detail": "Authentication is required"}, 401)
        body = req.json()
        if not isinstance(body.get("prompt"), str):
            return JSONResponse(
                {
                    "detail": [
                        {"loc": ["body", "prompt"], "msg": "field required", "type": "missing"}
                    ]
                },
                422,
            )
        if body.get("num_images", 1) > 4:
            return JSONResponse(
                {
                    "detail": [
                        {
                            "loc": ["body", "num_images"],
                            "msg": "ensure this value is less than or equal to 4",
                            "type": "value_error.number.not_le",
                        }
                    ]
                },
                422,
            )
        if "forbidden" in body["prompt"]:
            return JSONResponse(
                {
                    "detail": [
                        {
                            "loc": ["body", "prompt"],
                            "msg": "The content was flagged by a content checker.",
                            "type": "content_policy_violation",
                            "input": body["prompt"],
                            "categories": ["violence"],
                        }
                    ]
                },
                422,
            )
        n = body.get("num_images", 1)
        inline = "data:image/png;base64," + base64.b64encode(FAL_PNG).decode()
        images = [
            {
                "url": inline if body.get("sync_mode") else f"{upstream.base}/cdn/files/{i}.png",
                "width": 32,
                "height": 24,
                "content_type": "image/png",
            }
            for i in range(n)
        ]
        nsfw = flags if flags is not None else [False] * n
        return {
            "images": images,
            "timings": {"inference": 0.2},
            "seed": 99,
            "has_nsfw_concepts": nsfw,
        }

    return run


def cdn(req: Received) -> Any:
    from starlette.responses import Response

    return Response(FAL_PNG, media_type="image/png")


def test_fal_generation_and_b64_through_the_guarded_downloader(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    fake.route("POST", "/fal/fal-ai/flux/schnell", fake_fal(fake))
    fake.route("GET", "/cdn/files/*", cdn)
    raw = client.images.with_raw_response.generate(
        model="schnell",
        prompt="a red fox in snow",
        n=2,
        size="1024x768",
        response_format="b64_json",
        extra_body={"num_inference_steps": 4, "seed": 3},
    )
    result = raw.parse()
    assert result.data is not None and len(result.data) == 2
    assert all(base64.b64decode(d.b64_json or "") == FAL_PNG for d in result.data)
    (run,) = fake.received("/fal/fal-ai/flux/schnell")  # one call: fal makes num_images itself
    assert run.headers["authorization"] == f"Key {FAL_KEY}"
    assert run.json() == {
        "prompt": "a red fox in snow",
        "num_images": 2,
        "image_size": {"width": 1024, "height": 768},
        "num_inference_steps": 4,
        "seed": 3,
    }
    assert len(fake.received("/cdn/files/0.png") + fake.received("/cdn/files/1.png")) == 2
    assert float(raw.headers["x-response-cost"]) == pytest.approx(2 * 0.003)


def test_fal_key_from_fal_key_and_urls_as_answered(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    fake.route("POST", "/fal/fal-ai/flux/schnell", fake_fal(fake))
    result = client.images.generate(model="schnell-env", prompt="a kite")
    assert result.data is not None and result.data[0].url == f"{fake.base}/cdn/files/0.png"
    (run,) = fake.received()
    assert run.headers["authorization"] == f"Key {FAL_ENV_KEY}"


def test_fal_flagged_images_are_dropped_or_refused(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    fake.route("POST", "/fal/fal-ai/flux/schnell", fake_fal(fake, flags=[True, False]))
    result = client.images.generate(model="schnell", prompt="p", n=2)
    assert result.data is not None and [d.url for d in result.data] == [
        f"{fake.base}/cdn/files/1.png"
    ]
    fake.route("POST", "/fal/fal-ai/flux/schnell", fake_fal(fake, flags=[True]))
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(model="schnell", prompt="p")
    assert info.value.code == "content_policy_violation"


def test_fal_errors_and_refusals(client: openai.OpenAI, fake: FakeUpstream) -> None:
    with pytest.raises(openai.BadRequestError) as too_many:
        client.images.generate(model="schnell", prompt="p", n=5)
    assert too_many.value.param == "n"
    with pytest.raises(openai.BadRequestError) as quality:
        client.images.generate(model="schnell", prompt="p", quality="high")
    assert quality.value.param == "quality"
    assert fake.received() == []
    fake.route("POST", "/fal/fal-ai/flux/schnell", fake_fal(fake))
    with pytest.raises(openai.BadRequestError) as flagged:
        client.images.generate(model="schnell", prompt="something forbidden")
    assert flagged.value.code == "content_policy_violation"
    assert "prompt: The content was flagged" in flagged.value.message
    fake.route(
        "POST",
        "/fal/fal-ai/flux/schnell",
        lambda r: JSONResponse({"detail": "Authentication is required"}, 401),
    )
    with pytest.raises(openai.APIStatusError) as auth:
        client.images.generate(model="schnell", prompt="p")
    assert auth.value.status_code == 502 and FAL_KEY not in auth.value.message


def test_fal_edit_sends_every_image_as_a_data_url(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    fake.route("POST", "/fal/fal-ai/nano-banana/edit", fake_fal(fake))
    hat = png_bytes(Image.new("RGB", (16, 16), (10, 10, 10)))
    result = client.images.edit(
        model="nano-edit",
        image=[("cat.png", PHOTO, "image/png"), ("hat.png", hat, "image/png")],
        prompt="put the hat on the cat",
        output_format="png",
    )
    assert result.data is not None and len(result.data) == 1
    (run,) = fake.received()
    prefix = "data:image/png;base64,"
    assert run.json() == {
        "prompt": "put the hat on the cat",
        "num_images": 1,
        "output_format": "png",
        "image_urls": [
            prefix + base64.b64encode(PHOTO).decode(),
            prefix + base64.b64encode(hat).decode(),
        ],
    }
    with pytest.raises(openai.BadRequestError) as masked:
        client.images.edit(
            model="nano-edit",
            image=("cat.png", PHOTO, "image/png"),
            mask=("mask.png", OPENAI_MASK, "image/png"),
            prompt="p",
        )
    assert masked.value.param == "mask"
    assert len(fake.received()) == 1


def test_fal_fill_gets_the_mask_white_where_the_client_made_it_transparent(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    fake.route("POST", "/fal/fal-ai/flux-pro/v1/fill", fake_fal(fake))
    client.images.edit(
        model="fill",
        image=("photo.png", PHOTO, "image/png"),
        mask=("mask.png", OPENAI_MASK, "image/png"),
        prompt="a red boat",
    )
    (run,) = fake.received()
    body = run.json()
    prefix = "data:image/png;base64,"
    assert body["image_url"] == prefix + base64.b64encode(PHOTO).decode()
    mask = base64.b64decode(body["mask_url"][len(prefix) :])
    part = Part(name="mask", filename="mask.png", content_type="image/png", data=mask)
    assert white_area(part) == transparent_area()


def test_fal_sync_mode_data_uris_come_back_as_b64_json(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    fake.route("POST", "/fal/fal-ai/flux/schnell", fake_fal(fake))
    result = client.images.generate(
        model="schnell", prompt="p", n=2, extra_body={"sync_mode": True}
    )
    assert result.data is not None and len(result.data) == 2
    assert all(base64.b64decode(d.b64_json or "") == FAL_PNG for d in result.data)
    assert [r.path for r in fake.received()] == ["/fal/fal-ai/flux/schnell"]  # no download
