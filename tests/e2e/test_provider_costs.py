"""x-response-cost for the non-OpenAI families, end to end through the real adapters and fake
upstreams speaking each provider's wire format (Bedrock, Recraft, OpenRouter); and a price a
deployment declares in model_info, which wins over the table's own rules."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import MASTER_KEY
from tests.fakes.server import FakeUpstream, Received

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nimg").decode()
OR_MODEL = "google/gemini-2.5-flash-image"


@pytest.fixture(scope="module")
def client(proxy_factory: Any, upstream: FakeUpstream) -> Any:
    base = upstream.base
    bedrock = {"api_key": "bedrock-api-key-1", "aws_region_name": "us-east-1", "api_base": base}
    proxy = proxy_factory(
        {
            "model_list": [
                {
                    "model_name": "nova",
                    "litellm_params": {"model": "bedrock/amazon.nova-canvas-v1:0", **bedrock},
                },
                {
                    "model_name": "sd3",
                    "litellm_params": {"model": "bedrock/stability.sd3-5-large-v1:0", **bedrock},
                },
                {
                    "model_name": "recraft",
                    "litellm_params": {
                        "model": "recraft/recraftv3",
                        "api_key": "rk",
                        "api_base": f"{base}/recraft/v1",
                    },
                },
                {
                    "model_name": "dalle2-priced",
                    "litellm_params": {
                        "model": "openai/dall-e-2",
                        "api_key": "sk-oa",
                        "api_base": f"{base}/dalle2/v1",
                    },
                    "model_info": {"output_cost_per_image": 0.04},
                },
                {
                    "model_name": "nano-banana",
                    "litellm_params": {
                        "model": f"openrouter/{OR_MODEL}",
                        "api_key": "ok",
                        "api_base": f"{base}/openrouter/api/v1",
                    },
                },
            ],
            "general_settings": {"spend_flush_interval": 0.05},
        }
    )
    with openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, max_retries=0) as c:
        yield c


def nova(r: Received) -> Any:
    count = r.json().get("imageGenerationConfig", {}).get("numberOfImages", 1)
    return {"images": [PNG] * count}


def sd3(r: Received) -> Any:
    return {"seeds": [1], "finish_reasons": [None], "images": [PNG]}


def recraft(r: Received) -> Any:
    n = r.json().get("n", 1)
    return {
        "created": 1,
        "credits": 40 * n,
        "data": [{"image_id": f"id-{i}", "b64_json": PNG} for i in range(n)],
    }


def dalle2(r: Received) -> Any:
    return {"created": 1, "data": [{"b64_json": PNG}] * r.json().get("n", 1)}


def openrouter(r: Received) -> Any:
    return {
        "id": "gen-1",
        "object": "chat.completion",
        "created": 1,
        "model": OR_MODEL,
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {
                    "role": "assistant",
                    "content": "",
                    "images": [
                        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}
                    ],
                },
            }
        ],
        "usage": {
            "prompt_tokens": 6,
            "completion_tokens": 1299,
            "total_tokens": 1305,
            "completion_tokens_details": {"image_tokens": 1290},
            "cost": 0.0387,
        },
    }


@pytest.fixture(autouse=True)
def _routes(fake: FakeUpstream) -> None:
    fake.route("POST", "/model/amazon.nova-canvas-v1:0/invoke", nova)
    fake.route("POST", "/model/stability.sd3-5-large-v1:0/invoke", sd3)
    fake.route("POST", "/recraft/v1/images/generations", recraft)
    fake.route("POST", "/openrouter/api/v1/chat/completions", openrouter)
    fake.route("POST", "/dalle2/v1/images/generations", dalle2)


@pytest.mark.parametrize(
    ("model", "kwargs", "cost"),
    [
        ("nova", {"n": 2, "size": "1024x1024", "quality": "hd"}, "0.12"),  # premium, 2 x $0.06
        ("nova", {"size": "2048x1024"}, "0.06"),  # standard above 1024x1024
        ("sd3", {}, "0.08"),
        ("recraft", {"n": 2, "size": "1024x1024"}, "0.08"),
        ("nano-banana", {"n": 2}, "0.0774"),  # OpenRouter's own usage.cost, summed over fan-out
    ],
)
def test_cost_header_per_family(
    client: openai.OpenAI, model: str, kwargs: dict[str, Any], cost: str
) -> None:
    r = client.images.with_raw_response.generate(model=model, prompt="a lighthouse", **kwargs)
    assert r.headers["x-response-cost"] == cost


@pytest.mark.parametrize("size", ["1024x1024", "256x256"])
def test_a_declared_price_wins_over_the_tables_per_size_rule(
    client: openai.OpenAI, size: Any
) -> None:
    """dall-e-2 is $0.02 (1024x1024) or $0.016 (256x256) in the table; the deployment's
    model_info says $0.04 per image: the header and the spend record say 0.04 x n."""
    r = client.images.with_raw_response.generate(
        model="dalle2-priced", prompt="a lighthouse", n=3, size=size
    )
    assert r.headers["x-response-cost"] == "0.12"
    request_id = r.headers["x-request-id"]
    admin_url = str(client.base_url).removesuffix("/v1/")
    with httpx.Client(base_url=admin_url, headers={"authorization": f"Bearer {MASTER_KEY}"}) as a:
        logs = a.get("/spend/logs", params={"model": "dalle2-priced", "page_size": 100}).json()
    [record] = [x for x in logs["data"] if x["request_id"] == request_id]
    assert record["cost"] == pytest.approx(0.12) and record["images"] == 3
    assert record["cost_basis"] == "per_image"
