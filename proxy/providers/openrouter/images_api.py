"""OpenRouter's images API, ``POST {base}/images`` (models its image list names, or
deployments with ``openrouter_api: images``).

Wire format from OpenRouter's OpenAPI (``ImageGenerationRequest`` / ``ImageGenerationResponse``,
``OpenRouterTeam/docs`` ``openapi/openapi.yaml``) and its image-generation guide:

- ``size``: OpenRouter's own ``size`` takes explicit pixels (``WxH``) or a tier (``512``,
  ``1K``, ``2K``, ``4K``) and normalizes them into the model's resolution and aspect ratio, so
  an OpenAI size is sent as it is (``auto`` leaves the choice to the model); a ``w:h`` size is
  sent as ``aspect_ratio``. ``aspect_ratio`` and ``resolution`` given by the client (extra
  body) are checked against OpenRouter's lists and sent; OpenRouter refuses a pixel size
  they contradict with a 400.
- ``quality``: ``auto``/``low``/``medium``/``high`` as they are; DALL-E's ``standard`` ->
  ``low`` and ``hd`` -> ``high`` (LiteLLM's mapping).
- ``background`` (``auto``, ``transparent``, ``opaque``), ``output_format`` (``png``,
  ``jpeg``, ``webp``), ``output_compression``, ``seed``, ``n`` (1-10, one call: OpenRouter
  asks the provider for ``n``) and ``provider`` (routing) travel top level.
  ``background: transparent`` with ``jpeg`` is refused (no alpha).
- The answer is always base64: ``data[].b64_json`` (+ ``media_type``); ``usage`` carries the
  tokens and the exact USD ``cost``, priced as OpenRouter's chat answers are (``usage.cost``).

Edits send the uploads as ``input_references`` (image_url parts holding data URLs).

``stream``: OpenRouter streams only from providers with native streaming ("currently
OpenAI"; others ignore the flag and answer JSON), so it is sent for the models its image list
marks ``supports_streaming`` (``openai/*`` ones before the list is read) and is a 400 for the
others. Its SSE ``data:`` lines (``image_generation.partial_image``,
``image_generation.completed`` with ``usage``, ``error``, then ``[DONE]``) are relayed as
OpenAI's ``image_generation.*`` events (``image_edit.*`` for an edit), the completed event's
usage (and its ``cost``) converted as a whole answer's is; an ``error`` event ends the stream
with the mapped error; ``image_generation.text_chunk`` (SVG output) is not relayed.
"""

from __future__ import annotations

from typing import Any

from proxy.config.deployment import Deployment
from proxy.errors import InvalidRequestError, UpstreamError
from proxy.providers.base import ImageResult, Usage
from proxy.providers.openai.images import OpenAIImageStream
from proxy.providers.openrouter.common import (
    PROVIDER,
    STREAMS,
    images_usage,
    map_error_body,
)
from proxy.providers.openrouter.image_config import parse_size
from proxy.schemas import ImageRequest
from proxy.sse import SSEEvent

TIERS = ("512", "1K", "2K", "4K")
ASPECT_RATIOS = (
    "1:1", "1:2", "1:4", "1:8", "2:1", "2:3", "3:2", "3:4", "4:1", "4:3", "4:5", "5:4", "8:1",
    "9:16", "16:9", "9:19.5", "19.5:9", "9:20", "20:9", "9:21", "21:9", "auto",
)  # fmt: skip
QUALITY = {"auto": "auto", "low": "low", "medium": "medium", "high": "high"}
QUALITY_ALIASES = {"standard": "low", "hd": "high"}
BACKGROUNDS = ("auto", "transparent", "opaque")
OUTPUT_FORMATS = ("png", "jpeg", "webp")
ALPHA_FORMATS = ("png", "webp")

UNSUPPORTED = {
    "style": "pass provider keys through 'provider': {'options': {<provider slug>: {...}}}",
    "image_config": "OpenRouter's images API takes 'aspect_ratio' and 'resolution' top level",
    "image_size": "OpenRouter's images API calls it 'resolution' ('512', '1K', '2K', '4K')",
    "modalities": "OpenRouter's images API always answers images",
    "moderation": "OpenRouter has no moderation setting on image requests",
    "partial_images": "OpenRouter decides how many previews a stream carries",
    "messages": "the images API takes a prompt; use /v1/chat/completions for a conversation",
}
# Read here or by the proxy, never copied as they came.
CONSUMED = ("prompt", "size", "quality", "response_format", "stream", "aspect_ratio", "n")


def _choice(body: dict[str, Any], name: str, allowed: tuple[str, ...]) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or value not in allowed:
        raise InvalidRequestError(
            f"'{name}' must be one of {', '.join(allowed)} for OpenRouter's images API, "
            f"got {value!r}.",
            param=name,
        )
    return value


