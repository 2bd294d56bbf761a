"""gpt-image-2 and successors: free ``WxH`` sizes checked against OpenAI's rules before any
call (generations and edits, OpenAI and Azure), valid sizes and options passed unchanged."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from proxy.config import Deployment
from proxy.configure import parse_config
from proxy.errors import InvalidRequestError
from proxy.providers.openai.gpt_image_2 import check_options, check_size, is_gpt_image_2
from proxy.providers.registry import PROVIDERS
from proxy.schemas import ImageRequest
from proxy.schemas.edits import EditRequest, InputImage
from tests.fakes.multipart import form_parts, text_fields


def deployment(model: str, **params: Any) -> Deployment:
    info = params.pop("model_info", {})
    (dep,) = parse_config(
        {
            "model_list": [
                {
                    "model_name": "g",
                    "litellm_params": {"model": model, "api_key": "k", **params},
                    "model_info": info,
                }
            ]
        }
    ).deployments
    return dep


AZURE = {"api_base": "https://r.openai.azure.com"}
TARGETS = [
    ("openai/gpt-image-2", {}),
    ("openai/gpt-image-2-2026-04-21", {}),
    ("openai/gpt-image-2.5", {}),
    ("azure/my-images", {**AZURE, "model_info": {"base_model": "azure/gpt-image-2"}}),
    ("azure/gpt-image-2", AZURE),
]


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-image-2", True),
        ("openai/gpt-image-2-2026-04-21", True),
        ("gpt-image-2.5", True),
        ("gpt-image-2.6-flare", True),
        ("gpt-image-1", False),
        ("gpt-image-1.5", False),
        ("gpt-image-20", False),
        ("chatgpt-image-latest", False),
        ("dall-e-3", False),
    ],
)
def test_family(model: str, expected: bool) -> None:
    assert is_gpt_image_2(model) is expected


@pytest.mark.parametrize(
    "size",
    [
        None,
        "auto",
        "1024x1024",
        "1536x1024",
        "1024x1536",
        "2048x2048",
        "2048x1152",
        "3840x2160",
        "2160x3840",
        "2880x960",  # exactly 3:1
        "960x2880",  # exactly 1:3
        "1024x640",  # exactly 655,360 pixels
        "3840x1280",  # longest edge at the limit, 3:1
        "2880x2880",  # exactly 8,294,400 pixels
    ],
)
def test_valid_sizes(size: str | None) -> None:
    check_size(size)


@pytest.mark.parametrize(
    ("size", "rule"),
    [
        ("3856x2160", "longest edge must be at most 3840 px"),
        ("2160x3856", "longest edge must be at most 3840 px"),
        ("1000x1024", "multiples of 16 px"),
        ("1024x1000", "multiples of 16 px"),
        ("3072x1008", "between 1:3 and 3:1"),
        ("1008x3072", "between 1:3 and 3:1"),
        ("2896x2896", "655,360 to 8,294,400 pixels"),
        ("3840x2176", "655,360 to 8,294,400 pixels"),
        ("512x512", "655,360 to 8,294,400 pixels"),
        ("1024x624", "655,360 to 8,294,400 pixels"),
        ("big", "'auto' or WIDTHxHEIGHT"),
        ("1024X1024", "'auto' or WIDTHxHEIGHT"),
        ("1024x", "'auto' or WIDTHxHEIGHT"),
        ("0x1024", "at least 16 px"),
    ],
)
def test_invalid_sizes_name_the_rule(size: str, rule: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        check_size(size)
    assert rule in info.value.message
    assert size in info.value.message
    assert info.value.param == "size" and info.value.code == "invalid_size"


@pytest.mark.parametrize(
    ("params", "param", "words"),
    [
        ({"quality": "hd"}, "quality", "low, medium, high, auto"),
        ({"quality": "standard"}, "quality", "low, medium, high, auto"),
        ({"background": "white"}, "background", "transparent, opaque, auto"),
        ({"moderation": "none"}, "moderation", "low, auto"),
        ({"output_format": "gif"}, "output_format", "png, jpeg, webp"),
        ({"output_format": "jpeg", "output_compression": 101}, "output_compression", "0 to 100"),
        ({"output_format": "webp", "output_compression": -1}, "output_compression", "0 to 100"),
        ({"output_format": "jpeg", "output_compression": "80"}, "output_compression", "integer"),
        ({"output_compression": 80}, "output_compression", "png (the default)"),
        ({"output_format": "png", "output_compression": 80}, "output_compression", "'png'"),
    ],
)
def test_bad_options_are_400s(params: dict[str, Any], param: str, words: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        check_options(params)
    assert info.value.param == param
    assert words in info.value.message


@pytest.mark.parametrize(("model", "params"), TARGETS)
def test_generation_refuses_a_bad_size_before_any_call(model: str, params: Any) -> None:
    dep = deployment(model, **params)
    adapter = PROVIDERS[dep.provider].images
    assert adapter is not None
    request = ImageRequest.from_body({"model": "g", "prompt": "p", "size": "1000x1000"})
    with pytest.raises(InvalidRequestError, match="multiples of 16 px"):
        adapter.build(request, dep)


OPTIONS = {
    "size": "3840x2160",
    "quality": "high",
    "background": "opaque",
    "moderation": "low",
    "output_format": "webp",
    "output_compression": 70,
}


@pytest.mark.parametrize(("model", "params"), TARGETS)
def test_generation_passes_valid_options_unchanged(model: str, params: Any) -> None:
    dep = deployment(model, **params)
    adapter = PROVIDERS[dep.provider].images
    assert adapter is not None
    request = ImageRequest.from_body({"model": "g", "prompt": "p", **OPTIONS})
    (upstream,) = adapter.build(request, dep)
    assert upstream.body is not None
    body = orjson.loads(upstream.body)
    assert {k: body[k] for k in OPTIONS} == OPTIONS


def edit(**fields: Any) -> EditRequest:
    image = InputImage(b"\x89PNG fake", "image/png", "a.png", 1024, 1024)
    return EditRequest.from_parts({"model": "g", "prompt": "p", **fields}, (image,))


@pytest.mark.parametrize(("model", "params"), TARGETS)
def test_edit_refuses_a_bad_size_before_any_call(model: str, params: Any) -> None:
    dep = deployment(model, **params)
    adapter = PROVIDERS[dep.provider].images
    assert adapter is not None
    with pytest.raises(InvalidRequestError, match="between 1:3 and 3:1"):
        adapter.build_edit(edit(size="3200x1024"), dep)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("model", "params"), TARGETS)
def test_edit_passes_valid_options_unchanged(model: str, params: Any) -> None:
    dep = deployment(model, **params)
    adapter = PROVIDERS[dep.provider].images
    assert adapter is not None
    (upstream,) = adapter.build_edit(edit(**OPTIONS), dep)  # type: ignore[attr-defined]
    assert upstream.body is not None
    fields = text_fields(form_parts(upstream.headers["content-type"], upstream.body))
    assert {k: fields[k] for k in OPTIONS} == {k: str(v) for k, v in OPTIONS.items()}


@pytest.mark.parametrize("model", ["openai/gpt-image-1.5", "openai/local-model", "dall-e-3"])
def test_other_models_keep_their_sizes_unchecked(model: str) -> None:
    dep = deployment(model, api_base="http://compat/v1")
    adapter = PROVIDERS[dep.provider].images
    assert adapter is not None
    request = ImageRequest.from_body({"model": "g", "prompt": "p", "size": "1000x1000"})
    (upstream,) = adapter.build(request, dep)
    assert upstream.body is not None
    assert orjson.loads(upstream.body)["size"] == "1000x1000"
