"""Bedrock wire checks against botocore itself (independent review of issue 4).

Every request the proxy sends is checked twice: by the spec-written verifier in
``tests.fakes.aws`` and by botocore's own ``SigV4Auth`` recomputing the signature from what
the fake received (the signed headers as they arrived, the raw path, the body bytes, the
``x-amz-date``). The URL path and the signed-header list are also compared with the request
boto3's ``bedrock-runtime`` client builds for the same model id, so a fake that follows AWS
or botocore (whichever it trusts) accepts what the proxy sends.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import unquote, urlsplit

import openai
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSPreparedRequest, AWSRequest
from botocore.credentials import Credentials
from botocore.session import Session
from starlette.responses import Response

from tests.conftest import MASTER_KEY
from tests.fakes.aws import Key, SigV4Verifier, aws_error
from tests.fakes.server import FakeUpstream, Received

AKID, SECRET = "AKIDWIRECHECK000001", "wire-secret-1"
TEMP_AKID, TEMP = "ASIAWIRECHECK000001", Key("wire-temp-secret-2", "wire-session-token-2")
KEYS = {AKID: Key(SECRET), TEMP_AKID: TEMP}
REGION = "us-east-1"
PROFILE_ARN = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-canvas-v1:0"
APP_PROFILE_ARN = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3"
_AUTH = re.compile(r"Credential=([^/]+)/[^,]+, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})")

# deployment name -> (model after bedrock/, extra litellm_params, id expected in the URL)
DEPLOYMENTS: dict[str, tuple[str, dict[str, Any], str]] = {
    "nova": ("amazon.nova-canvas-v1:0", {}, "amazon.nova-canvas-v1:0"),
    "nova-us": ("us.amazon.nova-canvas-v1:0", {}, "us.amazon.nova-canvas-v1:0"),
    "nova-eu": ("eu.amazon.nova-canvas-v1:0", {}, "eu.amazon.nova-canvas-v1:0"),
    "nova-apac": ("apac.amazon.nova-canvas-v1:0", {}, "apac.amazon.nova-canvas-v1:0"),
    "nova-global": ("global.amazon.nova-canvas-v1:0", {}, "global.amazon.nova-canvas-v1:0"),
    "nova-arn": (PROFILE_ARN, {}, PROFILE_ARN),
    "nova-app-profile": ("amazon.nova-canvas-v1:0", {"model_id": APP_PROFILE_ARN}, APP_PROFILE_ARN),
    "titan-temp": (
        "amazon.titan-image-generator-v1",
        {
            "aws_access_key_id": TEMP_AKID,
            "aws_secret_access_key": TEMP.secret,
            "aws_session_token": TEMP.token,
        },
        "amazon.titan-image-generator-v1",
    ),
    "ultra-us": (
        "us.stability.stable-image-ultra-v1:1",
        {},
        "us.stability.stable-image-ultra-v1:1",
    ),
    "sdxl": ("stability.stable-diffusion-xl-v1", {}, "stability.stable-diffusion-xl-v1"),
}


def png(tag: str) -> str:
    return base64.b64encode(b"\x89PNG\r\n\x1a\n" + tag.encode()).decode()


def botocore_signature(rec: Received) -> str:
    """The signature botocore computes for the request as it was received."""
    found = _AUTH.search(rec.headers["authorization"])
    assert found, rec.headers["authorization"]
    access_key, signed = found[1], found[2].split(";")
    key = KEYS[access_key]
    query = f"?{rec.raw_query}" if rec.raw_query else ""
    aws = AWSRequest(
        method=rec.method,
        url=f"http://{rec.headers['host']}{rec.raw_path}{query}",
        data=rec.body,
        headers={h: rec.headers[h] for h in signed},
    )
    aws.context["timestamp"] = rec.headers["x-amz-date"]
    auth = SigV4Auth(Credentials(access_key, key.secret, key.token), "bedrock", REGION)
    return str(auth.signature(auth.string_to_sign(aws, auth.canonical_request(aws)), aws))


def sent_signature(rec: Received) -> str:
    found = _AUTH.search(rec.headers["authorization"])
    assert found
    return found[3]


class _Captured(Exception):
    def __init__(self, request: AWSPreparedRequest) -> None:
        self.request = request


def boto3_request(model_id: str, base: str, token: str | None = None) -> AWSPreparedRequest:
    """The request boto3's ``invoke_model`` would send (captured before it leaves)."""
    client = Session().create_client(
        "bedrock-runtime",
        region_name=REGION,
        endpoint_url=base,
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        aws_session_token=token,
    )

    def capture(request: AWSPreparedRequest, **_: Any) -> None:
        raise _Captured(request)

    client.meta.events.register("before-send", capture)
    try:
        client.invoke_model(
            modelId=model_id, body=b"{}", contentType="application/json", accept="application/json"
        )
    except _Captured as sent:
        return sent.request
    raise AssertionError("boto3 sent nothing")