def _shape(body: dict[str, Any], size: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    ratio = _choice(body, "aspect_ratio", ASPECT_RATIOS)
    if size is None or size == "auto":
        pass
    elif size in TIERS or parse_size(size) is not None:
        out["size"] = size
    elif size in ASPECT_RATIOS:
        if ratio is not None and ratio != size:
            raise InvalidRequestError(
                f"'size' asks for aspect ratio {size!r} but 'aspect_ratio' is {ratio!r}.",
                param="size",
            )
        ratio = size
    else:
        raise InvalidRequestError(
            f"size {size!r} is not a WIDTHxHEIGHT size, a resolution tier "
            f"({', '.join(TIERS)}) or an aspect ratio such as 16:9.",
            param="size",
            code="invalid_size",
        )
    if ratio is not None:
        out["aspect_ratio"] = ratio
    return out


def _quality(value: str | None) -> dict[str, str]:
    if value is None:
        return {}
    mapped = QUALITY.get(value) or QUALITY_ALIASES.get(value)
    if mapped is None:
        raise InvalidRequestError(
            f"quality {value!r} is not supported by OpenRouter's images API; use one of "
            f"{', '.join([*QUALITY, *QUALITY_ALIASES])}.",
            param="quality",
        )
    return {"quality": mapped}


def _check_output(body: dict[str, Any]) -> None:
    _choice(body, "resolution", TIERS)
    background = _choice(body, "background", BACKGROUNDS)
    output_format = _choice(body, "output_format", OUTPUT_FORMATS)
    if background == "transparent" and output_format not in (None, *ALPHA_FORMATS):
        raise InvalidRequestError(
            f"'background': 'transparent' needs an output_format with alpha "
            f"({', '.join(ALPHA_FORMATS)}), not {output_format!r}.",
            param="background",
        )
    for name in ("seed", "output_compression"):
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise InvalidRequestError(f"'{name}' must be an integer.", param=name)


STREAMING_VENDORS = ("openai/",)  # OpenRouter: native streaming "currently OpenAI"


def streams(deployment: Deployment) -> bool:
    """As OpenRouter's image model list says (``supports_streaming``); before it has been
    read (``openrouter_api: images``), by vendor."""
    listed = deployment.learned.get(STREAMS)
    if isinstance(listed, bool):
        return listed
    return deployment.model.lower().startswith(STREAMING_VENDORS)


def images_api_payload(request: ImageRequest, deployment: Deployment) -> dict[str, Any]:
    """The ``POST /images`` body of a generation (an edit adds its ``input_references``)."""
    request.refuse_unsupported(UNSUPPORTED, "for OpenRouter's images API")
    model = deployment.model
    if request.stream and not streams(deployment):
        raise InvalidRequestError(
            f"OpenRouter's images API does not stream {model}: it answers whole. "
            "Send the request without 'stream'.",
            param="stream",
        )
    _check_output(request.body)
    body = request.params(*CONSUMED)
    body.update(model=model, prompt=request.prompt)
    body.update(_shape(request.body, request.size))
    body.update(_quality(request.quality))
    if request.n > 1:
        body["n"] = request.n
    if request.stream:
        body["stream"] = True
    return body


def parse_images_api(body: dict[str, Any]) -> ImageResult:
    """An images API answer (``answer_object`` of it)."""
    data = body.get("data")
    items: list[dict[str, Any]] = []
    formats: set[str] = set()
    for item in data if isinstance(data, list) else ():
        if isinstance(item, dict) and isinstance(item.get("b64_json"), str) and item["b64_json"]:
            items.append({"b64_json": item["b64_json"]})
            if (fmt := _output_format(item.get("media_type"))) is not None:
                formats.add(fmt)
    if not items:
        raise UpstreamError(
            f"{PROVIDER}: the images API answered without an image", provider=PROVIDER
        )
    usage = body.get("usage")
    created = body.get("created")
    result = ImageResult(
        data=items,
        usage=Usage.of(images_usage(usage)) if isinstance(usage, dict) else None,
        created=created if isinstance(created, int) and not isinstance(created, bool) else None,
    )
    if len(formats) == 1:
        result.extra["output_format"] = formats.pop()
    return result


def _output_format(media_type: Any) -> str | None:
    if isinstance(media_type, str) and media_type.startswith("image/"):
        fmt = media_type.removeprefix("image/")
        return fmt if fmt in OUTPUT_FORMATS else None
    return None


class OpenRouterImageStream(OpenAIImageStream):
    """OpenRouter's image SSE in, OpenAI's ``<prefix>.partial_image`` / ``<prefix>.completed``
    events out (``prefix``: ``image_generation``, or ``image_edit`` for an edit); ``[DONE]``
    ends the stream as OpenAI's does."""

    __slots__ = ("prefix",)

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def feed(self, event: SSEEvent) -> list[tuple[str | None, Any]]:
        return [out for _, payload in super().feed(event) for out in self.translate(payload)]

    def translate(self, payload: Any) -> list[tuple[str | None, Any]]:
        if not isinstance(payload, dict):
            return []
        kind = payload.get("type")
        if kind == "error" or isinstance(payload.get("error"), dict):
            error = payload.get("error")
            raise map_error_body(
                200, {}, b"", error=error if isinstance(error, dict) else {"message": str(error)}
            )
        if kind == "image_generation.partial_image":
            name = f"{self.prefix}.partial_image"
            out = {k: payload[k] for k in ("b64_json", "partial_image_index") if k in payload}
            return [(name, {"type": name, **out})]
        if kind == "image_generation.completed":
            name = f"{self.prefix}.completed"
            done: dict[str, Any] = {"type": name, "b64_json": payload.get("b64_json")}
            if isinstance(payload.get("created"), int):
                done["created_at"] = payload["created"]
            if (fmt := _output_format(payload.get("media_type"))) is not None:
                done["output_format"] = fmt
            if isinstance(payload.get("usage"), dict):
                done["usage"] = images_usage(payload["usage"])
            return [(name, done)]
        return []  # image_generation.text_chunk (SVG output) and anything new
