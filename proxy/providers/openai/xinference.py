"""Xinference: an OpenAI-like images route with its own quirks.

- sizes are ``W*H`` (``1024*1024``);
- ``url`` mode answers a file path on the Xinference host, not a URL, so the adapter always
  asks for ``b64_json`` and the delivery stage serves URLs itself;
- generation extras (``negative_prompt``, ``num_inference_steps`` …) travel in ``kwargs``, a
  JSON-encoded string;
- OpenAI-only options it cannot honour are refused, never silently dropped.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from proxy.config.deployment import Deployment
from proxy.errors import InvalidRequestError
from proxy.providers.openai.images import OpenAIImages
from proxy.schemas import ImageRequest
from proxy.upstream_request import UpstreamRequest

NATIVE = frozenset({"model", "prompt", "n", "size", "response_format", "user", "kwargs"})
UNSUPPORTED = frozenset(
    {
        "quality",
        "style",
        "background",
        "moderation",
        "output_format",
        "output_compression",
        "stream",
        "partial_images",
    }
)
_SIZE = re.compile(r"^(\d+)\s*[x*X]\s*(\d+)$")


def xinference_size(size: str) -> str:
    m = _SIZE.match(size.strip())
    if not m:
        raise InvalidRequestError(
            f"xinference needs size as WIDTHxHEIGHT (e.g. 1024x1024), got {size!r}.", param="size"
        )
    return f"{m.group(1)}*{m.group(2)}"


class XinferenceImages(OpenAIImages):
    supports_stream = False
    default_base = "http://127.0.0.1:9997/v1"
    provider = "xinference"
    image_hosts = ()  # always asked for base64

    def payload(self, request: ImageRequest, deployment: Deployment) -> dict[str, Any]:
        for name in UNSUPPORTED:
            if request.body.get(name) not in (None, False):
                raise InvalidRequestError(
                    f"xinference image models do not support '{name}'.", param=name
                )
        body: dict[str, Any] = {
            "model": deployment.model,
            "prompt": request.prompt,
            "n": request.n,
            "response_format": "b64_json",
        }
        if request.size and request.size != "auto":
            body["size"] = xinference_size(request.size)
        if request.user:
            body["user"] = request.user
        extras = {k: v for k, v in request.body.items() if k not in NATIVE | UNSUPPORTED}
        given = request.body.get("kwargs")
        if isinstance(given, str):
            try:
                given = orjson.loads(given)
            except orjson.JSONDecodeError:
                raise InvalidRequestError(
                    "'kwargs' must be a JSON object or a JSON-encoded object.", param="kwargs"
                ) from None
        if given is not None and not isinstance(given, dict):
            raise InvalidRequestError("'kwargs' must be a JSON object.", param="kwargs")
        extras.update(given or {})
        if extras:
            body["kwargs"] = orjson.dumps(extras).decode()
        return body

    def build(self, request: ImageRequest, deployment: Deployment) -> list[UpstreamRequest]:
        return [UpstreamRequest.post_json(self.url(deployment), self.payload(request, deployment))]