def header(request: AWSPreparedRequest, name: str) -> str:
    value = request.headers[name]
    return value.decode() if isinstance(value, bytes) else str(value)


INPUT_BLOCKED = (
    "This request has been blocked by our content filters. Please adjust your "
    "text prompt to submit a new request."
)
OUTPUT_BLOCKED = "All of the generated images have been blocked by our content filters."


def answer(model_id: str, body: dict[str, Any]) -> dict[str, Any] | Response:
    """Each family's documented answer; the prompt picks a refusal shape."""
    prompt = str(
        body.get("prompt")
        or body.get("textToImageParams", {}).get("text")
        or body.get("text_prompts", [{}])[0].get("text")
    )
    if "blocked-input" in prompt:
        return aws_error("ValidationException", INPUT_BLOCKED, 400)
    if "titan" in model_id or "nova" in model_id or "a1b2c3" in model_id:
        if "blocked-output" in prompt:  # RAI output deflection: HTTP 200 with `error`
            return {"images": [], "error": OUTPUT_BLOCKED}
        count = body["imageGenerationConfig"]["numberOfImages"]
        return {"images": [png(f"canvas-{i}") for i in range(count)]}
    if "stable-diffusion-xl" in model_id:
        reason = "CONTENT_FILTERED" if "blocked-output" in prompt else "SUCCESS"
        return {
            "result": "success",
            "artifacts": [{"seed": 7, "base64": png("sdxl"), "finishReason": reason}],
        }
    if "blocked-output" in prompt:  # AWS's documented filtered answer: no `images` at all
        return {"finish_reasons": ["Filter reason: output image"]}
    return {"seeds": [3], "finish_reasons": [None], "images": [png("v3")]}


@pytest.fixture(scope="module")
def proxy(proxy_factory: Any, upstream: FakeUpstream) -> Any:
    common = {
        "aws_access_key_id": AKID,
        "aws_secret_access_key": SECRET,
        "aws_region_name": REGION,
        "api_base": upstream.base,
    }
    model_list = [
        {"model_name": name, "litellm_params": {"model": f"bedrock/{model}", **common, **extra}}
        for name, (model, extra, _) in DEPLOYMENTS.items()
    ]
    router = {"num_retries": 1, "retry_backoff_base": 0, "retry_backoff_max": 0}
    return proxy_factory(
        {"model_list": model_list, "router_settings": router},
        env={"AWS_EC2_METADATA_DISABLED": "true"},
    )


@pytest.fixture
def client(proxy: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, max_retries=0)


@pytest.fixture
def bedrock(fake: FakeUpstream) -> list[Received]:
    """A fake Bedrock runtime: spec verifier + botocore recomputation, or AWS's 403."""
    verifier = SigV4Verifier(region=REGION, service="bedrock", keys=KEYS)
    calls: list[Received] = []

    def handler(rec: Received) -> Response | dict[str, Any]:
        problem = verifier.problem(rec)
        if problem is None and botocore_signature(rec) != sent_signature(rec):
            problem = "botocore computes a different signature"
        if problem:
            return aws_error("InvalidSignatureException", problem, 403)
        segments = rec.raw_path.split("/")
        if len(segments) != 4 or segments[3] != "invoke":
            return aws_error("UnknownOperationException", rec.raw_path, 404)
        calls.append(rec)
        return answer(unquote(segments[2]), rec.json())

    fake.route("POST", "/model/*", handler)
    return calls


