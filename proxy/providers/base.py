"""The adapter contract: pure translation, no I/O, no framework objects.

An image adapter turns one OpenAI image request into one or more upstream requests (several
when a provider needs fan-out for ``n``), and each upstream answer back into OpenAI image
items. A chat adapter does the same for chat completions. Streams translate the same way: per
stream, a ``StreamTranslator`` is fed the upstream's SSE events one by one and returns the
payloads each completes (``chat.completion.chunk`` dicts; ``(event name, payload)`` pairs for
image streams); reading, accounting and framing are the attempt layer's
(``proxy.attempt.relay``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

from proxy.config.deployment import Deployment
from proxy.errors import ProxyError
from proxy.pricing.usage import normalize
from proxy.schemas import ChatRequest, ImageRequest
from proxy.schemas.edits import EditRequest, VariationRequest
from proxy.sse import SSEEvent
from proxy.upstream_request import UpstreamRequest, UpstreamResponse


@dataclass(frozen=True, slots=True)
class Usage:
    """An upstream answer's token usage: the counts typed, and ``raw``, every field the
    provider sent (what goes into the answer body and ``ctx.usage``, unchanged).

    The counts are those of ``proxy.pricing.usage.normalize`` (the OpenAI Images API, chat
    completions and Gemini ``usageMetadata`` shapes); a shape it does not know counts zero.
    ``input_tokens`` and ``output_tokens`` include cached and reasoning tokens;
    ``image_tokens`` and ``text_tokens`` are input and output together.
    """

    raw: dict[str, Any]
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    image_tokens: int = 0
    text_tokens: int = 0

    @classmethod
    def of(cls, raw: dict[str, Any] | None) -> Usage | None:
        """The usage of a provider's usage object; None when there is none."""
        if not isinstance(raw, dict):
            return None
        tokens = normalize(raw)
        if tokens is None:
            return cls(raw=raw)
        return cls(
            raw=raw,
            input_tokens=tokens.prompt_tokens,
            output_tokens=tokens.completion_tokens,
            total_tokens=tokens.total,
            image_tokens=tokens.image_in + tokens.cached_image_in + tokens.image_out,
            text_tokens=tokens.text_in + tokens.cached_text_in + tokens.text_out,
        )


@dataclass(slots=True)
class ImageResult:
    """What one upstream answer contributes to an OpenAI ``ImagesResponse``."""

    data: list[dict[str, Any]]
    usage: Usage | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # background, output_format, size, ...
    created: int | None = None


@dataclass(slots=True)
class ChatResult:
    body: dict[str, Any]
    usage: Usage | None = None


def merge_image_results(results: list[ImageResult]) -> dict[str, Any]:
    """One ``ImagesResponse`` from the answers of a fanned-out request."""
    first = results[0]
    body: dict[str, Any] = {"created": first.created or int(time.time()), "data": []}
    usage: dict[str, Any] | None = None
    for r in results:
        body["data"].extend(r.data)
        for k, v in r.extra.items():
            body.setdefault(k, v)
        if r.usage is not None and r.usage.raw:
            usage = r.usage.raw if usage is None else add_usage(usage, r.usage.raw)
    if usage is not None:
        body["usage"] = usage
    return body


def merge_chat_results(results: list[ChatResult]) -> ChatResult:
    """One ``chat.completion`` from the answers of a fanned-out request (``n`` calls of one
    choice each): the choices renumbered in order, the usage summed."""
    body = dict(results[0].body)
    choices: list[Any] = []
    usage: dict[str, Any] | None = None
    for r in results:
        for choice in r.body.get("choices") or ():
            choices.append(
                {**choice, "index": len(choices)} if isinstance(choice, dict) else choice
            )
        if r.usage is not None and r.usage.raw:
            usage = r.usage.raw if usage is None else add_usage(usage, r.usage.raw)
    body["choices"] = choices
    if usage is not None:
        body["usage"] = usage
    return ChatResult(body=body, usage=Usage.of(usage))


