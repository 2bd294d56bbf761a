"""Image edits and variations without a network: the multipart body the official SDK records
-> the proxy's reading of it -> each provider's upstream request, table by table."""

from __future__ import annotations

import struct
from typing import Any, cast

import httpx
import openai
import pytest
from starlette.requests import Request

from proxy.api.uploads import UploadFiles, UploadLimits, read_multipart
from proxy.attempt.edits import EDITS, VARIATIONS
from proxy.config import ConfigError, Deployment
from proxy.configure import parse_config
from proxy.errors import InvalidRequestError, PayloadTooLargeError
from proxy.images.formats import image_dimensions
from proxy.providers.mock.png import render_png
from proxy.providers.registry import PROVIDERS
from proxy.schemas.edits import EditRequest, InputImage, VariationRequest, form_value
from proxy.upstream_request import UpstreamRequest
from tests.fakes.multipart import form_parts, text_fields

LIMITS = UploadLimits(per_image=64 * 1024, total=512 * 1024)


def png(width: int, height: int, shade: int = 10) -> bytes:
    return render_png(width, height, (shade, shade, shade))


def recorded_edit(**kwargs: Any) -> httpx.Request:
    """What ``client.images.edit(**kwargs)`` sends, caught before it leaves the SDK."""
    caught: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        request.read()
        caught.append(request)
        return httpx.Response(200, json={"created": 1, "data": [{"b64_json": "aGk="}]})

    with openai.OpenAI(
        api_key="sk-test",
        base_url="http://sdk.invalid/v1",
        # an httpx client: the SDK takes one (newer releases also their own httpx2 ones)
        http_client=cast(Any, httpx.Client(transport=httpx.MockTransport(answer))),
    ) as client:
        client.images.edit(**kwargs)
    return caught[0]


def as_starlette(recorded: httpx.Request) -> Request:
    body = recorded.content
    headers = [(k.lower().encode(), v.encode()) for k, v in recorded.headers.items()]
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {"type": "http", "method": "POST", "path": "/v1/images/edits", "headers": headers}
    return Request(scope, receive)


def deployment(model: str, **params: Any) -> Deployment:
    info = params.pop("model_info", {})
    config = parse_config(
        {
            "model_list": [
                {
                    "model_name": "m",
                    "litellm_params": {"model": model, "api_key": "k", **params},
                    "model_info": info,
                }
            ]
        }
    )
    return config.deployments[0]


def upstream_parts(req: UpstreamRequest) -> list[Any]:
    assert req.body is not None
    return form_parts(req.headers["content-type"], req.body)


async def test_the_sdk_payload_becomes_the_openai_upstream_payload() -> None:
    first, second, mask = png(16, 12, 1), png(8, 8, 2), png(16, 12, 3)
    recorded = recorded_edit(
        model="gpt-image",
        image=[("a.png", first), ("b.png", second)],
        mask=("m.png", mask),
        prompt="a hat",
        n=2,
        stream=False,
        partial_images=0,
        input_fidelity="high",
        extra_body={"fallbacks": ["other"], "disable_fallbacks": True},
    )
    sent = form_parts(recorded.headers["content-type"], recorded.content)
    assert [p.name for p in sent if p.filename] == ["image[]", "image[]", "mask"]
    upload = await read_multipart(as_starlette(recorded), LIMITS, UploadFiles())
    assert upload.fields == {
        "model": "gpt-image",
        "prompt": "a hat",
        "n": 2,
        "stream": False,
        "partial_images": 0,
        "input_fidelity": "high",
        "fallbacks": ["other"],
        "disable_fallbacks": True,
    }
    assert [i.data for i in upload.images] == [first, second]
    assert [i.dimensions for i in upload.images] == ["16x12", "8x8"]
    request = EditRequest.from_parts(
        upload.fields, tuple(upload.images), mask=upload.overlays["mask"]
    )
    request.body.pop("fallbacks"), request.body.pop("disable_fallbacks")  # the router's
    (req,) = PROVIDERS["openai"].images.build_edit(  # type: ignore[union-attr]
        request, deployment("openai/gpt-image-2")
    )
    assert req.url == "https://api.openai.com/v1/images/edits"
    parts = upstream_parts(req)
    assert [(p.name, p.data) for p in parts if p.filename] == [
        ("image[]", first),
        ("image[]", second),
        ("mask", mask),
    ]
    assert text_fields(parts) == {
        "model": "gpt-image-2",
        "prompt": "a hat",
        "n": "2",
        "stream": "false",
        "partial_images": "0",
        "input_fidelity": "high",
    }