@pytest.mark.parametrize("name", list(DEPLOYMENTS))
def test_request_is_what_boto3_sends(
    client: openai.OpenAI, bedrock: list[Received], upstream: FakeUpstream, name: str
) -> None:
    model_id = DEPLOYMENTS[name][2]
    result = client.images.generate(model=name, prompt="a lighthouse at dawn")
    assert result.data and result.data[0].b64_json
    (rec,) = bedrock
    token = TEMP.token if name == "titan-temp" else None
    boto = boto3_request(model_id, upstream.base, token)
    assert rec.raw_path == urlsplit(boto.url).path
    assert unquote(rec.raw_path.split("/")[2]) == model_id
    ours = _AUTH.search(rec.headers["authorization"])
    theirs = _AUTH.search(header(boto, "Authorization"))
    assert ours and theirs
    assert ours[2] == theirs[2]  # accept;content-type;host;x-amz-date[;x-amz-security-token]
    assert rec.headers["content-type"] == header(boto, "Content-Type") == "application/json"
    assert rec.headers["accept"] == "application/json"
    if token:
        assert rec.headers["x-amz-security-token"] == token


def test_non_ascii_prompt_is_signed_over_the_exact_bytes(
    client: openai.OpenAI, bedrock: list[Received]
) -> None:
    client.images.generate(model="nova", prompt="un café à Tōkyō — 東京の灯台")
    (rec,) = bedrock
    assert rec.json()["textToImageParams"]["text"] == "un café à Tōkyō — 東京の灯台"


@pytest.mark.parametrize("name", ["nova", "titan-temp", "ultra-us", "sdxl"])
@pytest.mark.parametrize("prompt", ["blocked-input", "blocked-output"])
def test_content_filter_refusal_in_every_shape(
    client: openai.OpenAI, bedrock: list[Received], name: str, prompt: str
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(model=name, prompt=f"a {prompt} scene")
    assert info.value.code == "content_policy_violation"
    assert "base64" not in info.value.message and png("sdxl") not in info.value.message
    assert len(bedrock) == 1  # a refusal is final: never retried


def test_throttled_call_is_retried_and_signed_afresh(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    """One ThrottlingException, then success: the retry carries its own valid signature."""
    verifier = SigV4Verifier(region=REGION, service="bedrock", keys=KEYS)
    seen: list[Received] = []

    def handler(rec: Received) -> Response | dict[str, Any]:
        seen.append(rec)
        assert verifier.problem(rec) is None
        assert botocore_signature(rec) == sent_signature(rec)
        if len(seen) == 1:
            return aws_error(
                "ThrottlingException", "Too many requests, please wait before trying again.", 429
            )
        return answer("amazon.nova-canvas-v1:0", rec.json())

    fake.route("POST", "/model/*", handler)
    result = client.images.generate(model="nova", prompt="a lighthouse", n=2)
    assert result.data is not None and len(result.data) == 2
    assert len(seen) == 2 and seen[0].body == seen[1].body


@pytest.mark.parametrize(
    ("code", "body", "status", "sdk_error"),
    [
        ("ThrottlingException", {"message": "Too many requests"}, 429, openai.RateLimitError),
        ("ServiceQuotaExceededException", {"message": "quota"}, 400, openai.RateLimitError),
        (
            "ValidationException",
            {"Message": "Malformed input request: 1 schema violations"},
            400,
            openai.BadRequestError,
        ),
        ("ModelTimeoutException", {"message": "Model has timed out"}, 408, openai.APIStatusError),
        (
            "ServiceUnavailableException",
            {"Message": "Service Unavailable"},
            503,
            openai.InternalServerError,
        ),
        (
            "ModelNotReadyException",
            {"message": "Model is not ready"},
            429,
            openai.InternalServerError,
        ),
        (
            "AccessDeniedException",
            {"Message": "You don't have access to the model"},
            403,
            openai.APIStatusError,
        ),
    ],
)
def test_error_classes_through_the_sdk(
    client: openai.OpenAI,
    fake: FakeUpstream,
    code: str,
    body: dict[str, str],
    status: int,
    sdk_error: type[Exception],
) -> None:
    fake.route(
        "POST",
        "/model/*",
        lambda rec: Response(
            json.dumps(body),
            status,
            {"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazon.bedrock/"},
            media_type="application/json",
        ),
    )
    with pytest.raises(sdk_error) as info:
        client.images.generate(model="nova", prompt="a lighthouse")
    error = info.value
    assert isinstance(error, openai.APIStatusError)
    assert error.status_code == EXPECTED_STATUS[code]
    assert next(iter(body.values())) in error.message


EXPECTED_STATUS = {
    "ThrottlingException": 429,
    "ServiceQuotaExceededException": 429,
    "ValidationException": 400,
    "ModelTimeoutException": 504,
    "ServiceUnavailableException": 503,
    "ModelNotReadyException": 503,
    "AccessDeniedException": 502,
}
