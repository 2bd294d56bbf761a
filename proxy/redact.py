"""Scrubbing for anything that leaves the process as text: error messages and log lines.

Base64 payloads become ``<N bytes base64>``, bearer tokens and key-shaped strings lose all
but their last four characters, and long text is cut.
"""

from __future__ import annotations

import re

_BASE64_RUN = re.compile(rb"[A-Za-z0-9+/=_-]{200,}")
_DATA_URI = re.compile(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=]+")
_KEYISH = re.compile(
    r"(?i)\b(sk-[\w-]{6,}|AKIA[0-9A-Z]{12,}|AIza[\w-]{20,}|ya29\.[\w.-]+|Bearer\s+[\w.~+/-]{8,})"
)
MAX_MESSAGE = 600


def _mask(match: re.Match[str]) -> str:
    s = match.group(0)
    return f"{s[:3]}…{s[-4:]}" if len(s) > 12 else "****"


def redact_text(text: str, limit: int = MAX_MESSAGE) -> str:
    text = _DATA_URI.sub(lambda m: f"<data URI, {len(m.group(0))} chars>", text)
    if len(text) > 199:
        raw = text.encode()
        raw = _BASE64_RUN.sub(lambda m: b"<%d chars base64>" % len(m.group(0)), raw)
        text = raw.decode("utf-8", "replace")
    text = _KEYISH.sub(_mask, text)
    if len(text) > limit:
        text = text[:limit] + "…"
    return text


def redact_secret(value: str | None) -> str:
    if not value:
        return ""
    return "****" + value[-4:] if len(value) > 8 else "****"
