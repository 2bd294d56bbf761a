"""Google's errors -> the gateway's error family.

HTTP errors carry a ``google.rpc.Status`` (``{"error": {"code", "message", "status",
"details"}}``); the ``status`` string decides the class. Blocks arrive as HTTP 200 answers
(``promptFeedback.blockReason``, a safety ``finishReason``, Imagen's ``raiFilteredReason``):
those become a 400 ``content_policy_violation`` carrying Google's reason, never an empty 200.
"""

from __future__ import annotations

import re
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
)
from proxy.providers.google.response import camel_keys
from proxy.providers.upstream_errors import retry_after_seconds
from proxy.redact import redact_text
from proxy.upstream_request import UpstreamResponse

STATUS_BY_HTTP = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
BAD_REQUEST = frozenset({"INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE"})
AUTH = frozenset({"UNAUTHENTICATED", "PERMISSION_DENIED"})
# ErrorInfo reasons that mean the proxy's own key is bad although the status is 400.
KEY_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED", "API_KEY_SERVICE_BLOCKED"})
# Imagen refuses some prompts outright with a 400 INVALID_ARGUMENT.
_POLICY_TEXT = re.compile(
    r"could not be submitted|responsible ai|sensitive words|violat\w* .*polic|"
    r"blocked by .*(safety|filter)",
    re.IGNORECASE,
)
# The same, when the 400 comes without its ErrorInfo details.
_KEY_TEXT = re.compile(r"\bapi key (not valid|invalid|expired)", re.IGNORECASE)
_RETRY_DELAY = re.compile(r"^(\d+(?:\.\d+)?)s$")


def _error_object(body: bytes) -> dict[str, Any]:
    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, list) and parsed and isinstance(parsed[0], dict):
        parsed = parsed[0]  # the non-SSE stream form wraps the error in an array
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
        error: dict[str, Any] = camel_keys(parsed["error"])
        return error
    text = body.decode("utf-8", "replace").strip() if body else ""
    return {"message": text}


def _details(error: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    details = error.get("details")
    if not isinstance(details, list):
        return []
    return [d for d in details if isinstance(d, dict) and str(d.get("@type", "")).endswith(kind)]


def _retry_delay(error: dict[str, Any]) -> float | None:
    for info in _details(error, "google.rpc.RetryInfo"):
        match = _RETRY_DELAY.match(str(info.get("retryDelay", "")))
        if match:
            return float(match.group(1))
    return None


def map_google_error(response: UpstreamResponse, provider: str) -> ProxyError:
    error = _error_object(response.body)
    http = response.status
    status = str(error.get("status") or STATUS_BY_HTTP.get(http, "UNKNOWN"))
    message = redact_text(str(error.get("message") or f"HTTP {http}"))
    text = f"{provider}: {message} ({status})"
    reasons = {str(d.get("reason")) for d in _details(error, "google.rpc.ErrorInfo")}
    if status in AUTH or reasons & KEY_REASONS or (http == 400 and _KEY_TEXT.search(message)):
        return ProviderAuthError(
            f"{provider} rejected the proxy's credentials ({http} {status}): {message}",
            provider=provider,
        )
    if status in BAD_REQUEST or (status == "UNKNOWN" and 400 <= http < 500 and http != 429):
        if _POLICY_TEXT.search(message):
            return ContentPolicyError(text, provider=provider)
        return UpstreamBadRequestError(text, provider=provider)
    if status == "NOT_FOUND":
        return UpstreamNotFoundError(text, provider=provider)
    if status == "RESOURCE_EXHAUSTED":
        retry_after = retry_after_seconds(response.headers) or _retry_delay(error)
        headers = {"retry-after": str(max(1, round(retry_after)))} if retry_after else {}
        return UpstreamRateLimitError(
            text, provider=provider, retry_after=retry_after, headers=headers
        )
    if status == "DEADLINE_EXCEEDED":
        return UpstreamTimeoutError(text, provider=provider)
    if status == "UNAVAILABLE":
        return UpstreamError(
            text,
            provider=provider,
            code="upstream_unavailable",
            retry_after=retry_after_seconds(response.headers),
        )
    return UpstreamError(text, provider=provider)


def blocked(provider: str, what: str, reason: str | None, detail: str | None) -> ContentPolicyError:
    """A content-policy error naming Google's reason (and its message, scrubbed)."""
    message = f"{provider}: {what}"
    if reason:
        message += f" ({reason})"
    if detail:
        message += f": {redact_text(detail, 300)}"
    return ContentPolicyError(message, provider=provider)
