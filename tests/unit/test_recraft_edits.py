"""Recraft edits and variations: which tool serves an edit, the multipart fields and files
sent, the mask converted pixel by pixel, the size and limit refusals, the answers wrapped."""

from __future__ import annotations

import io
from typing import Any

import orjson
import pytest
from PIL import Image

from proxy.api.uploads import input_image
from proxy.config import ConfigError, Deployment
from proxy.configure import parse_config
from proxy.errors import InvalidRequestError, ProviderAuthError
from proxy.providers.base import ImageEditor, ImageVariator, UploadForwarder
from proxy.providers.recraft import images as recraft_images
from proxy.providers.recraft.edits import OPERATIONS, RecraftImageEdits
from proxy.providers.registry import PROVIDERS, edit_refusal, variation_refusal
from proxy.schemas.edits import EditRequest, InputImage, VariationRequest
from proxy.upstream_request import UpstreamRequest, UpstreamResponse
from tests.fakes.multipart import Part, form_parts, text_fields

ADAPTER = RecraftImageEdits()
W, H = 320, 256
HOLE = (40, 30, 200, 170)  # left, top, right (exclusive), bottom (exclusive)


def deployment(model: str = "recraft/recraftv3", **params: Any) -> Deployment:
    config = parse_config(
        {"model_list": [{"model_name": "r", "litellm_params": {"model": model, **params}}]},
        env={"RECRAFT_API_KEY": "test-key"},  # LiteLLM's variable: a key is required
    )
    return config.deployments[0]


