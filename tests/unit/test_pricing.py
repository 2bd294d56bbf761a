"""Cost per provider family, from recorded usage payloads, against hand-computed figures."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from proxy.config import Deployment, LiteLLMParams, ModelInfo
from proxy.configure import parse_config
from proxy.context import RequestContext
from proxy.pricing import PriceInputs, Pricer, PriceTable
from proxy.pricing.usage import normalize


def deployment(provider: str, model: str, info: dict[str, Any] | None = None) -> Deployment:
    return Deployment(
        index=0,
        model_name="m",
        provider=provider,
        model=model,
        params=LiteLLMParams(model=f"{provider}/{model}"),
        info=ModelInfo(**(info or {})),
        id=f"{provider}-{model}-{sorted((info or {}).items())}",
        timeout=60,
    )


TABLE = PriceTable.load()


def price(
    provider: str,
    model: str,
    *,
    usage: dict[str, Any] | None = None,
    images: int = 1,
    info: dict[str, Any] | None = None,
    **params: Any,
) -> tuple[float | None, str | None]:
    pricer = Pricer(parse_config({}), TABLE)
    d = deployment(provider, model, info)
    pricer.deployments[d.id] = d
    ctx = RequestContext("images")
    ctx.deployment_id, ctx.provider, ctx.usage, ctx.images = d.id, provider, usage, images
    ctx.price_inputs = PriceInputs(**params)
    pricer(ctx)
    return ctx.cost, ctx.cost_basis


# Recorded usage payloads (shapes from the providers' documentation / SDK types).
GPT_IMAGE_1_HIGH = {  # one 1024x1024 high-quality image: 4160 output tokens
    "total_tokens": 4210,
    "input_tokens": 50,
    "output_tokens": 4160,
    "input_tokens_details": {"text_tokens": 10, "image_tokens": 40},
}
GPT_IMAGE_1_EDIT_CACHED = {
    "total_tokens": 1272,
    "input_tokens": 1000,
    "output_tokens": 272,
    "input_tokens_details": {"text_tokens": 200, "image_tokens": 800, "cached_tokens": 500},
}
GPT_IMAGE_2 = {
    "total_tokens": 1070,
    "input_tokens": 20,
    "output_tokens": 1050,
    "input_tokens_details": {"text_tokens": 20, "image_tokens": 0},
    "output_tokens_details": {"image_tokens": 1000, "text_tokens": 50},
}
GEMINI_25_FLASH_IMAGE = {
    "usageMetadata": {
        "promptTokenCount": 9,
        "candidatesTokenCount": 1295,
        "totalTokenCount": 1304,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 9}],
        "candidatesTokensDetails": [
            {"modality": "IMAGE", "tokenCount": 1290},
            {"modality": "TEXT", "tokenCount": 5},
        ],
    }
}
GEMINI_3_PRO_THINKING = {
    "promptTokenCount": 12,
    "candidatesTokenCount": 1120,
    "thoughtsTokenCount": 200,
    "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": 1120}],
}
GEMINI_3_PRO_CHAT_SHAPE = {  # an adapter's chat-usage translation of usageMetadata
    "prompt_tokens": 570,
    "completion_tokens": 1200,
    "total_tokens": 1770,
    "prompt_tokens_details": {"image_tokens": 560},
    "completion_tokens_details": {"image_tokens": 1120, "reasoning_tokens": 60},
}
OPENROUTER = {
    "prompt_tokens": 6,
    "completion_tokens": 1299,
    "total_tokens": 1305,
    "completion_tokens_details": {"image_tokens": 1290},
    "cost": 0.0387243,
}
GPT_4O_MINI_CACHED = {
    "prompt_tokens": 1000,
    "completion_tokens": 100,
    "total_tokens": 1100,
    "prompt_tokens_details": {"cached_tokens": 400},
}

CASES: list[tuple[str, str, dict[str, Any], float, str]] = [
    # (provider, model, kwargs, expected USD, basis)
    ("openai", "dall-e-3", {"images": 1, "quality": "hd", "size": "1792x1024"}, 0.12, "per_image"),
    ("openai", "dall-e-3", {"images": 2}, 0.08, "per_image"),  # standard 1024x1024 default
    ("openai", "dall-e-2", {"images": 3, "size": "512x512"}, 0.054, "per_image"),
    # 10*5e-6 + 40*1e-5 + 4160*4e-5
    ("openai", "gpt-image-1", {"usage": GPT_IMAGE_1_HIGH}, 0.16685, "tokens"),
    # n=2 usage already covers both images: never multiplied again
    (
        "openai",
        "gpt-image-1",
        {"usage": {**GPT_IMAGE_1_HIGH, "output_tokens": 8320}, "images": 2},
        0.00045 + 8320 * 4e-5,
        "tokens",
    ),
    # cached 500 from text first: 200*1.25e-6 + 300*2.5e-6 + 500*1e-5 + 272*4e-5
    ("openai", "gpt-image-1", {"usage": GPT_IMAGE_1_EDIT_CACHED}, 0.01688, "tokens"),
    # 20*5e-6 + 1000*3e-5 (image out, not the $10/1M text rate) + 50*1e-5
    ("openai", "gpt-image-2-2026-04-21", {"usage": GPT_IMAGE_2}, 0.0306, "tokens"),
    ("openai", "gpt-image-1", {"quality": "low", "size": "1024x1536"}, 0.016, "per_image"),
    ("openai", "gpt-image-1", {"quality": "auto"}, 0.167, "per_image"),  # no usage: dearest
    ("openai", "gpt-image-1-mini", {"quality": "medium", "images": 2}, 0.022, "per_image"),
    # 600*1.5e-7 + 400*7.5e-8 + 100*6e-7
    ("openai", "gpt-4o-mini", {"usage": GPT_4O_MINI_CACHED, "images": 0}, 0.00018, "tokens"),
    (
        "azure",
        "my-dalle",
        {"info": {"base_model": "dall-e-3"}, "quality": "hd"},
        0.088,
        "per_image",
    ),
    (
        "azure",
        "prod-image",
        {"info": {"base_model": "azure/gpt-image-1"}, "usage": GPT_IMAGE_1_HIGH},
        0.16685,
        "tokens",
    ),
    ("gemini", "imagen-4.0-generate-001", {"images": 2}, 0.08, "per_image"),
    ("vertex_ai", "imagen-3.0-fast-generate-001", {"images": 3}, 0.06, "per_image"),
    # 9*3e-7 + 5*2.5e-6 + 1290*3e-5
    ("gemini", "gemini-2.5-flash-image", {"usage": GEMINI_25_FLASH_IMAGE}, 0.0387152, "tokens"),
    # 12*2e-6 + 200 thought tokens * 1.2e-5 + 1120*1.2e-4
    (
        "vertex_ai",
        "gemini-3-pro-image",
        {"usage": GEMINI_3_PRO_THINKING},
        0.000024 + 0.0024 + 0.1344,
        "tokens",
    ),
    # 10*2e-6 + 560*2e-6 + (1200-1120)*1.2e-5 + 1120*1.2e-4
    ("gemini", "gemini-3-pro-image", {"usage": GEMINI_3_PRO_CHAT_SHAPE}, 0.1365, "tokens"),
    ("gemini", "gemini-2.5-flash-image", {"images": 2}, 0.078, "per_image"),  # no usage
    (
        "bedrock",
        "stability.stable-diffusion-xl-v0",
        {"size": "512x512", "steps": 50},
        0.018,
        "per_image",
    ),
    (
        "bedrock",
        "stability.stable-diffusion-xl-v0",
        {"size": "512x512", "steps": 70},
        0.036,
        "per_image",
    ),
    (
        "bedrock",
        "stability.stable-diffusion-xl-v0",
        {"size": "1024x1024", "steps": 70},
        0.072,
        "per_image",
    ),
    ("bedrock", "stability.stable-diffusion-xl-v1", {"steps": 30}, 0.04, "per_image"),
    ("bedrock", "stability.sd3-large-v1:0", {}, 0.08, "per_image"),
    ("bedrock", "stability.stable-image-ultra-v1:1", {"images": 2}, 0.28, "per_image"),
    (
        "bedrock",
        "amazon.titan-image-generator-v2:0",
        {"quality": "premium", "size": "1024x1024", "images": 2},
        0.024,
        "per_image",
    ),
    ("bedrock", "amazon.titan-image-generator-v1", {"size": "512x512"}, 0.008, "per_image"),
    ("bedrock", "us.amazon.nova-canvas-v1:0", {}, 0.04, "per_image"),
    # the adapter sends OpenAI "hd" as premium: priced as premium
    (
        "bedrock",
        "amazon.nova-canvas-v1:0",
        {"quality": "hd", "size": "1024x1024"},
        0.06,
        "per_image",
    ),
    (
        "bedrock",
        "amazon.titan-image-generator-v2:0",
        {"quality": "low", "size": "512x512"},
        0.008,
        "per_image",
    ),
    ("recraft", "recraftv3", {"images": 2}, 0.08, "per_image"),
    (
        "nscale",
        "black-forest-labs/FLUX.1-schnell",
        {"size": "1024x1024"},
        1.3e-9 * 1024 * 1024,
        "per_pixel",
    ),
    ("nscale", "black-forest-labs/FLUX.1-schnell", {}, 1.3e-9 * 512 * 512, "per_pixel"),
    ("openrouter", "google/gemini-2.5-flash-image", {"usage": OPENROUTER}, 0.0387243, "provider"),
    ("mock", "placeholder", {"images": 4}, 0.0, "free"),
    (
        "xinference",
        "sdxl",
        {"info": {"output_cost_per_image": 0.002}, "images": 3},
        0.006,
        "per_image",
    ),
    # an override of one rate keeps the table's other rates: 10*5e-6 + 40*1e-5 + 4160*5e-5
    (
        "openai",
        "gpt-image-1",
        {"info": {"output_cost_per_image_token": 5e-5}, "usage": GPT_IMAGE_1_HIGH},
        0.20845,
        "tokens",
    ),
    (
        "mock",
        "placeholder",
        {"info": {"output_cost_per_image": 0.01}, "images": 2},
        0.02,
        "per_image",
    ),
]


# A price the deployment's model_info declares wins over every rule of the table, however
# specific (the issue: a declared $0.04 on dall-e-2 was charged the table's $0.02 per size).
DECLARED_WINS: list[tuple[str, str, dict[str, Any], float, str]] = [
    # the table's per-size rule (0.02 at 1024x1024) loses to the declared flat price
    (
        "openai",
        "dall-e-2",
        {"info": {"output_cost_per_image": 0.04}, "images": 3},
        0.12,
        "per_image",
    ),
    (
        "openai",
        "dall-e-2",
        {"info": {"output_cost_per_image": 0.04}, "size": "256x256"},
        0.04,
        "per_image",
    ),
    # quality x size rules too (dall-e-3 hd 1024x1792: 0.12 in the table)
    (
        "openai",
        "dall-e-3",
        {"info": {"output_cost_per_image": 0.05}, "quality": "hd", "size": "1024x1792"},
        0.05,
        "per_image",
    ),
    # and per-steps rules (Bedrock SDXL)
    (
        "bedrock",
        "stability.stable-diffusion-xl-v0",
        {"info": {"output_cost_per_image": 0.01}, "size": "1024x1024", "steps": 70},
        0.01,
        "per_image",
    ),
    # a declared per-image price wins over the table's token rates, usage or not
    (
        "openai",
        "gpt-image-1",
        {"info": {"output_cost_per_image": 0.04}, "usage": GPT_IMAGE_1_HIGH},
        0.04,
        "per_image",
    ),
    # a declared per-pixel price over the table's per-size rule: 1e-8 * 512 * 512
    (
        "openai",
        "dall-e-2",
        {"info": {"input_cost_per_pixel": 1e-8}, "size": "512x512"},
        1e-8 * 512 * 512,
        "per_pixel",
    ),
    # declared token rates over the table's per-image rules: 10*1e-6 + 40*1e-6 + 4160*2e-6
    (
        "openai",
        "dall-e-3",
        {
            "info": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6},
            "usage": GPT_IMAGE_1_HIGH,
        },
        0.00837,
        "tokens",
    ),
    # a declared 0 is a price (self-hosted), not "no price"
    (
        "openai",
        "dall-e-2",
        {"info": {"output_cost_per_image": 0}, "images": 2},
        0.0,
        "per_image",
    ),
]


@pytest.mark.parametrize(
    ("provider", "model", "kwargs", "expected", "basis"), CASES + DECLARED_WINS
)
def test_cost_per_provider_family(
    provider: str, model: str, kwargs: dict[str, Any], expected: float, basis: str
) -> None:
    cost, got_basis = price(provider, model, **kwargs)
    assert cost == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert got_basis == basis


@pytest.mark.parametrize(
    ("provider", "model", "info"),
    [("xinference", "sdxl", {}), ("openai", "my-local-model", {}), ("azure", "my-deploy", {})],
)
def test_unknown_price_is_unknown_not_zero_and_warns_once(
    provider: str, model: str, info: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    pricer = Pricer(parse_config({}), TABLE)
    d = deployment(provider, model, info)
    pricer.deployments[d.id] = d
    with caplog.at_level(logging.WARNING, "proxy.pricing"):
        for _ in range(3):
            ctx = RequestContext("images")
            ctx.deployment_id, ctx.images = d.id, 1
            pricer(ctx)
            assert ctx.cost is None
            assert "x-response-cost" not in ctx.response_headers()
    assert len([r for r in caplog.records if "cost unknown" in r.message]) == 1


def test_failed_request_without_output_costs_nothing() -> None:
    pricer = Pricer(parse_config({}), TABLE)
    d = deployment("openai", "dall-e-3")
    pricer.deployments[d.id] = d
    ctx = RequestContext("images")
    ctx.deployment_id, ctx.status = d.id, 502
    pricer(ctx)
    assert ctx.cost == 0.0 and ctx.response_headers()["x-response-cost"] == "0.0"


def test_success_without_usage_on_token_only_model_is_unknown() -> None:
    assert price("openai", "gpt-image-2", images=0) == (None, "unknown")


def test_bad_override_is_refused() -> None:
    with pytest.raises(ValueError, match="output_cost_per_image"):
        TABLE.build_entry(deployment("openai", "dall-e-3", {"output_cost_per_image": -1}))


def test_estimates_are_pessimistic() -> None:
    config = parse_config(
        {
            "model_list": [
                {
                    "model_name": "img",
                    "litellm_params": {"model": "openai/dall-e-3", "api_key": "k"},
                },
                {
                    "model_name": "img",
                    "litellm_params": {"model": "openai/gpt-image-1", "api_key": "k"},
                },
            ]
        }
    )
    pricer = Pricer(config, TABLE)
    # the dearer deployment of the group, times n
    assert pricer.estimate("img", PriceInputs(quality="hd", n=2), "images") == pytest.approx(0.334)
    assert pricer.estimate("nope", PriceInputs(), "images") is None


def test_usage_shapes_normalise() -> None:
    u = normalize(GEMINI_25_FLASH_IMAGE)
    assert u is not None and (u.text_in, u.image_out, u.text_out) == (9, 1290, 5)
    u = normalize(
        {
            "prompt_tokens": 10,
            "completion_tokens": 0,
            "prompt_tokens_details": {
                "cached_tokens": 4,
                "cached_tokens_details": {"text_tokens": 4},
            },
        }
    )
    assert u is not None and (u.text_in, u.cached_text_in) == (6, 4)
    assert normalize({"cost": 1}) is None and normalize(None) is None


def test_estimates_use_the_declared_price_too() -> None:
    config = parse_config(
        {
            "model_list": [
                {
                    "model_name": "img",
                    "litellm_params": {"model": "openai/dall-e-2", "api_key": "k"},
                    "model_info": {"output_cost_per_image": 0.04},
                },
                {
                    "model_name": "cheap",
                    "litellm_params": {"model": "openai/dall-e-3", "api_key": "k"},
                    "model_info": {"output_cost_per_image": 0.001},
                },
            ]
        }
    )
    pricer = Pricer(config, TABLE)
    assert pricer.estimate("img", PriceInputs(n=3), "images") == pytest.approx(0.12)
    # not the table's dearest dall-e-3 rule (0.12)
    assert pricer.estimate("cheap", PriceInputs(quality="hd"), "images") == pytest.approx(0.001)


@pytest.mark.parametrize("provider", ["gemini", "vertex_ai"])
def test_gemini_3_ga_names_carry_the_prices_and_previews_follow(provider: str) -> None:
    for ga, rate in (("gemini-3-pro-image", 1.2e-04), ("gemini-3.1-flash-image", 6.0e-05)):
        entry = TABLE.for_deployment(deployment(provider, ga))
        assert entry.key == f"{provider}/{ga}"
        assert entry.rate("output_cost_per_image_token") == rate  # image out at the image rate
        preview = TABLE.for_deployment(deployment(provider, f"{ga}-preview"))
        assert preview.rates == entry.rates
    lite = TABLE.for_deployment(deployment(provider, "gemini-3.1-flash-lite-image"))
    assert lite.key == f"{provider}/gemini-3.1-flash-lite-image" and lite.known
    assert lite.rate("output_cost_per_image_token") == 3.0e-05  # $0.0336 per 1K image
    assert TABLE.as_of == "2026-12-04"


def test_an_openrouter_model_named_after_an_openai_one_is_priced_from_usage_cost() -> None:
    """``openrouter/openai/gpt-image-2`` is OpenRouter's to bill: its ``usage.cost``, never
    OpenAI's token prices for ``openai/gpt-image-2`` from the table."""
    usage = {"prompt_tokens": 0, "completion_tokens": 272, "total_tokens": 272, "cost": 0.13}
    assert price("openrouter", "openai/gpt-image-2", usage=usage) == (0.13, "provider")
    # a base_model naming another provider still finds that provider's prices
    tokens = {"input_tokens": 10, "output_tokens": 272, "total_tokens": 282}
    cost, basis = price(
        "azure", "my-deployment", usage=tokens, info={"base_model": "openai/gpt-image-2"}
    )
    assert basis == "tokens" and cost is not None and cost > 0
