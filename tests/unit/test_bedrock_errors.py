"""Bedrock error answers -> the gateway's error classes (table-driven)."""

from __future__ import annotations

import orjson
import pytest

from proxy.errors import (
    ContentPolicyError,
    ProviderAuthError,
    ProxyError,
    UpstreamBadRequestError,
    UpstreamError,
    UpstreamNotFoundError,
    UpstreamRateLimitError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from proxy.providers.bedrock.errors import map_bedrock_error

CORAL = ":http://internal.amazon.com/coral/com.amazon.bedrock/"

CASES: list[tuple[int, str | None, dict[str, str], type[ProxyError], int]] = [
    (
        400,
        "ValidationException",
        {"message": "Malformed input request: 1 schema violations"},
        UpstreamBadRequestError,
        400,
    ),
    (
        400,
        "ValidationException",
        {"message": "This request has been blocked by our content filters."},
        ContentPolicyError,
        400,
    ),
    (
        400,
        "ValidationException",
        {"message": "Your request was rejected as a result of our safety system."},
        ContentPolicyError,
        400,
    ),
    (
        403,
        "AccessDeniedException",
        {"message": "You don't have access to the model"},
        ProviderAuthError,
        502,
    ),
    (
        403,
        "UnrecognizedClientException",
        {"message": "The security token is invalid."},
        ProviderAuthError,
        502,
    ),
    (403, "InvalidSignatureException", {"message": "signature mismatch"}, ProviderAuthError, 502),
    (
        429,
        "ThrottlingException",
        {"message": "Too many requests, please wait."},
        UpstreamRateLimitError,
        429,
    ),
    (400, "ServiceQuotaExceededException", {"message": "quota"}, UpstreamRateLimitError, 429),
    (408, "ModelTimeoutException", {"message": "Model has timed out"}, UpstreamTimeoutError, 504),
    (
        429,
        "ModelNotReadyException",
        {"message": "Model is not ready"},
        UpstreamUnavailableError,
        503,
    ),
    (
        503,
        "ServiceUnavailableException",
        {"Message": "Service unavailable"},
        UpstreamUnavailableError,
        503,
    ),
    (404, "ResourceNotFoundException", {"message": "model not found"}, UpstreamNotFoundError, 502),
    (
        424,
        "ModelErrorException",
        {"message": "model error", "originalStatusCode": "500"},
        UpstreamError,
        502,
    ),
    (500, "InternalServerException", {"message": "internal"}, UpstreamError, 502),
    (400, None, {"message": "no header, plain 400"}, UpstreamBadRequestError, 400),
    (502, None, {}, UpstreamError, 502),
]


@pytest.mark.parametrize(("status", "code", "body", "error", "out_status"), CASES)
def test_error_classes(
    status: int, code: str | None, body: dict[str, str], error: type[ProxyError], out_status: int
) -> None:
    headers = {"x-amzn-ErrorType": code + CORAL} if code else {}
    err = map_bedrock_error(status, headers, orjson.dumps(body))
    assert type(err) is error
    assert err.status == out_status
    text = body.get("message") or body.get("Message")
    if text:
        assert text in err.message
    assert err.body()["error"]["type"]


def test_code_from_body_type_when_no_header() -> None:
    err = map_bedrock_error(
        400,
        {},
        orjson.dumps({"__type": "com.amazon.coral#ThrottlingException", "message": "slow down"}),
    )
    assert isinstance(err, UpstreamRateLimitError)


def test_throttle_keeps_retry_after() -> None:
    err = map_bedrock_error(
        429,
        {"X-Amzn-ErrorType": "ThrottlingException", "Retry-After": "3"},
        b'{"message": "Too many requests"}',
    )
    assert err.retry_after == 3 and err.headers == {"retry-after": "3"} and err.retryable


def test_content_filter_is_content_policy_and_final() -> None:
    err = map_bedrock_error(
        400,
        {"x-amzn-errortype": "ValidationException"},
        b'{"message": "The generated image has been blocked by our content filters."}',
    )
    assert err.content_policy and not err.retryable
    assert err.body()["error"]["code"] == "content_policy_violation"


def test_secrets_and_base64_never_reach_the_message() -> None:
    blob = "A" * 400
    err = map_bedrock_error(
        400,
        {"x-amzn-errortype": "ValidationException"},
        orjson.dumps({"message": f"bad image {blob} key AKIAABCDEFGHIJKLMNOP"}),
    )
    assert blob not in err.message and "AKIAABCDEFGHIJKLMNOP" not in err.message
