"""Plain upstream HTTP messages: what adapters build and parse, what credentials sign and what
the transport sends. Below providers, credentials and transport alike, so none of them needs
another to name a request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from proxy import b64json


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
