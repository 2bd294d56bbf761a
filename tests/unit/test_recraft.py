"""Recraft adapter: request mapping, size families, response and error translation."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from proxy.config import ConfigError, Deployment
from proxy.configure import parse_config
from proxy.errors import (
    InvalidRequestError,
    ProviderAuthError,
    UpstreamBadRequestError,
    UpstreamRateLimitError,
)
from proxy.providers.recraft.images import RecraftImages, images_url
from proxy.providers.recraft.sizes import size_family
from proxy.schemas import ImageRequest
from proxy.upstream_request import UpstreamResponse

ADAPTER = RecraftImages()


def deployment(model: str = "recraft/recraftv3", **params: Any) -> Deployment:
    config = parse_config(
        {"model_list": [{"model_name": "r", "litellm_params": {"model": model, **params}}]},
        env={"RECRAFT_API_KEY": "test-key"},  # LiteLLM's variable: a key is required
    )
    return config.deployments[0]


def build(body: dict[str, Any], dep: Deployment | None = None) -> dict[str, Any]:
    request = ImageRequest.from_body({"model": "r", "prompt": "a fox", **body})
    (upstream,) = ADAPTER.build(request, dep or deployment())
    assert upstream.body is not None
    return dict(orjson.loads(upstream.body))


@pytest.mark.parametrize(
    ("api_base", "url"),
    [
        (None, "https://external.api.recraft.ai/v1/images/generations"),
        (
            "https://external.api.recraft.ai",
            "https://external.api.recraft.ai/v1/images/generations",
        ),
        (
            "https://external.api.recraft.ai/v1/",
            "https://external.api.recraft.ai/v1/images/generations",
        ),
        ("http://127.0.0.1:9/recraft", "http://127.0.0.1:9/recraft/v1/images/generations"),
    ],
)
def test_url(api_base: str | None, url: str) -> None:
    dep = deployment(api_base=api_base) if api_base else deployment()
    assert ADAPTER.url(dep) == url
    assert images_url(api_base or "https://external.api.recraft.ai/v1") == url


def test_recraft_extras_pass_through_untouched() -> None:
    extras = {
        "style": "digital_illustration",
        "substyle": "hand_drawn",
        "controls": {"artistic_level": 3, "colors": [{"rgb": [255, 0, 0]}], "no_text": True},
        "text_layout": [{"text": "HI", "bbox": [[0.1, 0.1], [0.9, 0.1], [0.9, 0.5], [0.1, 0.5]]}],
        "negative_prompt": "blurry",
        "random_seed": 42,
        "image_format": "webp",
        "response_format": "b64_json",
        "size": "1365x1024",
        "n": 3,
    }
    body = build({**extras, "user": "end-user-7"})
    assert body == {"model": "recraftv3", "prompt": "a fox", **extras}  # no ``user``


def test_style_id_passes() -> None:
    body = build({"style_id": "229b2a75-05e4-4580-85f9-b47ee521a00d"})
    assert body["style_id"] == "229b2a75-05e4-4580-85f9-b47ee521a00d"


@pytest.mark.parametrize(
    ("model", "size", "ok"),
    [
        ("recraftv3", "1024x1024", True),
        ("recraftv3", "1820x1024", True),
        ("recraftv3", "16:9", True),
        ("recraftv3", "1344x768", False),  # a V4 size
        ("recraftv2", "1434x1024", True),
        ("recraftv4", "1344x768", True),
        ("recraftv4", "1820x1024", False),  # a V2/V3 size
        ("recraftv4_1_utility", "1536x768", True),
        ("recraftv4_pro", "2688x1536", True),
        ("recraftv4_pro", "1024x1024", False),
        ("recraftv4_1_utility_pro", "2048x2048", True),
        ("recraftv4_1_pro_vector", "14:10", True),
        ("recraftv3_vector", "1024x1024", True),
        ("flux1_1pro", "2048x2048", True),  # unknown family: any Recraft size
        ("flux1_1pro", "1000x1000", False),
        ("recraftv3", "1024X1024", False),
        ("recraftv3", "7:3", False),
    ],
)
def test_size_checked_per_family(model: str, size: str, ok: bool) -> None:
    dep = deployment(f"recraft/{model}")
    if ok:
        assert build({"size": size}, dep)["size"] == size
    else:
        with pytest.raises(InvalidRequestError) as info:
            build({"size": size}, dep)
        assert info.value.param == "size"
        assert size in info.value.message and model in info.value.message
        # the message names what is accepted
        family = size_family(model)
        assert family.sizes[0] in info.value.message and "16:9" in info.value.message


def test_size_auto_leaves_recrafts_default() -> None:
    assert "size" not in build({"size": "auto"})


def test_operator_size_list_overrides_family() -> None:
    dep = deployment("recraft/recraftv5", supported_sizes=["4096x4096"])
    assert build({"size": "4096x4096"}, dep)["size"] == "4096x4096"
    with pytest.raises(InvalidRequestError):
        build({"size": "1024x1024"}, dep)


def test_bad_size_list_refused_at_config_time() -> None:
    with pytest.raises(ConfigError, match=r"model_list\[0\].litellm_params.supported_sizes"):
        deployment(supported_sizes="1024x1024")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"quality": "hd"}, "quality"),
        ({"background": "transparent"}, "background"),
        ({"output_format": "png"}, "output_format"),
        ({"output_compression": 50}, "output_compression"),
        ({"moderation": "low"}, "moderation"),
        ({"partial_images": 2}, "partial_images"),
        ({"n": 7}, "n"),
        ({"style": "icon", "style_id": "229b2a75-05e4-4580-85f9-b47ee521a00d"}, "style_id"),
    ],
)
def test_refused_not_dropped(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        build(body)
    assert info.value.param == param
    assert param in info.value.message


def response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Any:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return UpstreamResponse(status, headers or {}, raw)


def test_parse_keeps_url_and_b64_drops_recraft_fields() -> None:
    upstream = {
        "created": 1748140800,
        "credits": 80,
        "data": [
            {"image_id": "a1", "url": "https://img.recraft.ai/a.png", "revised_prompt": "rp"},
            {"image_id": "b2", "b64_json": "iVBORw0KGgo=", "features": {"nsfw_score": 0.1}},
        ],
    }
    request = ImageRequest.from_body({"model": "r", "prompt": "p"})
    result = ADAPTER.parse(response(upstream), request, deployment())
    assert result.data == [
        {"url": "https://img.recraft.ai/a.png", "revised_prompt": "rp"},
        {"b64_json": "iVBORw0KGgo="},
    ]
    assert result.created == 1748140800
    assert result.usage is None and result.extra == {}


@pytest.mark.parametrize(
    ("status", "body", "headers", "error_type", "text"),
    [
        (
            401,
            b"request unauthorized",
            {"content-type": "text/plain"},
            ProviderAuthError,
            "request unauthorized",
        ),
        (
            400,
            b'{"code":"invalid_size","message":"Invalid image size"}',
            {"content-type": "application/json"},
            UpstreamBadRequestError,
            "Invalid image size",
        ),
        (
            400,
            b"unsupported style",
            {"content-type": "text/plain"},
            UpstreamBadRequestError,
            "unsupported style",
        ),
        (
            429,
            b"too many requests",
            {"retry-after": "3"},
            UpstreamRateLimitError,
            "too many requests",
        ),
    ],
)
def test_errors(
    status: int, body: bytes, headers: dict[str, str], error_type: type, text: str
) -> None:
    err = ADAPTER.map_error(response(body, status, headers), deployment())
    assert type(err) is error_type
    assert text in err.message and "recraft" in err.message
