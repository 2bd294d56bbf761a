"""xAI adapter: size translation, parameters refused, JSON edits, answers, cost, errors."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from proxy.config import ConfigError, Deployment
from proxy.configure import parse_config
from proxy.credentials.base import HeaderKey
from proxy.errors import (
    ContentPolicyError,
    InvalidRequestError,
    ProviderAuthError,
    UpstreamBadRequestError,
    UpstreamError,
    UpstreamRateLimitError,
)
from proxy.pricing.cost import PriceInputs, Pricer
from proxy.providers.registry import PROVIDERS
from proxy.providers.xai.images import XAIImages
from proxy.providers.xai.sizes import translate
from proxy.schemas import ImageRequest
from proxy.schemas.edits import EditRequest, InputImage
from proxy.upstream_request import UpstreamRequest, UpstreamResponse

ADAPTER = XAIImages()
XAI_MODEL = "xai/grok-imagine-image"


def deployment(model: str = "xai/grok-imagine-image", env: Any = None, **params: Any) -> Deployment:
    params.setdefault("api_key", "xai-test-key")
    config = parse_config(
        {"model_list": [{"model_name": "g", "litellm_params": {"model": model, **params}}]},
        env=env or {},
    )
    return config.deployments[0]


def sent(upstream: UpstreamRequest) -> dict[str, Any]:
    assert upstream.body is not None
    return dict(orjson.loads(upstream.body))


def build(body: dict[str, Any], dep: Deployment | None = None) -> dict[str, Any]:
    request = ImageRequest.from_body({"model": "g", "prompt": "a fox", **body})
    (upstream,) = ADAPTER.build(request, dep or deployment())
    assert upstream.url == "https://api.x.ai/v1/images/generations"
    return sent(upstream)


def image(data: bytes = b"\x89PNG-one", media_type: str = "image/png") -> InputImage:
    return InputImage(data, media_type, "i.png", 8, 8)


def edit(body: dict[str, Any], images: tuple[InputImage, ...], mask: Any = None) -> EditRequest:
    return EditRequest.from_parts({"model": "g", "prompt": "make it blue", **body}, images, mask)


def answer(body: Any, status: int = 200) -> UpstreamResponse:
    return UpstreamResponse(status, {}, orjson.dumps(body))


# --- sizes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "ratio", "resolution"),
    [
        ("1024x1024", "1:1", "1k"),
        ("2048x2048", "1:1", "2k"),
        ("1408x768", "16:9", "1k"),  # xAI's own 1k 16:9 output
        ("768x1408", "9:16", "1k"),
        ("1280x720", "16:9", "1k"),
        ("1920x1080", "16:9", "2k"),
        ("1080x1920", "9:16", "2k"),
        ("1536x1024", "3:2", "2k"),
        ("1024x1536", "2:3", "2k"),
        ("1296x864", "3:2", "1k"),
        ("512x512", "1:1", "1k"),
        ("1248x576", "19.5:9", "1k"),
        ("2000x1000", "2:1", "2k"),
    ],
)
def test_size_translation(size: str, ratio: str, resolution: str) -> None:
    assert translate(size) == (ratio, resolution)
    body = build({"size": size})
    assert body["aspect_ratio"] == ratio and body["resolution"] == resolution
    assert "size" not in body


@pytest.mark.parametrize(
    "size",
    ["1792x1024", "1024x1792", "1000x999", "big", "0x0", "4096x4096", "²x²", "9" * 5000 + "x1"],
)
def test_sizes_xai_cannot_produce_are_refused(size: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        build({"size": size})
    assert info.value.param == "size" and info.value.code == "invalid_size"
    assert "16:9" in info.value.message and "1024x1024" in info.value.message


def test_auto_size_and_no_size_send_no_shape() -> None:
    for body in ({"size": "auto"}, {}):
        sent_body = build(body)
        assert "size" not in sent_body and "aspect_ratio" not in sent_body


def test_ratio_fields_pass_and_are_checked() -> None:
    assert build({"aspect_ratio": "20:9", "resolution": "2K"}) == {
        "model": "grok-imagine-image",
        "prompt": "a fox",
        "aspect_ratio": "20:9",
        "resolution": "2k",
    }
    with pytest.raises(InvalidRequestError, match="aspect_ratio"):
        build({"aspect_ratio": "5:4"})
    with pytest.raises(InvalidRequestError, match="resolution"):
        build({"resolution": "4k"})
    with pytest.raises(InvalidRequestError, match="not both"):
        build({"size": "1024x1024", "aspect_ratio": "1:1"})


def test_generation_body() -> None:
    body = build({"n": 4, "response_format": "b64_json", "user": "u-1", "size": "1024x1024"})
    assert body == {
        "model": "grok-imagine-image",
        "prompt": "a fox",
        "n": 4,
        "response_format": "b64_json",
        "user": "u-1",
        "aspect_ratio": "1:1",
        "resolution": "1k",
    }


@pytest.mark.parametrize(
    "name",
    ["background", "moderation", "output_format", "output_compression", "style", "input_fidelity"],
)
def test_openai_parameters_xai_lacks_are_refused(name: str) -> None:
    value: Any = 50 if name == "output_compression" else "x"
    with pytest.raises(InvalidRequestError) as info:
        build({name: value})
    assert info.value.param == name and "xAI" in info.value.message


def test_quality_only_where_the_model_takes_it() -> None:
    v2 = deployment("xai/grok-imagine-image-2.0")
    assert build({"quality": "low"}, v2)["quality"] == "low"
    assert "quality" not in build({"quality": "auto"}, v2)
    with pytest.raises(InvalidRequestError, match="low, medium, high"):
        build({"quality": "hd"}, v2)
    with pytest.raises(InvalidRequestError) as info:
        build({"quality": "high"})
    assert info.value.param == "quality" and "grok-imagine-image-2.0" in info.value.message
    assert "quality" not in build({"quality": "auto"})


# --- edits ----------------------------------------------------------------------------


def test_one_image_edit_is_a_data_url() -> None:
    request = edit({"n": 2, "response_format": "url"}, (image(),))
    (upstream,) = ADAPTER.build_edit(request, deployment())
    assert upstream.url == "https://api.x.ai/v1/images/edits"
    assert upstream.headers["content-type"] == "application/json"
    encoded = base64.b64encode(b"\x89PNG-one").decode()
    assert sent(upstream) == {
        "model": "grok-imagine-image",
        "prompt": "make it blue",
        "n": 2,
        "response_format": "url",
        "image": {"url": f"data:image/png;base64,{encoded}"},
    }


def test_several_images_go_as_images_and_take_a_size() -> None:
    request = edit(
        {"size": "1280x720"}, (image(b"a"), image(b"b", "image/jpeg"), image(b"c", "image/webp"))
    )
    body = sent(ADAPTER.build_edit(request, deployment())[0])
    assert body["images"] == [
        {"url": "data:image/png;base64,YQ=="},
        {"url": "data:image/jpeg;base64,Yg=="},
        {"url": "data:image/webp;base64,Yw=="},
    ]
    assert "image" not in body and "size" not in body
    assert body["aspect_ratio"] == "16:9"


def test_edit_limits() -> None:
    with pytest.raises(InvalidRequestError) as info:
        ADAPTER.build_edit(edit({}, tuple(image() for _ in range(4))), deployment())
    assert info.value.code == "too_many_images" and "at most 3" in info.value.message
    with pytest.raises(InvalidRequestError) as info:
        ADAPTER.build_edit(edit({}, (image(),), mask=image()), deployment())
    assert info.value.param == "mask" and "by prompt" in info.value.message
    with pytest.raises(InvalidRequestError) as info:
        ADAPTER.build_edit(edit({"size": "1024x1024"}, (image(),)), deployment())
    assert info.value.param == "size" and "aspect ratio" in info.value.message
    assert ADAPTER.edit_refusal(deployment()) is None


def test_edit_body_never_holds_the_key_or_leaks_base64_into_errors() -> None:
    with pytest.raises(InvalidRequestError) as info:
        ADAPTER.build_edit(edit({"style": "vivid"}, (image(b"secret-bytes"),)), deployment())
    assert "c2VjcmV0" not in info.value.message


# --- answers --------------------------------------------------------------------------

XAI_ANSWER = {
    "data": [
        {
            "url": "https://imgen.x.ai/xai-imgen/xai-tmp-imgen-1.jpeg",
            "mime_type": "image/jpeg",
            "revised_prompt": "",
        },
        {"b64_json": "QUJD", "mime_type": "image/jpeg", "revised_prompt": "a red fox"},
    ],
    "usage": {"cost_in_usd_ticks": 400_000_000},
}


def test_answer_keeps_openai_fields_and_the_exact_cost() -> None:
    request = ImageRequest.from_body({"model": "g", "prompt": "x", "n": 2})
    result = ADAPTER.parse(answer(XAI_ANSWER), request, deployment())
    assert result.data == [
        {"url": "https://imgen.x.ai/xai-imgen/xai-tmp-imgen-1.jpeg"},
        {"b64_json": "QUJD", "revised_prompt": "a red fox"},
    ]
    assert result.usage is not None and result.usage.raw == {"cost": 0.04}
    assert ADAPTER.image_hosts == ("imgen.x.ai",)


def test_spend_uses_the_reported_cost_else_the_list_price() -> None:
    dep = deployment()
    config = parse_config(
        {"model_list": [{"model_name": "g", "litellm_params": {"model": XAI_MODEL}}]},
        env={"XAI_API_KEY": "k"},
    )
    pricer = Pricer(config)
    entry = pricer.entry(config.deployments[0])
    inputs = PriceInputs(n=2)
    reported = pricer.compute(entry, {"cost": 0.044}, 2, inputs)
    assert (reported.usd, reported.basis) == (0.044, "provider")
    fallback = pricer.compute(entry, None, 2, inputs)
    assert (fallback.usd, fallback.basis) == (0.04, "per_image")
    assert dep.provider == "xai"


def test_empty_answers_are_errors() -> None:
    request = ImageRequest.from_body({"model": "g", "prompt": "x"})
    with pytest.raises(ContentPolicyError):
        ADAPTER.parse(answer({"data": [], "block_reason": "nsfw"}), request, deployment())
    with pytest.raises(UpstreamError):
        ADAPTER.parse(answer({"data": []}), request, deployment())
    with pytest.raises(UpstreamError):
        ADAPTER.parse(answer({"images": []}), request, deployment())


# --- errors ---------------------------------------------------------------------------


def test_bad_key_400_is_the_proxys_credentials() -> None:
    body = {
        "code": "Client specified an invalid argument",
        "error": "Incorrect API key provided: xa***ey. You can obtain an API key from "
        "https://console.x.ai.",
    }
    err = ADAPTER.map_error(answer(body, 400), deployment())
    assert isinstance(err, ProviderAuthError)
    assert "Incorrect API key" in err.message


def test_other_errors_by_status() -> None:
    bad = ADAPTER.map_error(
        answer({"code": "Client specified an invalid argument", "error": "prompt too long"}, 400),
        deployment(),
    )
    assert isinstance(bad, UpstreamBadRequestError) and bad.status == 400
    assert "prompt too long" in bad.message
    limited = ADAPTER.map_error(
        UpstreamResponse(429, {"retry-after": "3"}, b'{"code":"x","error":"slow down"}'),
        deployment(),
    )
    assert isinstance(limited, UpstreamRateLimitError) and limited.retry_after == 3
    policy = ADAPTER.map_error(
        answer({"code": "x", "error": "Generated image rejected by content moderation."}, 400),
        deployment(),
    )
    assert isinstance(policy, ContentPolicyError)
    assert isinstance(ADAPTER.map_error(answer({"error": "x"}, 500), deployment()), UpstreamError)


# --- config ---------------------------------------------------------------------------


async def test_key_and_base_from_the_environment() -> None:
    config = parse_config(
        {"model_list": [{"model_name": "g", "litellm_params": {"model": XAI_MODEL}}]},
        env={"XAI_API_KEY": "env-key", "XAI_API_BASE": "https://xai.example/v1"},
    )
    dep = config.deployments[0]
    credentials = PROVIDERS["xai"].credentials(dep)
    assert isinstance(credentials, HeaderKey)
    request = ImageRequest.from_body({"model": "g", "prompt": "x"})
    (upstream,) = ADAPTER.build(request, dep)
    await credentials.authorize(upstream)
    assert upstream.headers["authorization"] == "Bearer env-key"
    assert upstream.url == "https://xai.example/v1/images/generations"
    # the config's own values win over the environment
    own = deployment(env={"XAI_API_KEY": "env-key"}, api_key="own-key")
    assert own.params.api_key == "own-key"


def test_a_deployment_without_a_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="XAI_API_KEY"):
        parse_config(
            {"model_list": [{"model_name": "g", "litellm_params": {"model": "xai/grok-2-image"}}]},
            env={},
        )
