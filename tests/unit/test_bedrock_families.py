"""Bedrock family mapping: OpenAI parameters -> each family's native body, answers -> images,
refusals with a 400 naming what the family accepts. Table-driven, no network."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from proxy.config import ConfigError, Deployment
from proxy.configure import parse_config
from proxy.errors import ContentPolicyError, InvalidRequestError, ProxyError, UpstreamError
from proxy.providers.bedrock.families import NOVA, SDXL, STABILITY_V3, TITAN, family_of
from proxy.providers.bedrock.images import BedrockImages
from proxy.providers.bedrock.stability_edits import CONTROL_SKETCH, INPAINT, OUTPAINT
from proxy.schemas import ImageRequest
from proxy.upstream_request import UpstreamResponse

ADAPTER = BedrockImages()


def deployment(model: str, **params: Any) -> Deployment:
    params.setdefault("aws_region_name", "us-east-1")
    config = parse_config(
        {
            "model_list": [
                {"model_name": "m", "litellm_params": {"model": f"bedrock/{model}", **params}}
            ]
        },
        env={},
    )
    return config.deployments[0]


def request(**body: Any) -> ImageRequest:
    return ImageRequest.from_body({"model": "m", "prompt": "a lighthouse at dawn", **body})


def bodies(model: str, **body: Any) -> list[dict[str, Any]]:
    built = ADAPTER.build(request(**body), deployment(model))
    return [orjson.loads(r.body or b"") for r in built]


@pytest.mark.parametrize(
    ("model", "family"),
    [
        ("stability.stable-diffusion-xl-v1", SDXL),
        ("stability.sd3-large-v1:0", STABILITY_V3),
        ("stability.sd3-5-large-v1:0", STABILITY_V3),
        ("stability.stable-image-core-v1:1", STABILITY_V3),
        ("us.stability.stable-image-ultra-v1:1", STABILITY_V3),
        ("amazon.titan-image-generator-v1", TITAN),
        ("amazon.titan-image-generator-v2:0", TITAN),
        ("amazon.nova-canvas-v1:0", NOVA),
        ("us.amazon.nova-canvas-v1:0", NOVA),
        ("apac.amazon.nova-canvas-v1:0", NOVA),
        (
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-canvas-v1:0",
            NOVA,
        ),
        ("amazon.nova-lite-v1:0", None),
        ("stability.stable-image-control-sketch-v1:0", CONTROL_SKETCH),
        ("us.stability.stable-image-inpaint-v1:0", INPAINT),
        ("stability.stable-outpaint-v1:0", OUTPAINT),
    ],
)
def test_family_recognised_from_id(model: str, family: Any) -> None:
    assert family_of(model) is family


def test_a_chat_model_is_skipped_at_config_load() -> None:
    config = parse_config(
        {
            "model_list": [
                {"model_name": "m", "litellm_params": {"model": "bedrock/amazon.nova-lite-v1:0"}}
            ]
        },
        env={"AWS_REGION_NAME": "us-east-1"},
    )
    assert config.deployments == ()
    assert config.warnings == (
        "model_list[0]: skipped, bedrock/amazon.nova-lite-v1:0 is a chat model, and bedrock "
        "is served for images only",
    )


def test_missing_region_refused_at_config_load(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_REGION_NAME", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match="aws_region_name: required"):
        deployment("amazon.nova-canvas-v1:0", aws_region_name=None)


@pytest.mark.parametrize(
    ("model", "params", "url"),
    [
        (
            "amazon.nova-canvas-v1:0",
            {},
            "https://bedrock-runtime.us-east-1.amazonaws.com/model/amazon.nova-canvas-v1%3A0/invoke",
        ),
        (
            "us.amazon.nova-canvas-v1:0",
            {"aws_region_name": "us-west-2"},
            "https://bedrock-runtime.us-west-2.amazonaws.com/model/us.amazon.nova-canvas-v1%3A0/invoke",
        ),
        (
            "amazon.nova-canvas-v1:0",
            {"api_base": "http://127.0.0.1:9/br"},
            "http://127.0.0.1:9/br/model/amazon.nova-canvas-v1%3A0/invoke",
        ),
        (
            "amazon.nova-canvas-v1:0",
            {"aws_bedrock_runtime_endpoint": "https://vpce.example/"},
            "https://vpce.example/model/amazon.nova-canvas-v1%3A0/invoke",
        ),
        (
            "amazon.nova-canvas-v1:0",
            {
                "model_id": (
                    "arn:aws:bedrock:eu-west-1:1:inference-profile/eu.amazon.nova-canvas-v1:0"
                ),
                "aws_region_name": None,
            },
            "https://bedrock-runtime.eu-west-1.amazonaws.com/model/arn%3Aaws%3Abedrock%3Aeu-west-1"
            "%3A1%3Ainference-profile%2Feu.amazon.nova-canvas-v1%3A0/invoke",
        ),
    ],
)
def test_invoke_url(model: str, params: dict[str, Any], url: str) -> None:
    dep = deployment(model, **params)
    (built,) = ADAPTER.build(request(), dep)
    assert built.url == url and built.method == "POST"
    assert built.headers["content-type"] == "application/json"


# --- request mapping: (model, OpenAI body, expected native bodies) ------------------------

MAPPINGS: list[tuple[str, dict[str, Any], list[dict[str, Any]]]] = [
    (
        "stability.stable-diffusion-xl-v1",
        {},
        [{"text_prompts": [{"text": "a lighthouse at dawn", "weight": 1.0}], "samples": 1}],
    ),
    (
        "stability.stable-diffusion-xl-v1",
        {
            "n": 2,
            "size": "1344x768",
            "quality": "standard",
            "negative_prompt": "blurry",
            "cfg_scale": 9,
            "steps": 40,
            "style_preset": "photographic",
            "seed": 7,
        },
        [
            {
                "text_prompts": [
                    {"text": "a lighthouse at dawn", "weight": 1.0},
                    {"text": "blurry", "weight": -1.0},
                ],
                "width": 1344,
                "height": 768,
                "samples": 1,
                "cfg_scale": 9,
                "steps": 40,
                "style_preset": "photographic",
                "seed": 7,
            }
        ]
        * 2,
    ),
    (
        "stability.sd3-5-large-v1:0",
        {"size": "1536x1024", "output_format": "jpeg"},
        [{"prompt": "a lighthouse at dawn", "aspect_ratio": "3:2", "output_format": "jpeg"}],
    ),
    (
        "stability.stable-image-ultra-v1:1",
        {"n": 2, "size": "auto", "aspect_ratio": "21:9", "negative_prompt": "fog", "seed": 5},
        [
            {
                "prompt": "a lighthouse at dawn",
                "aspect_ratio": "21:9",
                "negative_prompt": "fog",
                "seed": 5,
            }
        ]
        * 2,
    ),
    (
        "stability.stable-image-core-v1:1",
        {"size": "1024x1024", "aspect_ratio": "1:1"},
        [{"prompt": "a lighthouse at dawn", "aspect_ratio": "1:1"}],
    ),
    (
        "amazon.titan-image-generator-v2:0",
        {"n": 3, "size": "1152x768", "quality": "hd"},
        [
            {
                "taskType": "TEXT_IMAGE",
                "textToImageParams": {"text": "a lighthouse at dawn"},
                "imageGenerationConfig": {
                    "numberOfImages": 3,
                    "width": 1152,
                    "height": 768,
                    "quality": "premium",
                },
            }
        ],
    ),
    (
        "amazon.titan-image-generator-v1",
        {"quality": "medium", "negativeText": "people", "cfgScale": 8.0, "seed": 42},
        [
            {
                "taskType": "TEXT_IMAGE",
                "textToImageParams": {"text": "a lighthouse at dawn", "negativeText": "people"},
                "imageGenerationConfig": {
                    "numberOfImages": 1,
                    "quality": "standard",
                    "cfgScale": 8.0,
                    "seed": 42,
                },
            }
        ],
    ),
    (
        "amazon.nova-canvas-v1:0",
        {
            "n": 2,
            "size": "1280x720",
            "quality": "standard",
            "style": "PHOTOREALISM",
            "negative_prompt": "people",
            "cfg_scale": 6.5,
        },
        [
            {
                "taskType": "TEXT_IMAGE",
                "textToImageParams": {
                    "text": "a lighthouse at dawn",
                    "negativeText": "people",
                    "style": "PHOTOREALISM",
                },
                "imageGenerationConfig": {
                    "numberOfImages": 2,
                    "width": 1280,
                    "height": 720,
                    "quality": "standard",
                    "cfgScale": 6.5,
                },
            }
        ],
    ),
    (
        "us.amazon.nova-canvas-v1:0",
        {
            "imageGenerationConfig": {"numberOfImages": 4, "seed": 9},
            "textToImageParams": {"controlMode": "CANNY_EDGE"},
        },
        [
            {
                "taskType": "TEXT_IMAGE",
                "textToImageParams": {"controlMode": "CANNY_EDGE", "text": "a lighthouse at dawn"},
                "imageGenerationConfig": {"numberOfImages": 4, "seed": 9},
            }
        ],
    ),
]


@pytest.mark.parametrize(("model", "body", "expected"), MAPPINGS)
def test_request_mapping(model: str, body: dict[str, Any], expected: list[dict[str, Any]]) -> None:
    assert bodies(model, **body) == expected


# --- refusals: (model, OpenAI body, param, words the message must contain) ---------------

REFUSALS: list[tuple[str, dict[str, Any], str, str]] = [
    ("stability.stable-diffusion-xl-v1", {"size": "1792x1024"}, "size", "1344x768"),
    ("stability.stable-diffusion-xl-v1", {"quality": "hd"}, "quality", "auto or standard"),
    ("stability.stable-diffusion-xl-v1", {"style": "vivid"}, "style", "native"),
    ("stability.sd3-large-v1:0", {"size": "1792x1024"}, "size", "16:9"),
    (
        "stability.sd3-large-v1:0",
        {"size": "1024x1024", "aspect_ratio": "16:9"},
        "aspect_ratio",
        "1:1",
    ),
    ("stability.sd3-large-v1:0", {"aspect_ratio": "7:3"}, "aspect_ratio", "21:9"),
    ("stability.sd3-large-v1:0", {"output_format": "webp"}, "output_format", "png or jpeg"),
    ("stability.sd3-large-v1:0", {"size": "big"}, "size", "ratio"),
    ("amazon.titan-image-generator-v2:0", {"size": "1536x1024"}, "size", "1173x640"),
    ("amazon.titan-image-generator-v2:0", {"style": "PHOTOREALISM"}, "style", "no style"),
    ("amazon.nova-canvas-v1:0", {"n": 6}, "n", "1 to 5"),
    ("stability.stable-diffusion-xl-v1", {"samples": 2}, "samples", "use n"),
    ("amazon.nova-canvas-v1:0", {"size": "1000x1000"}, "size", "multiples of 16"),
    ("amazon.nova-canvas-v1:0", {"size": "2048x2048"}, "size", "4,194,304"),
    ("amazon.nova-canvas-v1:0", {"size": "4096x512"}, "size", "1:4"),
    ("amazon.nova-canvas-v1:0", {"style": "vivid"}, "style", "PHOTOREALISM"),
    ("amazon.nova-canvas-v1:0", {"quality": "ultra"}, "quality", "premium"),
    ("amazon.nova-canvas-v1:0", {"taskType": "INPAINTING"}, "taskType", "TEXT_IMAGE"),
    (
        "amazon.nova-canvas-v1:0",
        {"n": 2, "imageGenerationConfig": {"numberOfImages": 3}},
        "n",
        "numberOfImages=3",
    ),
    ("amazon.nova-canvas-v1:0", {"background": "transparent"}, "background", "opaque"),
    ("amazon.nova-canvas-v1:0", {"moderation": "low"}, "moderation", "auto"),
    ("amazon.nova-canvas-v1:0", {"output_compression": 50}, "output_compression", "no"),
]


@pytest.mark.parametrize(("model", "body", "param", "words"), REFUSALS)
def test_refusals_name_what_the_family_accepts(
    model: str, body: dict[str, Any], param: str, words: str
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        bodies(model, **body)
    err = caught.value
    assert err.status == 400 and err.param == param
    assert words in err.message, err.message


# --- answers ------------------------------------------------------------------------------


def parse(model: str, payload: Any, **body: Any) -> Any:
    response = UpstreamResponse(200, {"content-type": "application/json"}, orjson.dumps(payload))
    return ADAPTER.parse(response, request(**body), deployment(model))


@pytest.mark.parametrize(
    ("model", "payload", "b64s"),
    [
        (
            "stability.stable-diffusion-xl-v1",
            {
                "result": "success",
                "artifacts": [{"seed": 1, "base64": "QUJD", "finishReason": "SUCCESS"}],
            },
            ["QUJD"],
        ),
        (
            "stability.stable-diffusion-xl-v1",
            {
                "artifacts": [
                    {"base64": "QUJD", "finishReason": "SUCCESS"},
                    {"base64": "Qkxy", "finishReason": "CONTENT_FILTERED"},
                ]
            },
            ["QUJD"],
        ),
        (
            "stability.sd3-large-v1:0",
            {"seeds": [2], "finish_reasons": [None], "images": ["REVG"]},
            ["REVG"],
        ),
        ("amazon.nova-canvas-v1:0", {"images": ["QQ==", "Qg=="]}, ["QQ==", "Qg=="]),
        ("amazon.titan-image-generator-v1", {"images": ["QQ=="], "error": None}, ["QQ=="]),
    ],
)
def test_answers(model: str, payload: Any, b64s: list[str]) -> None:
    result = parse(model, payload)
    assert [d["b64_json"] for d in result.data] == b64s


@pytest.mark.parametrize(
    ("model", "payload", "error"),
    [
        (
            "stability.stable-diffusion-xl-v1",
            {"artifacts": [{"base64": "Qkxy", "finishReason": "CONTENT_FILTERED"}]},
            ContentPolicyError,
        ),
        (
            "stability.stable-diffusion-xl-v1",
            {"artifacts": [{"finishReason": "ERROR"}]},
            UpstreamError,
        ),
        (
            "stability.sd3-large-v1:0",
            {"finish_reasons": ["Filter reason: prompt"]},
            ContentPolicyError,
        ),
        (
            "stability.stable-image-ultra-v1:1",
            {"finish_reasons": ["Filter reason: output image"], "images": []},
            ContentPolicyError,
        ),
        ("stability.sd3-large-v1:0", {"finish_reasons": ["Inference error"]}, UpstreamError),
        (
            "amazon.nova-canvas-v1:0",
            {"images": [], "error": "The generated image has been blocked by our content filters."},
            ContentPolicyError,
        ),
        ("amazon.nova-canvas-v1:0", {"images": []}, UpstreamError),
        ("amazon.titan-image-generator-v2:0", {"unexpected": True}, UpstreamError),
    ],
)
def test_filtered_or_empty_answers(model: str, payload: Any, error: type[ProxyError]) -> None:
    with pytest.raises(error) as caught:
        parse(model, payload)
    if error is ContentPolicyError:
        assert caught.value.status == 400
        assert caught.value.code == "content_policy_violation"


def test_sd3_reports_the_output_format_it_asked_for() -> None:
    result = parse(
        "stability.sd3-large-v1:0",
        {"images": ["QQ=="], "finish_reasons": [None]},
        output_format="jpeg",
    )
    assert result.extra == {"output_format": "jpeg"}
