"""AWS credentials: botocore's SigV4 checked by an independent verifier, the verifier's own
refusals, caching and off-loop refresh, STS role assumption, profiles, Bedrock API keys."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.credentials import ReadOnlyCredentials

from proxy.config import Deployment
from proxy.configure import parse_config
from proxy.credentials.aws import (
    AssumeRoleSource,
    Resolved,
    SessionSource,
    SigV4Credentials,
    StaticSource,
    sign,
)
from proxy.credentials.base import Credentials, HeaderKey
from proxy.errors import ProviderAuthError
from proxy.providers.registry import PROVIDERS
from proxy.upstream_request import UpstreamRequest
from tests.fakes.aws import FakeSTS, Key, SigV4Verifier
from tests.fakes.server import FakeUpstream, Received

URL = "https://bedrock-runtime.us-east-1.amazonaws.com/model/amazon.nova-canvas-v1%3A0/invoke"
AKID, SECRET = "AKIDEXAMPLE0000TEST", "test-secret-key-1"


def as_received(req: UpstreamRequest) -> Received:
    url = httpx.URL(req.url)
    headers = {k.lower(): v for k, v in req.headers.items()}
    headers["host"] = url.netloc.decode()
    return Received(
        method=req.method,
        path=url.path,
        query={},
        headers=headers,
        body=req.body or b"",
        raw_query=url.query.decode(),
        raw_path=url.raw_path.decode().split("?")[0],
    )


def new_request(url: str = URL) -> UpstreamRequest:
    return UpstreamRequest.post_json(
        url, {"taskType": "TEXT_IMAGE"}, {"accept": "application/json"}
    )


def verifier(**keys: Key) -> SigV4Verifier:
    return SigV4Verifier(region="us-east-1", service="bedrock", keys=keys or {AKID: Key(SECRET)})


def test_botocore_signature_passes_the_independent_verifier() -> None:
    req = new_request()
    sign(req, ReadOnlyCredentials(AKID, SECRET, None), "us-east-1")
    assert req.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={AKID}/")
    assert "/us-east-1/bedrock/aws4_request" in req.headers["authorization"]
    assert verifier().problem(as_received(req)) is None


def test_arn_model_id_path_is_double_encoded_in_the_signature() -> None:
    url = (
        "http://127.0.0.1:9/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3A"
        "inference-profile%2Fus.amazon.nova-canvas-v1%3A0/invoke"
    )
    req = new_request(url)
    sign(req, ReadOnlyCredentials(AKID, SECRET, None), "us-east-1")
    assert verifier().problem(as_received(req)) is None


def test_session_token_is_sent_and_signed() -> None:
    req = new_request()
    sign(req, ReadOnlyCredentials(AKID, SECRET, "tok-123"), "us-east-1")
    assert req.headers["x-amz-security-token"] == "tok-123"
    assert verifier(**{AKID: Key(SECRET, "tok-123")}).problem(as_received(req)) is None


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (lambda r: setattr(r, "body", b'{"taskType":"INPAINTING"}'), "signature mismatch"),
        (lambda r: r.headers.__setitem__("accept", "*/*"), "signature mismatch"),
        (lambda r: setattr(r, "url", r.url.replace("%3A", ":")), "signature mismatch"),
    ],
)
def test_verifier_rejects_tampering(tamper: Any, expected: str) -> None:
    req = new_request()
    sign(req, ReadOnlyCredentials(AKID, SECRET, None), "us-east-1")
    tamper(req)
    assert verifier().problem(as_received(req)) == expected


def test_verifier_rejects_wrong_service_region_secret_date_and_token() -> None:
    creds = ReadOnlyCredentials(AKID, SECRET, None)
    wrong_service = new_request()
    sign(wrong_service, creds, "us-east-1", service="bedrock-runtime")
    assert "service 'bedrock-runtime'" in str(verifier().problem(as_received(wrong_service)))
    wrong_region = new_request()
    sign(wrong_region, creds, "us-west-2")
    assert "region 'us-west-2'" in str(verifier().problem(as_received(wrong_region)))
    wrong_secret = new_request()
    sign(wrong_secret, ReadOnlyCredentials(AKID, "other-secret", None), "us-east-1")
    assert verifier().problem(as_received(wrong_secret)) == "signature mismatch"
    stale = new_request()
    sign(stale, creds, "us-east-1")
    later = verifier()
    later.now = lambda: datetime.now(UTC) + timedelta(minutes=16)
    assert "too far from now" in str(later.problem(as_received(stale)))
    needs_token = verifier(**{AKID: Key(SECRET, "tok")})
    assert "session token" in str(needs_token.problem(as_received(stale)))
    unknown = verifier(**{"AKIDOTHER": Key(SECRET)})
    assert "unknown access key" in str(unknown.problem(as_received(stale)))


class CountingSource:
    def __init__(self, lifetime: float | None) -> None:
        self.lifetime = lifetime
        self.calls = 0
        self.threads: set[int] = set()

    def resolve(self) -> Resolved:
        self.calls += 1
        self.threads.add(threading.get_ident())
        time.sleep(0.01)  # a slow refresh: concurrent callers must wait for this one
        refresh_at = time.time() + self.lifetime if self.lifetime is not None else None
        return Resolved(ReadOnlyCredentials(AKID, SECRET, None), refresh_at)


async def test_refresh_runs_off_the_loop_once_for_concurrent_requests() -> None:
    source = CountingSource(lifetime=3600)
    creds = SigV4Credentials(source, "us-east-1")
    requests = [new_request() for _ in range(8)]
    await asyncio.gather(*(creds.authorize(r) for r in requests))
    assert source.calls == 1
    assert threading.get_ident() not in source.threads
    assert all(verifier().problem(as_received(r)) is None for r in requests)
    await creds.authorize(new_request())
    assert source.calls == 1


async def test_expired_credentials_are_resolved_again() -> None:
    source = CountingSource(lifetime=-1)  # already due for refresh
    creds = SigV4Credentials(source, "us-east-1")
    await creds.authorize(new_request())
    await creds.authorize(new_request())
    assert source.calls == 2


ROLE_ARN = "arn:aws:iam::123456789012:role/image-proxy"
ROLE_KEY_ID, ROLE_KEY = "ASIAROLEEXAMPLE0001", Key("role-secret-9", "role-session-token-9")


def fake_sts(fake: FakeUpstream, lifetime: timedelta = timedelta(hours=1)) -> FakeSTS:
    sts = FakeSTS(
        SigV4Verifier(region="us-east-1", service="sts", keys={AKID: Key(SECRET)}),
        issued=ROLE_KEY,
        issued_key_id=ROLE_KEY_ID,
        lifetime=lifetime,
    )
    fake.route("POST", "/sts*", sts)
    return sts


def role_source(fake: FakeUpstream) -> AssumeRoleSource:
    return AssumeRoleSource(
        StaticSource(AKID, SECRET, None),
        ROLE_ARN,
        session_name="unit",
        region="us-east-1",
        sts_endpoint=f"{fake.base}/sts",
        external_id="ext-1",
    )


async def test_assume_role_through_sts_is_cached(fake: FakeUpstream) -> None:
    sts = fake_sts(fake)
    creds = SigV4Credentials(role_source(fake), "us-east-1")
    requests = [new_request() for _ in range(3)]
    for r in requests:
        await creds.authorize(r)
    assert len(sts.calls) == 1
    call = sts.calls[0]
    assert call["RoleArn"] == [ROLE_ARN] and call["RoleSessionName"] == ["unit"]
    assert call["ExternalId"] == ["ext-1"]
    role_verifier = verifier(**{ROLE_KEY_ID: ROLE_KEY})
    assert all(role_verifier.problem(as_received(r)) is None for r in requests)


async def test_short_lived_role_credentials_are_renewed(fake: FakeUpstream) -> None:
    sts = fake_sts(fake, lifetime=timedelta(seconds=1))
    creds = SigV4Credentials(role_source(fake), "us-east-1")
    await creds.authorize(new_request())
    deadline = time.monotonic() + 5
    while len(sts.calls) < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        await creds.authorize(new_request())
    assert len(sts.calls) == 2


async def test_sts_refusal_is_a_provider_auth_error(fake: FakeUpstream) -> None:
    fake_sts(fake)
    source = AssumeRoleSource(
        StaticSource(AKID, "wrong-secret", None),
        ROLE_ARN,
        session_name="unit",
        region="us-east-1",
        sts_endpoint=f"{fake.base}/sts",
    )
    with pytest.raises(ProviderAuthError, match="SignatureDoesNotMatch"):
        await SigV4Credentials(source, "us-east-1").authorize(new_request())


async def test_profile_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "credentials"
    shared.write_text(f"[imgproxy]\naws_access_key_id = {AKID}\naws_secret_access_key = {SECRET}\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(shared))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "missing-config"))
    req = new_request()
    await SigV4Credentials(SessionSource("imgproxy"), "us-east-1").authorize(req)
    assert verifier().problem(as_received(req)) is None
    with pytest.raises(ProviderAuthError, match="could not load AWS credentials"):
        await SigV4Credentials(SessionSource("absent"), "us-east-1").authorize(new_request())


def bedrock_credentials(deployment: Deployment) -> Credentials:
    """The strategy the provider table picks (the region worked out from the deployment)."""
    return PROVIDERS["bedrock"].credentials(deployment)


def deployment(env: dict[str, str] | None = None, **params: Any) -> Deployment:
    return parse_config(
        {
            "model_list": [
                {
                    "model_name": "m",
                    "litellm_params": {
                        "model": "bedrock/amazon.nova-canvas-v1:0",
                        "aws_region_name": "eu-west-1",
                        **params,
                    },
                }
            ]
        },
        env=env or {},
    ).deployments[0]


def test_strategy_chosen_from_parameters() -> None:
    bearer = bedrock_credentials(deployment(api_key="bedrock-api-key-1"))
    assert isinstance(bearer, HeaderKey) and "bedrock-api-key-1" not in repr(bearer)
    static = bedrock_credentials(deployment(aws_access_key_id=AKID, aws_secret_access_key=SECRET))
    assert isinstance(static, SigV4Credentials) and isinstance(static.source, StaticSource)
    assert static.region == "eu-west-1" and SECRET not in repr(static)
    profile = bedrock_credentials(deployment(aws_profile_name="p"))
    assert isinstance(profile, SigV4Credentials) and isinstance(profile.source, SessionSource)
    role = bedrock_credentials(
        deployment(
            aws_role_name=ROLE_ARN, aws_session_name="s", aws_sts_endpoint="http://127.0.0.1:1/sts"
        )
    )
    assert isinstance(role, SigV4Credentials) and isinstance(role.source, AssumeRoleSource)
    assert role.source.session_name == "s" and isinstance(role.source.base, SessionSource)


async def test_bearer_api_key() -> None:
    req = new_request()
    await bedrock_credentials(deployment(api_key="bedrock-api-key-1")).authorize(req)
    assert req.headers["authorization"] == "Bearer bedrock-api-key-1"


async def test_bearer_token_from_the_environment_like_botocore() -> None:
    """``AWS_BEARER_TOKEN_BEDROCK`` (in the environment the config loaded with) is the Bedrock
    API key when the deployment names no AWS credentials; configured keys, profiles and roles
    still win, as in botocore."""
    env = {"AWS_BEARER_TOKEN_BEDROCK": "env-bedrock-key-2"}
    req = new_request()
    await bedrock_credentials(deployment(env)).authorize(req)
    assert req.headers["authorization"] == "Bearer env-bedrock-key-2"
    static = bedrock_credentials(
        deployment(env, aws_access_key_id=AKID, aws_secret_access_key=SECRET)
    )
    assert isinstance(static, SigV4Credentials)
    assert isinstance(bedrock_credentials(deployment(env, aws_profile_name="p")), SigV4Credentials)
    assert isinstance(bedrock_credentials(deployment()), SigV4Credentials)
