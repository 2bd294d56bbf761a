"""Plain upstream HTTP messages: what adapters build and parse, what credentials sign and what
the transport sends. Below providers, credentials and transport alike, so none of them needs
another to name a request."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from proxy import b64json
from proxy.blob import Blob

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


class StreamedBody:
    """A body sent in pieces: bytes, and blobs read from their files as they go out
    (``proxy.blob``); its length is known, so it goes with a ``content-length``."""

    __slots__ = ("length", "pieces")

    def __init__(self, pieces: list[bytes | Blob]) -> None:
        self.pieces = pieces
        self.length = sum(p.size if isinstance(p, Blob) else len(p) for p in pieces)

    async def chunks(self) -> AsyncIterator[bytes]:
        """A new pass over the pieces each time: a retry sends the whole body again."""
        for piece in self.pieces:
            if isinstance(piece, Blob):
                async for chunk in piece.chunks():
                    yield chunk
            else:
                yield piece


@dataclass(slots=True)
class UpstreamRequest:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    stream: bool = False
    params: dict[str, str] | None = None
    streamed_body: StreamedBody | None = None  # instead of ``body``: uploads sent from files

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
        if isinstance(body, StreamedBody):
            h["content-length"] = str(body.length)
            return cls("POST", url, h, None, stream=stream, streamed_body=body)
        return cls("POST", url, h, body, stream=stream)


def fan_out(request: UpstreamRequest, n: int) -> list[UpstreamRequest]:
    """``n`` calls of one request: the body (megabytes of input images for an edit)
    serialized once and shared, each call with headers of its own to sign."""
    return [request] + [replace(request, headers=dict(request.headers)) for _ in range(n - 1)]


@dataclass(frozen=True, slots=True)
class FilePart:
    """One file of a ``multipart/form-data`` body; the names are the adapter's, never a
    client's (they go into the part's headers). A blob still in its file is sent from it."""

    name: str
    filename: str
    content_type: str
    data: bytes | Blob = field(repr=False)


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


def multipart_body(
    fields: list[tuple[str, str]], files: list[FilePart]
) -> tuple[bytes | StreamedBody, str]:
    """A ``multipart/form-data`` body and its content type. In memory the parts are joined
    once (the images copied into the body a single time); when a file is still in its
    temporary file, the body is a ``StreamedBody`` that reads it as it is sent."""
    boundary = f"image-proxy-{secrets.token_hex(16)}"
    dash = f"--{boundary}\r\n".encode()
    pieces: list[bytes | Blob] = []
    for name, value in fields:
        pieces += (
            dash,
            f'content-disposition: form-data; name="{_quoted(name)}"\r\n\r\n'.encode(),
            value.encode(),
            b"\r\n",
        )
    for f in files:
        data = f.data.data if isinstance(f.data, Blob) and f.data.loaded else f.data
        pieces += (
            dash,
            (
                f'content-disposition: form-data; name="{_quoted(f.name)}"; '
                f'filename="{_quoted(f.filename)}"\r\ncontent-type: {f.content_type}\r\n\r\n'
            ).encode(),
            data,
            b"\r\n",
        )
    pieces.append(f"--{boundary}--\r\n".encode())
    content_type = f"multipart/form-data; boundary={boundary}"
    if any(isinstance(p, Blob) for p in pieces):
        return StreamedBody(pieces), content_type
    return b"".join(p for p in pieces if isinstance(p, bytes)), content_type


@dataclass(slots=True)
class UpstreamResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed, its big base64 strings copied once (``proxy.b64json``)."""
        return b64json.loads(self.body)