def encoded(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def photo(width: int = W, height: int = H) -> InputImage:
    return input_image(encoded(Image.new("RGB", (width, height), (30, 90, 150))), "image", 0)


def openai_mask(width: int = W, height: int = H) -> InputImage:
    """Opaque with a fully transparent rectangle, and half-transparent pixels outside it
    (OpenAI gives them no "edit" meaning)."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 255))
    image.paste((0, 0, 0, 0), HOLE)
    image.putpixel((0, 0), (9, 9, 9, 128))
    image.putpixel((width - 1, height - 1), (9, 9, 9, 1))
    return input_image(encoded(image), "mask", 0)


def edit_request(
    images: tuple[InputImage, ...] | None = None, mask: InputImage | None = None, **body: Any
) -> EditRequest:
    return EditRequest.from_parts(
        {"model": "r", "prompt": "a red boat", **body}, images or (photo(),), mask
    )


def variation_request(image: InputImage | None = None, **body: Any) -> VariationRequest:
    return VariationRequest.from_parts({"model": "r", **body}, (image or photo(1024, 1024),))


def parts(upstream: UpstreamRequest) -> list[Part]:
    assert upstream.body is not None
    return form_parts(upstream.headers["content-type"], upstream.body)


def files(upstream: UpstreamRequest) -> dict[str, Part]:
    return {p.name: p for p in parts(upstream) if p.filename is not None}


def build(request: EditRequest, dep: Deployment | None = None) -> UpstreamRequest:
    (upstream,) = ADAPTER.build_edit(request, dep or deployment())
    return upstream


def refusal(request: Any, dep: Deployment | None = None) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as info:
        if isinstance(request, VariationRequest):
            ADAPTER.build_variation(request, dep or deployment())
        else:
            ADAPTER.build_edit(request, dep or deployment())
    return info.value


def answer(body: Any, status: int = 200, content_type: str = "application/json") -> Any:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return UpstreamResponse(status, {"content-type": content_type}, raw)


# --- capabilities -----------------------------------------------------------------------


def test_recraft_edits_and_varies_and_is_not_an_upload_forwarder() -> None:
    adapter = PROVIDERS["recraft"].images
    assert isinstance(adapter, RecraftImageEdits)
    assert isinstance(adapter, ImageEditor) and isinstance(adapter, ImageVariator)
    assert not isinstance(adapter, UploadForwarder)  # the mask conversion reads the bytes
    assert edit_refusal(deployment()) is None and variation_refusal(deployment()) is None
    assert not adapter.supports_edit_stream
    assert tuple(OPERATIONS) == recraft_images.OPERATIONS


def test_a_deployment_with_an_unknown_operation_is_refused_at_load() -> None:
    with pytest.raises(ConfigError, match="recraft_operation: must be one of imageToImage"):
        deployment(recraft_operation="upscale")
    assert deployment(recraft_operation="eraseRegion").param("recraft_operation") == "eraseRegion"


# --- which tool ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api_base", "url"),
    [
        (None, "https://external.api.recraft.ai/v1/images/imageToImage"),
        (
            "https://external.api.recraft.ai",
            "https://external.api.recraft.ai/v1/images/imageToImage",
        ),
        ("http://127.0.0.1:9/recraft/v1/", "http://127.0.0.1:9/recraft/v1/images/imageToImage"),
    ],
)
def test_an_edit_without_mask_is_image_to_image(api_base: str | None, url: str) -> None:
    dep = deployment(api_base=api_base) if api_base else deployment()
    upstream = build(edit_request(), dep)
    assert upstream.method == "POST" and upstream.url == url
    assert text_fields(parts(upstream)) == {
        "model": "recraftv3",
        "prompt": "a red boat",
        "strength": "0.2",  # LiteLLM's default; Recraft requires it
    }
    (image,) = files(upstream).values()
    assert image.name == "image" and image.content_type == "image/png"
    assert image.data == photo().data


def test_image_to_image_keeps_the_clients_strength_and_recraft_fields() -> None:
    upstream = build(
        edit_request(
            strength="0.65",
            n=3,
            response_format="b64_json",
            style="digital_illustration",
            substyle="hand_drawn",
            negative_prompt="blurry",
            random_seed="42",
            image_format="webp",
            user="end-user-1",
            size="auto",
        )
    )
    assert text_fields(parts(upstream)) == {
        "model": "recraftv3",
        "prompt": "a red boat",
        "strength": "0.65",
        "n": "3",
        "response_format": "b64_json",
        "style": "digital_illustration",
        "substyle": "hand_drawn",
        "negative_prompt": "blurry",
        "random_seed": "42",
        "image_format": "webp",
    }  # no user (the proxy's), no size (Recraft keeps the input's)


def test_an_edit_with_a_mask_is_inpaint_with_the_mask_white_where_transparent() -> None:
    upstream = build(edit_request(mask=openai_mask()))
    assert upstream.url.endswith("/v1/images/inpaint")
    assert text_fields(parts(upstream)) == {"model": "recraftv3", "prompt": "a red boat"}
    sent = files(upstream)
    assert list(sent) == ["image", "mask"]
    assert sent["mask"].content_type == "image/png"
    mask = Image.open(io.BytesIO(sent["mask"].data))
    assert mask.mode == "L" and mask.size == (W, H)
    left, top, right, bottom = HOLE
    for y in range(H):
        for x in range(W):
            inside = left <= x < right and top <= y < bottom
            assert mask.getpixel((x, y)) == (255 if inside else 0), (x, y)


@pytest.mark.parametrize(
    ("chosen", "mask", "path", "fields"),
    [
        ("replaceBackground", False, "replaceBackground", {"model", "prompt"}),
        ("outpaint", False, "outpaint", {"model", "prompt", "expand_left"}),
        ("eraseRegion", True, "eraseRegion", set()),
        ("removeBackground", False, "removeBackground", set()),
    ],
)
def test_other_tools_by_the_request_or_the_deployment(
    chosen: str, mask: bool, path: str, fields: set[str]
) -> None:
    extra: dict[str, Any] = {"expand_left": "128"} if chosen == "outpaint" else {}
    by_body = build(
        edit_request(mask=openai_mask() if mask else None, recraft_operation=chosen, **extra)
    )
    by_config = build(
        edit_request(mask=openai_mask() if mask else None, **extra),
        deployment(recraft_operation=chosen),
    )
    for upstream in (by_body, by_config):
        assert upstream.url == f"https://external.api.recraft.ai/v1/images/{path}"
        assert set(text_fields(parts(upstream))) == fields  # recraft_operation never sent
        assert list(files(upstream)) == (["image", "mask"] if mask else ["image"])


def test_the_requests_operation_beats_the_deployments() -> None:
    upstream = build(
        edit_request(recraft_operation="removeBackground"), deployment(recraft_operation="outpaint")
    )
    assert upstream.url.endswith("/images/removeBackground")


@pytest.mark.parametrize(
    ("body", "mask", "param", "words"),
    [
        ({"recraft_operation": "upscale"}, False, "recraft_operation", "must be one of"),
        ({"recraft_operation": "eraseRegion"}, False, "mask", "needs a 'mask'"),
        ({"recraft_operation": "inpaint"}, False, "mask", "needs a 'mask'"),
        ({"recraft_operation": "imageToImage"}, True, "mask", "takes no 'mask'"),
        ({"recraft_operation": "removeBackground", "n": 2}, False, "n", "between 1 and 1"),
        ({"recraft_operation": "removeBackground", "style": "icon"}, False, "style", "takes only"),
        ({"n": 7}, False, "n", "between 1 and 6"),
        ({"strength": "1.5"}, False, "strength", "from 0 to 1"),
        ({"strength": "strong"}, False, "strength", "from 0 to 1"),
        ({"recraft_operation": "inpaint", "strength": "0.5"}, True, "strength", "only"),
        ({"quality": "high"}, False, "quality", "no quality setting"),
        ({"input_fidelity": "high"}, False, "input_fidelity", "not supported by Recraft"),
        ({"style": "icon", "style_id": "0d9c"}, False, "style_id", "cannot be used together"),
        ({"size": "1024x1024"}, False, "size", "keeps the input image's size"),
        ({"recraft_operation": "outpaint", "size": "999x999"}, False, "size", "not supported"),
    ],
)
def test_bad_edits_are_refused_naming_the_parameter(
    body: dict[str, Any], mask: bool, param: str, words: str
) -> None:
    err = refusal(edit_request(mask=openai_mask() if mask else None, **body))
    assert err.param == param and words in err.message and err.status == 400


def test_own_size_is_accepted_and_not_sent() -> None:
    upstream = build(edit_request(size=f"{W}x{H}"))
    assert "size" not in text_fields(parts(upstream))


@pytest.mark.parametrize("size", ["auto", f"{W}x{H}"])
def test_process_tools_take_auto_or_the_images_size_and_send_none(size: str) -> None:
    upstream = build(edit_request(recraft_operation="removeBackground", size=size))
    assert text_fields(parts(upstream)) == {}
    err = refusal(edit_request(recraft_operation="removeBackground", size="1024x1024"))
    assert err.param == "size"


def test_outpaint_sends_a_size_of_the_model() -> None:
    upstream = build(edit_request(recraft_operation="outpaint", size="1820x1024"))
    assert text_fields(parts(upstream))["size"] == "1820x1024"


# --- limits -----------------------------------------------------------------------------


@pytest.mark.parametrize(("width", "height"), [(255, 300), (300, 200), (4097, 1024), (1024, 4100)])
def test_images_outside_recrafts_sides_are_refused(width: int, height: int) -> None:
    err = refusal(edit_request((photo(width, height),)))
    assert err.param == "image" and f"{width}x{height}" in err.message
    assert "256 to 4096" in err.message


def test_an_image_of_10_mb_or_more_is_refused() -> None:
    big = InputImage(b"\x89PNG" + b"\0" * (10 * 1024 * 1024), "image/png", "big.png", 1024, 1024)
    err = refusal(edit_request((big,)))
    assert err.param == "image" and "10 MB" in err.message
    err = refusal(variation_request(big))
    assert err.param == "image" and "10 MB" in err.message


def test_more_than_one_image_is_refused() -> None:
    err = refusal(edit_request((photo(), photo())))
    assert err.param == "image" and err.code == "too_many_images" and "got 2" in err.message


def test_a_mask_of_another_size_is_refused() -> None:
    # a mask whose header did not give its size passes the schema; the conversion checks
    undeclared = InputImage(openai_mask(W, H + 2).data, "image/png", "mask.png")
    err = refusal(edit_request(mask=undeclared))
    assert err.param == "mask" and "same size" in err.message


def test_largest_allowed_image_passes() -> None:
    # 4096 x 4096 declared in the header is Recraft's ceiling (16 MP): accepted
    image = InputImage(photo().data, "image/png", "image-0.png", 4096, 4096)
    assert build(edit_request((image,))).url.endswith("/imageToImage")


# --- variations --------------------------------------------------------------------------


def test_a_variation_defaults_to_the_images_own_size_when_the_model_has_it() -> None:
    (upstream,) = ADAPTER.build_variation(
        variation_request(n=2, response_format="b64_json", random_seed="7", user="u"),
        deployment(),
    )
    assert upstream.url == "https://external.api.recraft.ai/v1/images/variateImage"
    assert text_fields(parts(upstream)) == {
        "n": "2",
        "response_format": "b64_json",
        "random_seed": "7",
        "size": "1024x1024",
    }  # no model: variateImage takes none
    assert list(files(upstream)) == ["image"]


def test_a_variation_keeps_the_clients_size() -> None:
    (upstream,) = ADAPTER.build_variation(variation_request(size="1365x1024"), deployment())
    assert text_fields(parts(upstream))["size"] == "1365x1024"


@pytest.mark.parametrize(
    ("image", "body", "param", "words"),
    [
        ((W, H), {}, "size", "need a 'size'"),
        ((1024, 1024), {"size": "512x512"}, "size", "not supported"),
        ((1024, 1024), {"quality": "hd"}, "quality", "not supported"),
        ((200, 200), {"size": "1024x1024"}, "image", "256 to 4096"),
    ],
)
def test_bad_variations_are_refused(
    image: tuple[int, int], body: dict[str, Any], param: str, words: str
) -> None:
    err = refusal(variation_request(photo(*image), **body))
    assert err.param == param and words in err.message


def test_a_v4_variation_uses_the_v4_sizes() -> None:
    dep = deployment("recraft/recraftv4")
    (upstream,) = ADAPTER.build_variation(variation_request(photo(1280, 832)), dep)
    assert text_fields(parts(upstream))["size"] == "1280x832"
    err = refusal(variation_request(photo(1365, 1024)), dep)
    assert err.param == "size" and "1536x768" in err.message


# --- answers ------------------------------------------------------------------------------


def test_generate_image_response_is_kept() -> None:
    body = {
        "created": 1748140800,
        "credits": 80,
        "data": [
            {"image_id": "a1", "url": "https://img.recraft.ai/a.png"},
            {"image_id": "a2", "b64_json": "AAAA"},
        ],
    }
    result = ADAPTER.parse_edit(answer(body), edit_request(), deployment())
    assert result.data == [{"url": "https://img.recraft.ai/a.png"}, {"b64_json": "AAAA"}]
    assert result.created == 1748140800
    result = ADAPTER.parse_variation(answer(body), variation_request(), deployment())
    assert len(result.data) == 2


def test_process_image_response_is_wrapped_into_data() -> None:
    body = {"created": 17, "credits": 10, "image": {"image_id": "b1", "b64_json": "QUJD"}}
    result = ADAPTER.parse_edit(
        answer(body), edit_request(recraft_operation="removeBackground"), deployment()
    )
    assert result.data == [{"b64_json": "QUJD"}] and result.created == 17


def test_401_plain_text_is_an_auth_error() -> None:
    response = answer(b"request unauthorized", 401, "text/plain")
    err = ADAPTER.map_error(response, deployment())
    assert isinstance(err, ProviderAuthError)
