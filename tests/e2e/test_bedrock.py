"""AWS Bedrock end to end through the official OpenAI SDK, against a fake Bedrock runtime
that verifies every request's SigV4 signature (independently of botocore) and speaks each
model family's real wire format, and a fake STS for role assumption."""

from __future__ import annotations

import base64
from typing import Any

import openai
import pytest
from starlette.responses import Response

from tests.conftest import MASTER_KEY
from tests.fakes.aws import Answer, FakeBedrock, FakeSTS, Key, SigV4Verifier, aws_error
from tests.fakes.server import FakeUpstream, Received

AKID, SECRET = "AKIDBEDROCKE2E00001", "bedrock-e2e-secret-1"
TEMP_AKID, TEMP_KEY = "ASIATEMPE2E00000001", Key("temp-secret-2", "temp-token-2")
ROLE_AKID, ROLE_KEY = "ASIAROLEE2E00000001", Key("role-secret-3", "role-token-3")
PROFILE_AKID, PROFILE_SECRET = "AKIDPROFILEE2E00001", "profile-secret-4"
API_KEY = "bedrock-api-key-e2e-5"
ROLE_ARN = "arn:aws:iam::123456789012:role/bedrock-images"
KEYS = {
    AKID: Key(SECRET),
    TEMP_AKID: TEMP_KEY,
    ROLE_AKID: ROLE_KEY,
    PROFILE_AKID: Key(PROFILE_SECRET),
}

SDXL = "stability.stable-diffusion-xl-v1"
SD35 = "stability.sd3-5-large-v1:0"
CORE = "stability.stable-image-core-v1:1"
TITAN = "amazon.titan-image-generator-v2:0"
NOVA = "amazon.nova-canvas-v1:0"
NOVA_US = "us.amazon.nova-canvas-v1:0"


def png(tag: str) -> str:
    return base64.b64encode(b"\x89PNG\r\n\x1a\n" + tag.encode()).decode()