async def test_limits_while_reading() -> None:
    small = png(4, 4)
    too_big = recorded_edit(model="m", image=("a.png", small + b"\0" * 70_000), prompt="x")
    with pytest.raises(PayloadTooLargeError, match="per-image limit"):
        await read_multipart(as_starlette(too_big), LIMITS, UploadFiles())
    many = recorded_edit(model="m", image=[("a.png", small)] * 17, prompt="x")
    with pytest.raises(InvalidRequestError, match="at most 16 images"):
        await read_multipart(as_starlette(many), LIMITS, UploadFiles())
    total = recorded_edit(model="m", image=[("a.png", small + b"\0" * 60_000)] * 9, prompt="x")
    with pytest.raises(PayloadTooLargeError, match="limit of image uploads"):
        await read_multipart(as_starlette(total), LIMITS, UploadFiles())
    twice = recorded_edit(model="m", image=("a.png", small), prompt="x", extra_body={"n": 1})
    upload = await read_multipart(as_starlette(twice), LIMITS, UploadFiles())
    assert upload.fields["n"] == 1  # extra_body replaced it: still one part


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [("n", "3", 3), ("stream", "true", True), ("stream", "False", False), ("size", "8x8", "8x8")],
)
def test_form_values_are_typed_as_json_would_carry_them(
    name: str, value: str, expected: Any
) -> None:
    assert form_value(name, value) == expected


@pytest.mark.parametrize(("name", "value"), [("n", "two"), ("stream", "yes")])
def test_bad_form_values_name_the_field(name: str, value: str) -> None:
    with pytest.raises(InvalidRequestError) as err:
        form_value(name, value)
    assert err.value.param == name


def jpeg_header(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\0" + b"\0" * 9
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof + b"\xff\xda"


def webp_vp8x(width: int, height: int) -> bytes:
    size = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return b"RIFF\0\0\0\0WEBPVP8X" + b"\x0a\0\0\0" + b"\0\0\0\0" + size


def webp_vp8l(width: int, height: int) -> bytes:
    bits = (width - 1) | ((height - 1) << 14)
    return b"RIFF\0\0\0\0WEBPVP8L" + b"\0\0\0\0" + b"\x2f" + bits.to_bytes(4, "little")


def webp_vp8(width: int, height: int) -> bytes:
    frame = b"\0\0\0" + b"\x9d\x01\x2a" + struct.pack("<HH", width, height)
    return b"RIFF\0\0\0\0WEBPVP8 " + b"\0\0\0\0" + frame


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (png(33, 17), (33, 17)),
        (b"GIF89a" + struct.pack("<HH", 40, 30) + b"\0" * 4, (40, 30)),
        (jpeg_header(640, 480), (640, 480)),
        (webp_vp8x(1000, 500), (1000, 500)),
        (webp_vp8l(300, 200), (300, 200)),
        (webp_vp8(128, 64), (128, 64)),
        (b"\x89PNG\r\n\x1a\n", None),  # cut short
        (b"\xff\xd8\xff\xda", None),  # scan before any frame header
        (b"not an image", None),
    ],
)
def test_image_dimensions_from_headers(data: bytes, expected: tuple[int, int] | None) -> None:
    assert image_dimensions(data) == expected


def image(width: int, height: int, media_type: str = "image/png") -> InputImage:
    return InputImage(b"x", media_type, "image-0.png", width, height)


@pytest.mark.parametrize(
    ("images", "mask", "param", "words"),
    [
        ((), None, "image", "required"),
        ((image(8, 8, "image/gif"),), None, "image", "PNG, JPEG or WEBP"),
        ((image(8, 8),), image(4, 4), "mask", "4x4 but the first image is 8x8"),
        ((image(8, 8),), image(8, 8, "image/jpeg"), "mask", "must be a PNG"),
        ((image(8, 8),) * 17, None, "image", "at most 16"),
    ],
)
def test_edit_requests_refuse_what_no_provider_could_edit(
    images: tuple[InputImage, ...], mask: InputImage | None, param: str, words: str
) -> None:
    with pytest.raises(InvalidRequestError) as err:
        EditRequest.from_parts({"model": "m", "prompt": "x"}, images, mask=mask)
    assert err.value.param == param and words in err.value.message


