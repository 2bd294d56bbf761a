"""Xinference: an OpenAI-like images route with its own quirks.

- sizes are ``W*H`` (``1024*1024``);
- ``url`` mode answers a file path on the Xinference host, not a URL, so the adapter always
  asks for ``b64_json`` and the delivery stage serves URLs itself;
- generation extras (``negative_prompt``, ``num_inference_steps`` …) travel in ``kwargs``, a
  JSON-encoded string;
- OpenAI-only options it cannot honour are refused, never silently dropped;
- edits (``/v1/images/edits``): the first image is the one edited, the others references;
  its masks go to diffusers inpainting, where white marks the area to repaint (OpenAI's
  transparent = edit would be inverted), so a mask is refused until masks are converted;
- variations (``/v1/images/variations``): one image, as dall-e-2's shape.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from proxy.config.deployment import Deployment
from proxy.errors import InvalidRequestError
from proxy.providers.openai.edits import file_part
from proxy.providers.openai.variations import OpenAIImageVariations
from proxy.schemas import ImageRequest
from proxy.schemas.edits import EditRequest, VariationRequest
from proxy.upstream_request import FilePart, UpstreamRequest, form_fields

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
EDIT_FIELDS = frozenset({"prompt", "n", "size", "response_format", "user"})
_SIZE = re.compile(r"^(\d+)\s*[x*X]\s*(\d+)$")


def with_size(fields: dict[str, Any], size: str | None) -> dict[str, Any]:
    """``fields`` with Xinference's ``W*H`` size when the client asked for one."""
    if size and size != "auto":
        fields["size"] = xinference_size(size)
    return fields


def xinference_size(size: str) -> str:
    m = _SIZE.match(size.strip())
    if not m:
        raise InvalidRequestError(
            f"xinference needs size as WIDTHxHEIGHT (e.g. 1024x1024), got {size!r}.", param="size"
        )
    return f"{m.group(1)}*{m.group(2)}"


class XinferenceImages(OpenAIImageVariations):
    supports_stream = False
    supports_edit_stream = False  # its edit stream has its own event names, not OpenAI's
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

    def edit_fields(self, request: EditRequest, deployment: Deployment) -> dict[str, Any]:
        for name, value in request.params().items():
            if name not in EDIT_FIELDS and value not in (None, False):
                raise InvalidRequestError(
                    f"xinference image edits do not support '{name}' (they read prompt, n "
                    "and size).",
                    param=name,
                )
        if request.markup is not None:
            raise InvalidRequestError(
                "xinference image edits do not support 'markup'.", param="markup"
            )
        if request.mask is not None:
            raise InvalidRequestError(
                "xinference reads masks as white = repaint (OpenAI's are transparent = "
                "edit) and mask conversion is not implemented yet: send the edit without "
                "a mask.",
                param="mask",
                code="unsupported_parameter",
            )
        fields = {"model": deployment.model, "prompt": request.prompt, "n": request.n}
        return with_size({**fields, "response_format": "b64_json"}, request.size)

    def edit_files(self, request: EditRequest, deployment: Deployment) -> list[FilePart]:
        name = "image" if len(request.images) == 1 else "image[]"
        return [file_part(name, image) for image in request.images]

    def build_variation(
        self, request: VariationRequest, deployment: Deployment
    ) -> list[UpstreamRequest]:
        fields = {"model": deployment.model, "n": request.n, "response_format": "b64_json"}
        fields = with_size(fields, request.size)
        for name in request.params("n", "size", "response_format", "user"):
            raise InvalidRequestError(
                f"xinference image variations do not support '{name}' (they read n and size).",
                param=name,
            )
        files = [file_part("image", request.image)]
        return [
            UpstreamRequest.post_multipart(
                self.variation_url(deployment), form_fields(fields), files
            )
        ]
