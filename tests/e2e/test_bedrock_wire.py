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
PROFILE_ARN = ("arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
               "us.amazon.nova-canvas-v1:0")
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
    "nova-app-profile": ("amazon.nova-canvas-v1:0", {"model_id": APP_PROFILE_ARN},
                         APP_PROFILE_ARN),
    "titan-temp": ("amazon.titan-image-generator-v1", {
        "aws_access_key_id": TEMP_AKID, "aws_secret_access_key": TEMP.secret,
        "aws_session_token": TEMP.token}, "amazon.titan-image-generator-v1"),
    "ultra-us": ("us.stability.stable-image-ultra-v1:1", {}, "us.stability.stable-image-ultra-v1:1"),
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
    aws = AWSRequest(method=rec.method, url=f"http://{rec.headers['host']}{rec.raw_path}{query}",
                     data=rec.body, headers={h: rec.headers[h] for h in signed})
    aws.context["timestamp"] = rec.headers["x-amz-date"]
    auth = SigV4Auth(Credentials(access_key, key.secret, key.token), "bedrock", REGION)
    return str(auth.signature(auth.string_to_sign(aws, auth.canonical_request(aws)), aws))


class _Captured(Exception):
    def __init__(self, request: AWSPreparedRequest) -> None:
        self.request = request


def boto3_request(model_id: str, base: str, token: str | None = None) -> AWSPreparedRequest:
    """The request boto3's ``invoke_model`` would send (captured before it leaves)."""
    client = Session().create_client(
        "bedrock-runtime", region_name=REGION, endpoint_url=base,
        aws_access_key_id=AKID, aws_secret_access_key=SECRET, aws_session_token=token)

    def capture(request: AWSPreparedRequest, **_: Any) -> None:
        raise _Captured(request)

    client.meta.events.register("before-send", capture)
    try:
        client.invoke_model(modelId=model_id, body=b"{}", contentType="application/json",
                            accept="application/json")
    except _Captured as sent:
        return sent.request
    raise AssertionError("boto3 sent nothing")


def header(request: AWSPreparedRequest, name: str) -> str:
    value = request.headers[name]
    return value.decode() if isinstance(value, bytes) else str(value)


def answer(model_id: str, body: dict[str, Any]) -> dict[str, Any] | Response:
    if "titan" in model_id or "nova" in model_id or "a1b2c3" in model_id:
        count = body["imageGenerationConfig"]["numberOfImages"]
        return {"images": [png(f"canvas-{i}") for i in range(count)]}
    if "stable-diffusion-xl" in model_id:
        return {"result": "success",
                "artifacts": [{"seed": 7, "base64": png("sdxl"), "finishReason": "SUCCESS"}]}
    return {"seeds": [3], "finish_reasons": [None], "images": [png("v3")]}


@pytest.fixture(scope="module")
def proxy(proxy_factory: Any, upstream: FakeUpstream) -> Any:
    common = {"aws_access_key_id": AKID, "aws_secret_access_key": SECRET,
              "aws_region_name": REGION, "api_base": upstream.base}
    model_list = [{"model_name": name,
                   "litellm_params": {"model": f"bedrock/{model}", **common, **extra}}
                  for name, (model, extra, _) in DEPLOYMENTS.items()]
    return proxy_factory({"model_list": model_list},
                         env={"AWS_EC2_METADATA_DISABLED": "true"})


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
        if problem is None and botocore_signature(rec) != _AUTH.search(
                rec.headers["authorization"])[3]:  # type: ignore[index]
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
def test_request_is_what_boto3_sends(client: openai.OpenAI, bedrock: list[Received],
                                     upstream: FakeUpstream, name: str) -> None:
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


def test_non_ascii_prompt_is_signed_over_the_exact_bytes(client: openai.OpenAI,
                                                         bedrock: list[Received]) -> None:
    client.images.generate(model="nova", prompt="un café à Tōkyō — 東京の灯台")
    (rec,) = bedrock
    assert rec.json()["textToImageParams"]["text"] == "un café à Tōkyō — 東京の灯台"
