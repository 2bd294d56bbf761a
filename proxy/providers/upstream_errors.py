"""Provider HTTP errors -> the gateway's error family, keeping the status class.

400 stays 400, the provider refusing our credentials becomes a provider-auth error (502),
429 stays 429 with its retry hint, timeouts 504, other failures 502/503. Messages are
scrubbed of base64 and key-shaped strings before they can reach a client.
"""

from __future__ import annotations

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
from proxy.redact import redact_text

CONTENT_POLICY_CODES = frozenset(
    {
        "content_policy_violation",
        "moderation_blocked",
        "contentfilter",
        "content_filter",
        "responsibleaipolicyviolation",
    }
)


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            from email.utils import parsedate_to_datetime
            from time import time

            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - time())
            except (TypeError, ValueError):
                return None
    return None


def extract_message(body: bytes) -> tuple[str, str | None, Any]:
    """(message, code, parsed body) from a JSON or plain-text error body."""
    parsed: Any = None
    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        parsed = None
    code: Any = None
    message = ""
    if isinstance(parsed, dict):
        err = parsed.get("error", parsed)
        if isinstance(err, dict):
            message = str(err.get("message") or err.get("detail") or "")
            code = err.get("code") or err.get("type") or err.get("status")
            inner = err.get("inner_error") or err.get("innererror")
            if isinstance(inner, dict) and inner.get("code"):
                code = inner["code"] if str(code).lower() not in CONTENT_POLICY_CODES else code
        elif isinstance(err, str):
            message = err
        if not message and isinstance(parsed.get("detail"), str):
            message = parsed["detail"]
        if not message and isinstance(parsed.get("message"), str):
            message = parsed["message"]
    elif body:
        message = body.decode("utf-8", "replace").strip()
    return redact_text(message), (str(code) if code is not None else None), parsed


def error_field(parsed: Any, name: str) -> str | None:
    """A short string field of the provider's error object (``param``, ``code``), if any."""
    err = parsed.get("error", parsed) if isinstance(parsed, dict) else None
    value = err.get(name) if isinstance(err, dict) else None
    return redact_text(value) if isinstance(value, str) and 0 < len(value) <= 200 else None


def map_http_error(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    provider: str,
    *,
    message: str | None = None,
    code: str | None = None,
) -> ProxyError:
    found_message, found_code, parsed = extract_message(body)
    message = message or found_message or f"HTTP {status}"
    code = code or found_code
    text = f"{provider}: {message}"
    if code and code.lower() in CONTENT_POLICY_CODES:
        return ContentPolicyError(text, provider=provider)
    if status in (401, 403):
        return ProviderAuthError(
            f"{provider} rejected the proxy's credentials ({status}): {message}", provider=provider
        )
    if status == 404:
        return UpstreamNotFoundError(f"{provider} returned 404: {message}", provider=provider)
    if status == 408:
        return UpstreamTimeoutError(text, provider=provider)
    if status == 429:
        retry_after = retry_after_seconds(headers)
        hdrs = {"retry-after": str(max(1, round(retry_after)))} if retry_after is not None else {}
        return UpstreamRateLimitError(
            text, provider=provider, retry_after=retry_after, headers=hdrs
        )
    if 400 <= status < 500:
        # The caller must change the request: keep the provider's pointer to what is wrong.
        return UpstreamBadRequestError(
            text,
            provider=provider,
            status=400 if status != 413 else 413,
            param=error_field(parsed, "param"),
            code=error_field(parsed, "code") if code == found_code else code,
        )
    if status == 503:
        return UpstreamUnavailableError(
            text, provider=provider, retry_after=retry_after_seconds(headers)
        )
    if status == 504:
        return UpstreamTimeoutError(text, provider=provider)
    return UpstreamError(text, provider=provider)
