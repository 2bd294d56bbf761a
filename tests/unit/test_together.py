"""Together AI adapter: size and format translation, own fields, edits by model family,
answers, errors, credentials from the environment."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from starlette.responses import RedirectResponse, Response

from proxy.config import ConfigError, Deployment
from proxy.config.delivery import ImageFetchSettings
from proxy.configure import parse_config
from proxy.credentials.base import HeaderKey
from proxy.errors import (
    InvalidRequestError,
    ProviderAuthError,
    UpstreamBadRequestError,
    UpstreamError,
    UpstreamQuotaError,
)
from proxy.images.fetcher import ImageFetcher
from proxy.pricing.cost import PriceInputs, Pricer
from proxy.providers.mock.png import render_png
from proxy.providers.registry import PROVIDERS, edit_refusal
from proxy.providers.together.images import TogetherImages, api_key
from proxy.schemas import ImageRequest
from proxy.schemas.edits import EditRequest, InputImage
from proxy.upstream_request import UpstreamRequest, UpstreamResponse
from tests.fakes.server import FakeUpstream, Received

ADAPTER = TogetherImages()
SCHNELL = "together_ai/black-forest-labs/FLUX.1-schnell"


def deployment(model: str = SCHNELL, env: Any = None, **params: Any) -> Deployment:
    if env is None:
        params.setdefault("api_key", "tg-test-key")
    config = parse_config(
        {"model_list": [{"model_name": "t", "litellm_params": {"model": model, **params}}]},
        env=env or {},
    )
    return config.deployments[0]


def sent(upstream: UpstreamRequest) -> dict[str, Any]:
    assert upstream.body is not None
    assert upstream.url == "https://api.together.xyz/v1/images/generations"
    return dict(orjson.loads(upstream.body))


def build(body: dict[str, Any], dep: Deployment | None = None) -> dict[str, Any]:
    request = ImageRequest.from_body({"model": "t", "prompt": "a fox", **body})
    (upstream,) = ADAPTER.build(request, dep or deployment())
    return sent(upstream)


def image(data: bytes = b"png-bytes", media_type: str = "image/png") -> InputImage:
    return InputImage(data, media_type, "i.png", 8, 8)


def edit(model: str, count: int = 1, **body: Any) -> dict[str, Any]:
    request = EditRequest.from_parts(
        {"model": "t", "prompt": "make it blue", **body},
        tuple(image(b"img%d" % i) for i in range(count)),
    )
    (upstream,) = ADAPTER.build_edit(request, deployment(model))
    return sent(upstream)


def test_generation_body() -> None:
    body = build(
        {
            "size": "1280x720",
            "n": 4,
            "response_format": "b64_json",
            "output_format": "png",
            "user": "end-user-1",
            "steps": 4,
            "seed": 7,
            "negative_prompt": "blur",
            "guidance_scale": 3.5,
            "disable_safety_checker": True,
            "image_loras": [{"path": "https://hf.example/lora", "scale": 1}],
        }
    )
    assert body == {
        "model": "black-forest-labs/FLUX.1-schnell",
        "prompt": "a fox",
        "width": 1280,
        "height": 720,
        "n": 4,
        "response_format": "base64",
        "output_format": "png",
        "steps": 4,
        "seed": 7,
        "negative_prompt": "blur",
        "guidance_scale": 3.5,
        "disable_safety_checker": True,
        "image_loras": [{"path": "https://hf.example/lora", "scale": 1}],
    }


def test_url_auto_and_explicit_dimensions() -> None:
    assert build({"response_format": "url", "size": "auto"}) == {
        "model": "black-forest-labs/FLUX.1-schnell",
        "prompt": "a fox",
        "response_format": "url",
    }
    assert build({"width": 768, "height": 1344})["width"] == 768
    with pytest.raises(InvalidRequestError, match="not both"):
        build({"size": "1024x1024", "width": 512})


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"size": "1024"}, "size"),
        ({"size": "16:9"}, "size"),
        ({"size": "²x²"}, "size"),
        ({"size": "9" * 5000 + "x1"}, "size"),
        ({"n": 5}, "n"),
        ({"output_format": "webp"}, "output_format"),
        ({"quality": "hd"}, "quality"),
        ({"style": "vivid"}, "style"),
        ({"background": "transparent"}, "background"),
        ({"moderation": "low"}, "moderation"),
        ({"output_compression": 50}, "output_compression"),
        ({"input_fidelity": "high"}, "input_fidelity"),
    ],
)
def test_refusals_name_the_parameter(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        build(body)
    assert info.value.param == param


# --- edits ----------------------------------------------------------------------------


def test_kontext_takes_one_image_url() -> None:
    body = edit("together_ai/black-forest-labs/FLUX.1-kontext-pro", size="1024x768")
    assert body["image_url"] == "data:image/png;base64,aW1nMA=="
    assert (body["width"], body["height"]) == (1024, 768) and "reference_images" not in body
    with pytest.raises(InvalidRequestError) as info:
        edit("together_ai/black-forest-labs/FLUX.1-kontext-max", count=2)
    assert info.value.code == "too_many_images"


def test_flux2_pro_one_image_url_several_reference_images() -> None:
    assert "image_url" in edit("together_ai/black-forest-labs/FLUX.2-pro")
    body = edit("together_ai/black-forest-labs/FLUX.2-flex", count=2)
    assert body["reference_images"] == [
        "data:image/png;base64,aW1nMA==",
        "data:image/png;base64,aW1nMQ==",
    ]
    assert "image_url" not in body


@pytest.mark.parametrize(
    "model",
    ["together_ai/black-forest-labs/FLUX.2-dev", "together_ai/google/gemini-3-pro-image"],
)
def test_reference_only_models(model: str) -> None:
    body = edit(model)
    assert body["reference_images"] == ["data:image/png;base64,aW1nMA=="]
    assert "image_url" not in body


def test_models_without_image_input_cannot_edit_and_masks_are_refused() -> None:
    refusal = edit_refusal(deployment())
    assert refusal is not None and "takes no input image" in refusal
    request = EditRequest.from_parts(
        {"model": "t", "prompt": "x"},
        (image(),),
        mask=InputImage(b"m", "image/png", "m.png", 8, 8),
    )
    with pytest.raises(InvalidRequestError) as info:
        ADAPTER.build_edit(request, deployment("together_ai/black-forest-labs/FLUX.2-pro"))
    assert info.value.param == "mask" and "no masks" in info.value.message


# --- answers and errors ---------------------------------------------------------------


def answer(body: Any, status: int = 200) -> UpstreamResponse:
    return UpstreamResponse(status, {}, orjson.dumps(body))


def test_answers() -> None:
    request = ImageRequest.from_body({"model": "t", "prompt": "x"})
    b64 = {
        "id": "oHpD53L-2kFHot",
        "model": "black-forest-labs/FLUX.1-schnell",
        "object": "list",
        "data": [{"index": 0, "b64_json": "QUJD", "type": "b64_json"}],
    }
    assert ADAPTER.parse(answer(b64), request, deployment()).data == [{"b64_json": "QUJD"}]
    url = {"data": [{"index": 0, "url": "https://api.together.ai/shrt/UKUn8Zz7"}]}
    result = ADAPTER.parse(answer(url), request, deployment())
    assert result.data == [{"url": "https://api.together.ai/shrt/UKUn8Zz7"}]
    with pytest.raises(UpstreamError):
        ADAPTER.parse(answer({"data": []}), request, deployment())


def test_errors() -> None:
    nested = {
        "error": {
            "message": "steps must be between 1 and 12",
            "type": "invalid_request_error",
            "param": "steps",
        }
    }
    bad = ADAPTER.map_error(answer(nested, 400), deployment())
    assert isinstance(bad, UpstreamBadRequestError) and bad.param == "steps"
    assert "steps must be" in bad.message
    auth = ADAPTER.map_error(answer({"error": {"message": "Invalid API key"}}, 401), deployment())
    assert isinstance(auth, ProviderAuthError)
    quota = ADAPTER.map_error(answer({"error": {"message": "no credits"}}, 402), deployment())
    assert isinstance(quota, UpstreamQuotaError)


# --- config and prices -------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["TOGETHER_API_KEY", "TOGETHER_AI_API_KEY", "TOGETHERAI_API_KEY", "TOGETHER_AI_TOKEN"]
)
async def test_key_from_the_environment(name: str) -> None:
    dep = deployment(
        env={name: f"key-from-{name}", "TOGETHER_AI_API_BASE": "https://tg.example/v1"}
    )
    credentials = PROVIDERS["together_ai"].credentials(dep)
    assert isinstance(credentials, HeaderKey)
    request = ImageRequest.from_body({"model": "t", "prompt": "x"})
    (upstream,) = ADAPTER.build(request, dep)
    await credentials.authorize(upstream)
    assert upstream.headers["authorization"] == f"Bearer key-from-{name}"
    assert upstream.url == "https://tg.example/v1/images/generations"


def test_first_key_variable_wins_and_no_key_is_refused() -> None:
    dep = deployment(env={"TOGETHER_AI_TOKEN": "last", "TOGETHER_API_KEY": "first"})
    assert api_key(dep) == "first"
    with pytest.raises(ConfigError, match="TOGETHER_API_KEY"):
        parse_config(
            {"model_list": [{"model_name": "t", "litellm_params": {"model": SCHNELL}}]}, env={}
        )


def test_per_pixel_price() -> None:
    config = parse_config(
        {"model_list": [{"model_name": "t", "litellm_params": {"model": SCHNELL, "api_key": "k"}}]},
        env={},
    )
    pricer = Pricer(config)
    entry = pricer.entry(config.deployments[0])
    cost = pricer.compute(entry, None, 2, PriceInputs(size="1024x1024", n=2))
    assert cost.basis == "per_pixel" and cost.usd == pytest.approx(0.0054, rel=1e-3)


async def test_the_downloader_sends_a_user_agent_through_a_short_link(fake: FakeUpstream) -> None:
    """Together's image links (``/shrt/<id>``) redirect to its CDN, which answers 403 to an
    empty User-Agent (docs.together.ai): the proxy's downloader sends one on every hop."""
    png = render_png(8, 4, (1, 2, 3))

    def cdn(req: Received) -> Response:
        if not req.headers.get("user-agent"):
            return Response(b"Forbidden", 403)
        return Response(png, media_type="image/jpeg")

    fake.route("GET", "/shrt/UKUn8Zz7", lambda r: RedirectResponse("/cdn/img.jpeg", 302))
    fake.route("GET", "/cdn/img.jpeg", cdn)
    fetcher = ImageFetcher(
        ImageFetchSettings(allowed_hosts=("127.0.0.1",), allow_private_cidrs=("127.0.0.1/32",))
    )
    try:
        assert await fetcher.fetch(f"{fake.base}/shrt/UKUn8Zz7", ADAPTER.image_hosts) == png
    finally:
        await fetcher.aclose()
    assert [r.headers["user-agent"] for r in fake.received()] == ["image-proxy"] * 2