@pytest.fixture(scope="module")
def proxy(
    proxy_factory: Any, upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    base = upstream.base
    aws = tmp_path_factory.mktemp("aws")
    (aws / "credentials").write_text(
        f"[images]\naws_access_key_id = {PROFILE_AKID}\naws_secret_access_key = {PROFILE_SECRET}\n"
    )
    keys = {
        "aws_access_key_id": AKID,
        "aws_secret_access_key": SECRET,
        "aws_region_name": "us-east-1",
        "api_base": base,
    }

    def entry(name: str, model: str, **params: Any) -> dict[str, Any]:
        return {
            "model_name": name,
            "litellm_params": {"model": f"bedrock/{model}", **{**keys, **params}},
        }

    config = {
        "model_list": [
            entry("sdxl", SDXL),
            entry("sd35", SD35),
            entry("core", CORE),
            entry(
                "titan",
                TITAN,
                aws_access_key_id=TEMP_AKID,
                aws_secret_access_key=TEMP_KEY.secret,
                aws_session_token=TEMP_KEY.token,
            ),
            entry("nova", NOVA),
            entry(
                "nova-us",
                NOVA_US,
                api_base=None,
                aws_region_name="us-west-2",
                aws_bedrock_runtime_endpoint=base,
            ),
            entry(
                "nova-role",
                NOVA,
                aws_role_name=ROLE_ARN,
                aws_session_name="e2e",
                aws_sts_endpoint=f"{base}/sts",
            ),
            entry(
                "nova-key",
                NOVA,
                aws_access_key_id=None,
                aws_secret_access_key=None,
                api_key=API_KEY,
            ),
            entry(
                "nova-profile",
                NOVA,
                aws_access_key_id=None,
                aws_secret_access_key=None,
                aws_profile_name="images",
            ),
            entry("nova-badkey", NOVA, aws_secret_access_key="not-the-secret"),
        ]
    }
    env = {
        "AWS_SHARED_CREDENTIALS_FILE": str(aws / "credentials"),
        "AWS_CONFIG_FILE": str(aws / "config-absent"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    return proxy_factory(config, env=env)


@pytest.fixture
def client(proxy: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, max_retries=0)


@pytest.fixture
def bedrock(fake: FakeUpstream) -> FakeBedrock:
    return FakeBedrock(fake, KEYS, API_KEY)


def invalid(message: str) -> Response:
    return aws_error("ValidationException", message, 400)


def sdxl_answer(rec: Received, body: dict[str, Any]) -> Response | dict[str, Any]:
    if not isinstance(body.get("text_prompts"), list) or "prompt" in body:
        return invalid("Malformed input request: #: required key [text_prompts] not found")
    return {
        "result": "success",
        "artifacts": [{"seed": 1, "base64": png("sdxl"), "finishReason": "SUCCESS"}],
    }


def stability3_answer(rec: Received, body: dict[str, Any]) -> Response | dict[str, Any]:
    extraneous = {"width", "height", "n", "size", "samples", "text_prompts"} & set(body)
    if extraneous or not body.get("prompt"):
        return invalid(f"Malformed input request: extraneous key {sorted(extraneous)}")
    if "forbidden" in body["prompt"]:
        return {"seeds": [3], "finish_reasons": ["Filter reason: prompt"], "images": []}
    return {"seeds": [3], "finish_reasons": [None], "images": [png("sd3")]}


def canvas_answer(rec: Received, body: dict[str, Any]) -> Response | dict[str, Any]:
    if body.get("taskType") != "TEXT_IMAGE" or not body.get("textToImageParams", {}).get("text"):
        return invalid("Malformed input request: taskType / textToImageParams.text")
    if "forbidden" in body["textToImageParams"]["text"]:
        return invalid("This request has been blocked by our content filters.")
    count = body.get("imageGenerationConfig", {}).get("numberOfImages", 1)
    return {"images": [png(f"canvas-{i}") for i in range(count)]}


@pytest.mark.parametrize(
    ("name", "model", "answer", "calls"),
    [
        ("sdxl", SDXL, sdxl_answer, 2),
        ("sd35", SD35, stability3_answer, 2),
        ("core", CORE, stability3_answer, 2),
        ("titan", TITAN, canvas_answer, 1),
        ("nova", NOVA, canvas_answer, 1),
    ],
)
def test_each_family_with_n_2(
    client: openai.OpenAI, bedrock: FakeBedrock, name: str, model: str, answer: Answer, calls: int
) -> None:
    bedrock.model(model, answer)
    result = client.images.generate(
        model=name, prompt="a lighthouse at dawn", n=2, size="1024x1024"
    )
    assert result.data is not None and len(result.data) == 2
    assert all(base64.b64decode(d.b64_json or "").startswith(b"\x89PNG") for d in result.data)
    assert len(bedrock.calls) == calls


def test_family_mapping_reaches_the_wire(client: openai.OpenAI, bedrock: FakeBedrock) -> None:
    bedrock.model(NOVA, canvas_answer)
    bedrock.model(SD35, stability3_answer)
    bedrock.model(SDXL, sdxl_answer)
    client.images.generate(
        model="nova",
        prompt="a red fox",
        n=3,
        size="1280x720",
        quality="hd",  # a Bedrock style, outside the SDK's Literal: sent raw
        extra_body={"style": "PHOTOREALISM", "negativeText": "people", "seed": 12},
    )
    client.images.generate(
        model="sd35",
        prompt="a red fox",
        size="1536x1024",
        output_format="jpeg",
        extra_body={"negative_prompt": "fog"},
    )
    client.images.generate(
        model="sdxl",
        prompt="a red fox",
        size="1344x768",
        extra_body={"cfg_scale": 9, "style_preset": "photographic"},
    )
    nova, sd35, sdxl = (c.json() for c in bedrock.calls)
    assert nova == {
        "taskType": "TEXT_IMAGE",
        "textToImageParams": {
            "text": "a red fox",
            "negativeText": "people",
            "style": "PHOTOREALISM",
        },
        "imageGenerationConfig": {
            "numberOfImages": 3,
            "width": 1280,
            "height": 720,
            "quality": "premium",
            "seed": 12,
        },
    }
    assert sd35 == {
        "prompt": "a red fox",
        "aspect_ratio": "3:2",
        "output_format": "jpeg",
        "negative_prompt": "fog",
    }
    assert sdxl == {
        "text_prompts": [{"text": "a red fox", "weight": 1.0}],
        "width": 1344,
        "height": 768,
        "samples": 1,
        "cfg_scale": 9,
        "style_preset": "photographic",
    }


def test_inference_profile_id(client: openai.OpenAI, bedrock: FakeBedrock) -> None:
    bedrock.model(NOVA_US, canvas_answer, region="us-west-2")
    result = client.images.generate(model="nova-us", prompt="a lighthouse", n=1)
    assert result.data is not None and len(result.data) == 1
    (call,) = bedrock.calls
    assert call.raw_path == "/model/us.amazon.nova-canvas-v1%3A0/invoke"
    assert "/us-west-2/bedrock/aws4_request" in call.headers["authorization"]


def test_temporary_credentials_send_the_session_token(
    client: openai.OpenAI, bedrock: FakeBedrock
) -> None:
    bedrock.model(TITAN, canvas_answer)
    client.images.generate(model="titan", prompt="a lighthouse")
    (call,) = bedrock.calls
    assert call.headers["x-amz-security-token"] == TEMP_KEY.token
    assert f"Credential={TEMP_AKID}/" in call.headers["authorization"]


def test_throttled(client: openai.OpenAI, bedrock: FakeBedrock) -> None:
    bedrock.model(
        NOVA,
        lambda rec, body: aws_error(
            "ThrottlingException", "Too many requests, please wait before trying again.", 429
        ),
    )
    with pytest.raises(openai.RateLimitError) as info:
        client.images.generate(model="nova", prompt="a lighthouse")
    assert info.value.status_code == 429
    assert "Too many requests" in info.value.message


@pytest.mark.parametrize("name", ["nova", "sd35"])
def test_content_filter_refusal(client: openai.OpenAI, bedrock: FakeBedrock, name: str) -> None:
    bedrock.model(NOVA, canvas_answer)
    bedrock.model(SD35, stability3_answer)
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(model=name, prompt="something forbidden")
    assert info.value.code == "content_policy_violation"
    assert len(bedrock.calls) == 1


def test_unhonourable_size_is_refused_before_any_call(
    client: openai.OpenAI, bedrock: FakeBedrock
) -> None:
    bedrock.model(SDXL, sdxl_answer)
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(model="sdxl", prompt="a lighthouse", size="1792x1024")
    assert "1344x768" in info.value.message and info.value.param == "size"
    assert bedrock.calls == []


def test_role_assumed_once_through_sts(
    client: openai.OpenAI, bedrock: FakeBedrock, fake: FakeUpstream
) -> None:
    sts = FakeSTS(
        SigV4Verifier(region="us-east-1", service="sts", keys={AKID: Key(SECRET)}),
        issued=ROLE_KEY,
        issued_key_id=ROLE_AKID,
    )
    fake.route("POST", "/sts*", sts)
    bedrock.model(NOVA, canvas_answer)
    for _ in range(3):
        client.images.generate(model="nova-role", prompt="a lighthouse")
    assert len(sts.calls) == 1
    assert sts.calls[0]["RoleArn"] == [ROLE_ARN]
    assert sts.calls[0]["RoleSessionName"] == ["e2e"]
    assert len(bedrock.calls) == 3
    for call in bedrock.calls:
        assert f"Credential={ROLE_AKID}/" in call.headers["authorization"]
        assert call.headers["x-amz-security-token"] == ROLE_KEY.token


def test_bedrock_api_key_is_a_bearer_token(client: openai.OpenAI, bedrock: FakeBedrock) -> None:
    bedrock.model(NOVA, canvas_answer)
    client.images.generate(model="nova-key", prompt="a lighthouse")
    (call,) = bedrock.calls
    assert call.headers["authorization"] == f"Bearer {API_KEY}"
    assert "x-amz-date" not in call.headers


def test_profile_credentials(client: openai.OpenAI, bedrock: FakeBedrock) -> None:
    bedrock.model(NOVA, canvas_answer)
    client.images.generate(model="nova-profile", prompt="a lighthouse")
    (call,) = bedrock.calls
    assert f"Credential={PROFILE_AKID}/" in call.headers["authorization"]


def test_wrong_secret_is_rejected_by_the_fake(client: openai.OpenAI, bedrock: FakeBedrock) -> None:
    bedrock.model(NOVA, canvas_answer)
    with pytest.raises(openai.APIStatusError) as info:
        client.images.generate(model="nova-badkey", prompt="a lighthouse")
    assert info.value.status_code == 502
    assert "signature mismatch" in info.value.message
    assert "not-the-secret" not in info.value.message
    assert bedrock.calls == []


def test_streaming_is_refused(client: openai.OpenAI, bedrock: FakeBedrock) -> None:
    with pytest.raises(openai.BadRequestError):
        client.images.generate(model="nova", prompt="a lighthouse", stream=True)
