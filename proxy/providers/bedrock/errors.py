"""Bedrock errors -> the gateway's error family.

The error code comes from the ``x-amzn-ErrorType`` header (the part before ``:``, as botocore
reads it), else from the body's ``__type`` / ``code``; the text from ``message`` / ``Message``.
Content-filter refusals, which Bedrock reports as a ValidationException, become 400
``content_policy_violation`` so content-policy fallbacks can see them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

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
from proxy.providers.upstream_errors import map_http_error, retry_after_seconds
from proxy.redact import redact_text

PROVIDER = "bedrock"

AUTH_CODES = frozenset(
    {
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "IncompleteSignatureException",
        "ExpiredTokenException",
        "MissingAuthenticationTokenException",
    }
)
THROTTLE_CODES = frozenset({"ThrottlingException", "ServiceQuotaExceededException"})
UNAVAILABLE_CODES = frozenset({"ModelNotReadyException", "ServiceUnavailableException"})
CONTENT_FILTER = re.compile(
    r"content filter|blocked by our content|responsible ai|moderation|"
    r"filter reason|content policy|inappropriate content|safety system",
    re.IGNORECASE,
)


def is_content_filtered(message: str) -> bool:
    return bool(CONTENT_FILTER.search(message))


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def error_code_and_message(headers: Mapping[str, str], body: bytes) -> tuple[str | None, str]:
    parsed: Any = None
    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        parsed = None
    code: str | None = None
    header = _lower(headers).get("x-amzn-errortype")
    if header:
        code = header.split(":", 1)[0].strip() or None
    message = ""
    if isinstance(parsed, dict):
        if code is None:
            raw = parsed.get("__type") or parsed.get("code")
            if isinstance(raw, str):
                code = raw.rsplit("#", 1)[-1].split(":", 1)[0] or None
        text = parsed.get("message") or parsed.get("Message")
        message = text if isinstance(text, str) else ""
    elif body:
        message = body.decode("utf-8", "replace").strip()
    return code, redact_text(message)


def map_bedrock_error(status: int, headers: Mapping[str, str], body: bytes) -> ProxyError:
    code, message = error_code_and_message(headers, body)
    shown = message or f"HTTP {status}"
    text = f"{PROVIDER}: {code + ': ' if code else ''}{shown}"
    if code == "ValidationException" or (code is None and status == 400):
        if is_content_filtered(message):
            return ContentPolicyError(f"{PROVIDER}: {shown}", provider=PROVIDER)
        return UpstreamBadRequestError(text, provider=PROVIDER)
    if code in AUTH_CODES:
        return ProviderAuthError(
            f"{PROVIDER} rejected the proxy's credentials ({code}): {shown}", provider=PROVIDER
        )
    if code in THROTTLE_CODES:
        retry_after = retry_after_seconds(_lower(headers))
        hdrs = {"retry-after": str(max(1, round(retry_after)))} if retry_after is not None else {}
        return UpstreamRateLimitError(
            text, provider=PROVIDER, retry_after=retry_after, headers=hdrs
        )
    if code == "ModelTimeoutException":
        return UpstreamTimeoutError(text, provider=PROVIDER)
    if code in UNAVAILABLE_CODES:
        return UpstreamUnavailableError(
            text, provider=PROVIDER, retry_after=retry_after_seconds(_lower(headers))
        )
    if code == "ResourceNotFoundException":
        return UpstreamNotFoundError(text, provider=PROVIDER)
    if code in ("ModelErrorException", "InternalServerException"):
        return UpstreamError(text, provider=PROVIDER)
    return map_http_error(status, _lower(headers), body, PROVIDER, message=shown, code=code)