def add_usage(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Sum two usage objects key by key (nested details included)."""
    out = dict(a)
    for k, v in b.items():
        if isinstance(v, bool):
            out.setdefault(k, v)
        elif isinstance(v, int | float) and isinstance(out.get(k), int | float):
            out[k] = out[k] + v
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = add_usage(out[k], v)
        else:
            out.setdefault(k, v)
    return out


P = TypeVar("P")
ChatChunk = dict[str, Any]  # one ``chat.completion.chunk``
ImageEvent = tuple[str | None, Any]  # an image stream's event name and payload


class StreamTranslator(Protocol[P]):
    """One stream's translation, upstream SSE events in, payloads out: no I/O, no async.

    ``feed`` returns the payloads an event completes (often one, maybe none) and may raise
    a ``ProxyError`` (an error event, a blocked prompt); ``done`` turns true once the
    upstream said its last word (OpenAI's ``[DONE]``), after which nothing more is fed;
    ``end`` (called once, at ``done`` or at the end of the upstream's body) returns the
    closing payloads or raises when the stream ended too early. What ``feed`` returned goes
    out before any later error: a translator that meets an error after payloads of the same
    event returns them, sets ``done`` and raises the error from ``end``.
    """

    @property
    def done(self) -> bool: ...

    def feed(self, event: SSEEvent) -> list[P]: ...

    def end(self) -> list[P]: ...


class ImageAdapter(Protocol):
    """Translation for ``POST /v1/images/generations`` on one provider family.

    ``image_hosts``, read by the delivery stage (``proxy.images``): the host names (or
    parent domains) the provider returns image URLs from. When a client asks for
    ``b64_json`` and the provider answered with a URL, the proxy downloads it only from these
    hosts (plus ``image_fetch.allowed_hosts``). Adapters of base64-only providers declare
    ``()``; the delivery stage stores base64 and hands out links when a client asks for
    ``url``. ``data:`` URIs in ``url`` are decoded.
    """

    supports_stream: bool

    @property
    def image_hosts(self) -> tuple[str, ...]: ...

    def build(self, request: ImageRequest, deployment: Deployment) -> list[UpstreamRequest]: ...

    def parse(
        self, response: UpstreamResponse, request: ImageRequest, deployment: Deployment
    ) -> ImageResult: ...

    def stream_translator(
        self, request: ImageRequest, deployment: Deployment
    ) -> StreamTranslator[ImageEvent]:
        """Upstream SSE events in, ``(event name, payload)`` pairs out; called only when
        ``supports_stream``."""
        ...

    def map_error(self, response: UpstreamResponse, deployment: Deployment) -> ProxyError: ...


class NoImageStream:
    """The streaming half of an image adapter whose provider cannot stream."""

    supports_stream = False

    def stream_translator(
        self, request: ImageRequest, deployment: Deployment
    ) -> StreamTranslator[ImageEvent]:
        raise NotImplementedError(f"{type(self).__name__} does not stream images")


class NoEditStream:
    """The edit-streaming half of an image editor whose provider answers edits whole."""

    supports_edit_stream = False

    def edit_stream_translator(
        self, request: EditRequest, deployment: Deployment
    ) -> StreamTranslator[ImageEvent]:
        raise NotImplementedError(f"{type(self).__name__} does not stream image edits")


@runtime_checkable
class ImageEditor(Protocol):
    """An image adapter's optional capability, checked with ``isinstance`` by the attempt
    stage and the config check: ``POST /v1/images/edits``. An adapter without it cannot
    edit, and its deployments are refused before any upstream call.

    ``edit_refusal`` names what keeps one deployment from editing (a model of the family
    that cannot, e.g. dall-e-3), or None; ``supports_edit_stream`` says whether
    ``edit_stream_translator`` may be called (``image_edit.*`` events)."""

    supports_edit_stream: bool

    def edit_refusal(self, deployment: Deployment) -> str | None: ...

    def build_edit(self, request: EditRequest, deployment: Deployment) -> list[UpstreamRequest]: ...

    def parse_edit(
        self, response: UpstreamResponse, request: EditRequest, deployment: Deployment
    ) -> ImageResult: ...

    def edit_stream_translator(
        self, request: EditRequest, deployment: Deployment
    ) -> StreamTranslator[ImageEvent]: ...

    def map_error(self, response: UpstreamResponse, deployment: Deployment) -> ProxyError: ...


@runtime_checkable
class ImageVariator(Protocol):
    """An image adapter's optional capability: ``POST /v1/images/variations`` (dall-e-2's
    shape: one image, no prompt), checked like ``ImageEditor``."""

    def variation_refusal(self, deployment: Deployment) -> str | None: ...

    def build_variation(
        self, request: VariationRequest, deployment: Deployment
    ) -> list[UpstreamRequest]: ...

    def parse_variation(
        self, response: UpstreamResponse, request: VariationRequest, deployment: Deployment
    ) -> ImageResult: ...

    def map_error(self, response: UpstreamResponse, deployment: Deployment) -> ProxyError: ...


@runtime_checkable
class UploadForwarder(Protocol):
    """An edit or variation adapter's optional capability: its build never reads the
    uploaded bytes (it forwards each upload as a ``FilePart`` of the image's blob, or needs
    only its type and size). Its uploads stay in their temporary files and are sent from
    there; every other adapter gets them loaded into memory before it builds
    (``proxy.blob``)."""

    def forwards_uploads(self, deployment: Deployment) -> bool: ...


@dataclass(frozen=True, slots=True)
class PollAgain:
    """An asynchronous provider's task is not finished: send ``request`` (through the same
    caller: credentials, caps, error mapping) after ``after`` seconds and hand its answer to
    ``next_poll`` again, with ``memo`` (what the adapter needs to remember between answers,
    e.g. the submit's reported cost; adapters keep no state of their own)."""

    request: UpstreamRequest
    after: float
    memo: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class PollingImages(Protocol):
    """An image adapter's optional capability, checked with ``isinstance`` by the attempt
    stage: a provider that answers a submit with a task to poll (Black Forest Labs).

    ``next_poll`` is called with every answer of a task, the submit's first (``memo`` empty),
    and decides without I/O: ``PollAgain`` (still pending) or the final ``UpstreamResponse``,
    which ``parse`` / ``parse_edit`` then read (the adapter may fold ``memo`` into it). It
    raises a ``ProxyError`` for a task that failed (moderated, lost, refused polling URL).
    Waiting, the loop and its time limit are the attempt layer's (``Caller.settle``)."""

    def next_poll(
        self, response: UpstreamResponse, memo: dict[str, Any], deployment: Deployment
    ) -> PollAgain | UpstreamResponse: ...


@runtime_checkable
class DiscoveringImages(Protocol):
    """An image adapter's optional capability: a translation that depends on what the
    upstream lists about the deployment's model (OpenRouter: whether its images API serves
    the model), checked with ``capable`` by the attempt stage.

    ``discovery`` is the question, a ``GET`` (None: the config already answered it). The
    attempt layer (``proxy.attempt.discovery``) asks it once per URL and hour, whatever the
    number of deployments and requests, and hands the answer to ``learn``, whose facts it
    keeps in ``deployment.learned`` for ``build`` to read, without I/O. A question that fails
    teaches nothing: what the adapter does without the facts holds."""

    def discovery(self, deployment: Deployment) -> UpstreamRequest | None: ...

    def learn(self, response: UpstreamResponse, deployment: Deployment) -> dict[str, Any]: ...


class ChatAdapter(Protocol):
    """Translation for ``POST /v1/chat/completions`` on one provider family; a provider
    that must fan ``n`` out into several calls is also a ``FanOutChat``."""

    def build(self, request: ChatRequest, deployment: Deployment) -> UpstreamRequest: ...

    def parse(
        self, response: UpstreamResponse, request: ChatRequest, deployment: Deployment
    ) -> ChatResult: ...

    def stream_translator(
        self, request: ChatRequest, deployment: Deployment
    ) -> StreamTranslator[ChatChunk]:
        """Upstream SSE events in, OpenAI ``chat.completion.chunk`` dicts out."""
        ...

    def map_error(self, response: UpstreamResponse, deployment: Deployment) -> ProxyError: ...


@runtime_checkable
class FanOutChat(Protocol):
    """A chat adapter's optional capability, checked with ``isinstance`` by the attempt
    stage: ``n`` fanned out into several calls (Gemini image models refuse ``candidateCount
    > 1``); the answers are parsed one by one and merged with ``merge_chat_results``."""

    def build_all(self, request: ChatRequest, deployment: Deployment) -> list[UpstreamRequest]: ...


_CAPABILITIES: dict[tuple[type, type], bool] = {}


def capable(adapter: object, capability: type) -> bool:
    """``isinstance(adapter, capability)`` for the optional capabilities above, answered once
    per adapter class: a runtime-checkable protocol's check walks its members on every call
    (about 18 us, more than a tenth of a whole request's own work on the hot path)."""
    key = (type(adapter), capability)
    known = _CAPABILITIES.get(key)
    if known is None:
        known = _CAPABILITIES[key] = isinstance(adapter, capability)
    return known


def join_url(base: str, path: str) -> str:
    return base.rstrip("/") + "/" + path.lstrip("/")
