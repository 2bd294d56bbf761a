"""Plain upstream HTTP messages: what adapters build and parse, what credentials sign and what
the transport sends. Below providers, credentials and transport alike, so none of them needs
another to name a request."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from proxy import b64json

MIB = 1024 * 1024
DEFAULT_MAX_ANSWER_BYTES = 256 * MIB  # 16 images at 4K, base64 in JSON, with room to spare
DEFAULT_MAX_EVENT_BYTES = 64 * MIB  # one streamed event: one 4K image and then some


@dataclass(frozen=True, slots=True)
class UpstreamLimits:
    """The most an upstream answer may hold, enforced while it is read (never after):
    ``max_answer`` bytes in all (a plain body, or everything one stream sends) and
    ``max_event`` bytes in one server-sent event, its unfinished line included."""

    max_answer: int = DEFAULT_MAX_ANSWER_BYTES
    max_event: int = DEFAULT_MAX_EVENT_BYTES


@dataclass(slots=True)
class UpstreamRequest:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    stream: bool = False
    params: dict[str, str] | None = None

    @classmethod
    def post_json(
        cls, url: str, payload: Any, headers: dict[str, str] | None = None, *, stream: bool = False
    ) -> UpstreamRequest:
        h = {"content-type": "application/json"}
        if headers:
            h.update(headers)
        return cls("POST", url, h, orjson.dumps(payload), stream=stream)

    @classmethod
    def post_multipart(
        cls,
        url: str,
        fields: list[tuple[str, str]],
        files: list[FilePart],
        headers: dict[str, str] | None = None,
        *,
        stream: bool = False,
    ) -> UpstreamRequest:
        body, content_type = multipart_body(fields, files)
        h = {"content-type": content_type}
        if headers:
            h.update(headers)
        return cls("POST", url, h, body, stream=stream)


def fan_out(request: UpstreamRequest, n: int) -> list[UpstreamRequest]:
    """``n`` calls of one request: the body (megabytes of input images for an edit)
    serialized once and shared, each call with headers of its own to sign."""
    return [request] + [replace(request, headers=dict(request.headers)) for _ in range(n - 1)]


@dataclass(frozen=True, slots=True)
class FilePart:
    """One file of a ``multipart/form-data`` body; the names are the adapter's, never a
    client's (they go into the part's headers)."""

    name: str
    filename: str
    content_type: str
    data: bytes = field(repr=False)


def form_fields(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """JSON-like values as form text fields, the way the OpenAI SDKs encode them: booleans as
    ``true``/``false``, lists as repeated ``name[]``, objects as ``name[key]``; None left out."""
    out: list[tuple[str, str]] = []
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, list):
            out.extend((f"{name}[]", _form_text(v)) for v in value if v is not None)
        elif isinstance(value, dict):
            out.extend((f"{name}[{k}]", _form_text(v)) for k, v in value.items() if v is not None)
        else:
            out.append((name, _form_text(value)))
    return out


def _form_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "").replace("\n", "")


def multipart_body(fields: list[tuple[str, str]], files: list[FilePart]) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body and its content type. The parts are joined once: the
    images are copied into the body a single time."""
    boundary = f"image-proxy-{secrets.token_hex(16)}"
    dash = f"--{boundary}\r\n".encode()
    pieces: list[bytes] = []
    for name, value in fields:
        pieces += (
            dash,
            f'content-disposition: form-data; name="{_quoted(name)}"\r\n\r\n'.encode(),
            value.encode(),
            b"\r\n",
        )
    for f in files:
        pieces += (
            dash,
            (
                f'content-disposition: form-data; name="{_quoted(f.name)}"; '
                f'filename="{_quoted(f.filename)}"\r\ncontent-type: {f.content_type}\r\n\r\n'
            ).encode(),
            f.data,
            b"\r\n",
        )
    pieces.append(f"--{boundary}--\r\n".encode())
    return b"".join(pieces), f"multipart/form-data; boundary={boundary}"


@dataclass(slots=True)
class UpstreamResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed, its big base64 strings copied once (``proxy.b64json``)."""
        return b64json.loads(self.body)
