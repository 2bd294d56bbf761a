"""Fake AWS pieces for tests: a SigV4 verifier written from the SigV4 spec (independent of
botocore, so a request the proxy signs wrongly fails), Bedrock-style error answers, and a
fake STS ``AssumeRole`` (query protocol, XML answer).

The verifier recomputes the canonical request (method, double-encoded path, sorted query,
signed headers, body hash), the credential scope and the HMAC chain from the request it
received and the secret it shares with the test, and names the first thing that is wrong:
unknown key, wrong region or service, a date too far from now, a missing session token,
an unsigned ``host`` / ``x-amz-date``, or a signature mismatch.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote

from starlette.responses import Response

from tests.fakes.server import FakeUpstream, Received

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = timedelta(minutes=5)
_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<cred>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),"
    r"\s*Signature=(?P<sig>[0-9a-f]{64})$"
)


@dataclass(frozen=True)
class Key:
    secret: str
    token: str | None = None


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def canonical_path(raw_path: str) -> str:
    # Non-S3 services encode the (already encoded) path once more: %3A -> %253A.
    return quote(raw_path or "/", safe="/~")


def canonical_query(raw_query: str) -> str:
    pairs = []
    for part in raw_query.split("&") if raw_query else []:
        key, _, value = part.partition("=")
        pairs.append((key, value))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


@dataclass
class SigV4Verifier:
    region: str
    service: str
    keys: dict[str, Key] = field(default_factory=dict)
    now: Any = None  # a callable returning an aware datetime; defaults to the wall clock

    def problem(self, rec: Received) -> str | None:
        auth = rec.headers.get("authorization", "")
        found = _AUTH.match(auth)
        if not found:
            return f"Authorization header is not SigV4: {auth[:30]!r}"
        parts = found["cred"].split("/")
        if len(parts) != 5:
            return "malformed credential scope"
        access_key, date, region, service, terminator = parts
        key = self.keys.get(access_key)
        if key is None:
            return f"unknown access key {access_key}"
        if service != self.service:
            return f"credential scope names service {service!r}, expected {self.service!r}"
        if region != self.region:
            return f"credential scope names region {region!r}, expected {self.region!r}"
        if terminator != "aws4_request":
            return "credential scope does not end in aws4_request"
        amz_date = rec.headers.get("x-amz-date", "")
        try:
            stamp = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            return f"bad or missing x-amz-date {amz_date!r}"
        now = self.now() if self.now else datetime.now(UTC)
        if abs(now - stamp) > MAX_SKEW:
            return f"signature date {amz_date} is too far from now"
        if amz_date[:8] != date:
            return "scope date differs from x-amz-date"
        signed = found["signed"].split(";")
        if signed != sorted(signed) or "host" not in signed or "x-amz-date" not in signed:
            return f"signed headers {signed} must be sorted and include host and x-amz-date"
        if key.token is not None:
            if rec.headers.get("x-amz-security-token") != key.token:
                return "session token missing or wrong"
            if "x-amz-security-token" not in signed:
                return "session token not signed"
        missing = [h for h in signed if h not in rec.headers]
        if missing:
            return f"signed headers not sent: {missing}"
        payload_hash = hashlib.sha256(rec.body).hexdigest()
        declared = rec.headers.get("x-amz-content-sha256")
        if declared is not None and declared != payload_hash:
            return "x-amz-content-sha256 does not match the body"
        canonical_headers = "".join(f"{h}:{' '.join(rec.headers[h].split())}\n" for h in signed)
        canonical = "\n".join(
            [
                rec.method,
                canonical_path(rec.raw_path or rec.path),
                canonical_query(rec.raw_query),
                canonical_headers,
                ";".join(signed),
                payload_hash,
            ]
        )
        scope = f"{date}/{region}/{service}/aws4_request"
        to_sign = "\n".join(
            [ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        signing_key = _hmac(("AWS4" + key.secret).encode(), date)
        for part in (region, service, "aws4_request"):
            signing_key = _hmac(signing_key, part)
        expected = hmac.new(signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, found["sig"]):
            return "signature mismatch"
        return None


def aws_error(
    code: str, message: str, status: int, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        json.dumps({"message": message}),
        status,
        {
            "x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazon.bedrock/",
            "x-amzn-RequestId": "d6c4e0f2-0000-4000-8000-000000000000",
            **(headers or {}),
        },
        media_type="application/json",
    )


@dataclass
class FakeSTS:
    """``AssumeRole`` over the query protocol, verifying the caller's SigV4 (service sts)."""

    verifier: SigV4Verifier
    issued: Key
    issued_key_id: str
    lifetime: timedelta = timedelta(hours=1)
    calls: list[dict[str, list[str]]] = field(default_factory=list)

    def __call__(self, rec: Received) -> Response:
        problem = self.verifier.problem(rec)
        if problem:
            return Response(
                "<ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code>"
                f"<Message>{problem}</Message></Error></ErrorResponse>",
                403,
                media_type="text/xml",
            )
        form = parse_qs(rec.body.decode())
        self.calls.append(form)
        if form.get("Action") != ["AssumeRole"]:
            return Response("<ErrorResponse/>", 400, media_type="text/xml")
        expires = (datetime.now(UTC) + self.lifetime).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = (
            '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            "<AssumeRoleResult><Credentials>"
            f"<AccessKeyId>{self.issued_key_id}</AccessKeyId>"
            f"<SecretAccessKey>{self.issued.secret}</SecretAccessKey>"
            f"<SessionToken>{self.issued.token}</SessionToken>"
            f"<Expiration>{expires}</Expiration>"
            "</Credentials><AssumedRoleUser>"
            f"<AssumedRoleId>AROAEXAMPLE:{form.get('RoleSessionName', [''])[0]}</AssumedRoleId>"
            f"<Arn>{form.get('RoleArn', [''])[0]}</Arn>"
            "</AssumedRoleUser></AssumeRoleResult>"
            "<ResponseMetadata><RequestId>c6104cbe-0000-4000-8000-000000000000</RequestId>"
            "</ResponseMetadata></AssumeRoleResponse>"
        )
        return Response(body, 200, media_type="text/xml")


Answer = Callable[[Received, dict[str, Any]], Response | dict[str, Any]]


class FakeBedrock:
    """Routes ``/model/{id}/invoke``; every request must be correctly signed with one of
    ``keys`` (or carry the Bedrock API key) and encode the model id as botocore does, or it
    gets AWS's 403/400. ``calls`` holds what reached a model."""

    def __init__(self, fake: FakeUpstream, keys: dict[str, Key], api_key: str | None = None):
        self.fake = fake
        self.keys = keys
        self.api_key = api_key
        self.calls: list[Received] = []

    def model(self, model_id: str, answer: Answer, region: str = "us-east-1") -> None:
        verifier = SigV4Verifier(region=region, service="bedrock", keys=self.keys)

        def handler(rec: Received) -> Response | dict[str, Any]:
            bearer = self.api_key is not None and (
                rec.headers.get("authorization") == f"Bearer {self.api_key}"
            )
            if not bearer:
                problem = verifier.problem(rec)
                if problem:
                    return aws_error("InvalidSignatureException", problem, 403)
            if rec.raw_path != f"/model/{quote(model_id, safe='-._~')}/invoke":
                return aws_error("ValidationException", f"bad path {rec.raw_path}", 400)
            if rec.headers.get("content-type") != "application/json":
                return aws_error("ValidationException", "content-type must be JSON", 400)
            self.calls.append(rec)
            return answer(rec, rec.json())

        self.fake.route("POST", f"/model/{model_id}/invoke", handler)