def test_variations_take_one_image_and_no_stream() -> None:
    with pytest.raises(InvalidRequestError, match="at most 1 image"):
        VariationRequest.from_parts({"model": "m"}, (image(8, 8), image(8, 8)))
    with pytest.raises(InvalidRequestError, match="stream"):
        VariationRequest.from_parts({"model": "m", "stream": True}, (image(8, 8),))


def edit_request(**body: Any) -> EditRequest:
    mask = body.pop("mask", None)
    return EditRequest.from_parts(
        {"model": "m", "prompt": "p", **body},
        (InputImage(png(8, 8), "image/png", "i.png", 8, 8),),
        mask=mask,
    )


def test_azure_edit_url_and_body() -> None:
    dep = deployment(
        "azure/edits", api_base="https://res.openai.azure.com", api_version="2025-04-01-preview"
    )
    (req,) = PROVIDERS["azure"].images.build_edit(  # type: ignore[union-attr]
        edit_request(response_format="b64_json"), dep
    )
    assert req.url == "https://res.openai.azure.com/openai/deployments/edits/images/edits"
    assert req.params == {"api-version": "2025-04-01-preview"}
    fields = text_fields(upstream_parts(req))
    assert "model" not in fields and fields["response_format"] == "b64_json"  # not GPT image


def test_xinference_edit_fields_and_refusals() -> None:
    dep = deployment("xinference/sd-uid", api_base="http://xinf:9997/v1")
    adapter = PROVIDERS["xinference"].images
    (req,) = adapter.build_edit(edit_request(size="512x768", n=2), dep)  # type: ignore[union-attr]
    assert req.url == "http://xinf:9997/v1/images/edits"
    assert text_fields(upstream_parts(req)) == {
        "model": "sd-uid",
        "prompt": "p",
        "n": "2",
        "size": "512*768",
        "response_format": "b64_json",
    }
    with pytest.raises(InvalidRequestError) as quality:
        adapter.build_edit(edit_request(quality="high"), dep)  # type: ignore[union-attr]
    assert quality.value.param == "quality"
    with pytest.raises(InvalidRequestError) as masked:
        adapter.build_edit(edit_request(mask=image(8, 8)), dep)  # type: ignore[union-attr]
    assert masked.value.param == "mask" and "white" in masked.value.message
    marked = EditRequest.from_parts(
        {"model": "m", "prompt": "p"}, (image(8, 8),), markup=image(8, 8)
    )
    with pytest.raises(InvalidRequestError) as markup:
        adapter.build_edit(marked, dep)  # type: ignore[union-attr]
    assert markup.value.param == "markup"


def test_capabilities_by_provider_and_model() -> None:
    able = {
        "openai/gpt-image-2": (True, False),
        "openai/dall-e-2": (True, True),
        "dall-e-3": (False, False),
        "mock/x": (True, True),
        "nscale/flux": (False, False),
        "recraft/recraftv3": (True, True),
    }
    for model, (edits, variations) in able.items():
        dep = deployment(model)
        assert (EDITS.refusal(dep) is None, VARIATIONS.refusal(dep) is None) == (
            edits,
            variations,
        ), model
    with pytest.raises(InvalidRequestError) as err:
        EDITS.serving("flux", [deployment("nscale/flux")])
    assert "'flux' cannot edit images" in err.value.message and "nscale" in err.value.message


def test_config_refuses_an_edit_deployment_that_cannot_edit() -> None:
    assert (
        deployment("openai/gpt-image-2", model_info={"mode": "image_edit"}).model == "gpt-image-2"
    )
    with pytest.raises(ConfigError) as err:
        deployment("nscale/flux", model_info={"mode": "image_edit"})
    assert str(err.value) == (
        "model_list[0].model_info.mode: image_edit but provider nscale has no image edit API"
    )
    with pytest.raises(ConfigError, match="dall-e-3 has no image edits"):
        deployment("dall-e-3", model_info={"mode": "image_edit"})
