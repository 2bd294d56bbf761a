"""Plain upstream HTTP messages: what adapters build and parse, what credentials sign and what
the transport sends. Below providers, credentials and transport alike, so none of them needs
another to name a request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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


@dataclass(slots=True)
class UpstreamResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed, its big base64 strings copied once (``proxy.b64json``)."""
        return b64json.loads(self.body)
