"""``/v1/chat/completions`` on Gemini models, images in the answer.

The answer carries text in ``message.content`` and images as ``message.image`` (the first,
``{"url": data URI, "detail": "auto"}``) and ``message.images`` (all, OpenRouter's shape).
Streams translate ``streamGenerateContent?alt=sse`` event by event: text as
``delta.content``, each image as ``delta.image`` + ``delta.images``, then a chunk with
``finish_reason``, then a usage chunk. A block before anything was sent is a content-policy
error; after, the stream ends with ``finish_reason: "content_filter"``.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from proxy.config.deployment import Deployment
from proxy.errors import InvalidRequestError, ProxyError, UpstreamError
from proxy.providers.base import ChatResult, Usage
from proxy.providers.google.chat_params import request_body
from proxy.providers.google.contents import to_contents
from proxy.providers.google.errors import blocked, map_google_error
from proxy.providers.google.response import (
    CandidateOutput,
    InlineImage,
    camel_keys,
    chat_usage,
    prompt_block,
    read_candidate,
)
from proxy.providers.google.settings import endpoint, is_image_model, is_imagen, stream_query
from proxy.schemas import ChatRequest
from proxy.sse import SSEEvent
from proxy.upstream_request import UpstreamRequest, UpstreamResponse

MAX_N = 8  # Gemini's own candidateCount limit, kept for the fan-out of image models
FINISH = {
    "STOP": "stop",
    "FINISH_REASON_UNSPECIFIED": "stop",
    "MAX_TOKENS": "length",
    "MALFORMED_FUNCTION_CALL": "stop",
    "UNEXPECTED_TOOL_CALL": "stop",
    "TOO_MANY_TOOL_CALLS": "stop",
}


def finish_reason(google: str | None) -> str:
    return FINISH.get(google or "STOP", "content_filter")


def image_fields(images: list[InlineImage]) -> dict[str, Any]:
    if not images:
        return {}
    return {
        "image": {"url": images[0].data_uri, "detail": "auto"},
        "images": [{"type": "image_url", "image_url": {"url": i.data_uri}} for i in images],
    }


def _candidates(body: dict[str, Any]) -> list[tuple[int, CandidateOutput]]:
    out = []
    candidates = body.get("candidates")
    for pos, candidate in enumerate(candidates if isinstance(candidates, list) else ()):
        if isinstance(candidate, dict):
            index = candidate.get("index")
            out.append((index if isinstance(index, int) else pos, read_candidate(candidate)))
    return out


class GeminiChatStream:
    """``streamGenerateContent?alt=sse`` events in, ``chat.completion.chunk`` dicts out."""

    def __init__(self, adapter: GeminiChat, model: str) -> None:
        self.provider = adapter.provider
        self._adapter = adapter
        self._model = model
        self._id = f"chatcmpl-{uuid.uuid4().hex}"
        self._created = int(time.time())
        self._started: set[int] = set()
        self._finished: dict[int, str] = {}
        self._last: dict[str, Any] | None = None
        self._saw_text = self._saw_image = False
        self._error: Exception | None = None  # raised by ``end``, after what came before it
        self.done = False

    def _chunk(
        self, index: int, delta: dict[str, Any], finish: str | None = None
    ) -> dict[str, Any]:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": [{"index": index, "delta": delta, "finish_reason": finish}],
        }

    def feed(self, event: SSEEvent) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        try:
            self._feed(event, out)
        except Exception as exc:
            if not out:
                raise
            self._error = exc  # the chunks before it go out first
            self.done = True
        return out

    def _feed(self, event: SSEEvent, out: list[dict[str, Any]]) -> None:
        body = camel_keys(event.json())
        if not isinstance(body, dict):
            return
        if isinstance(body.get("error"), dict):
            # An error event: Google's status decides the class (a 429 before anything
            # was sent is still a 429 the client and the router can act on).
            code = body["error"].get("code")
            http = code if isinstance(code, int) and 400 <= code < 600 else 500
            raise map_google_error(UpstreamResponse(http, {}, event.data), self.provider)
        if "usageMetadata" in body:
            self._last = body
        error = self._adapter._blocked_prompt(body)
        started = self._started
        if error:
            if not started:
                raise error
            self._finished = dict.fromkeys(started, "content_filter")
            self.done = True
            return
        for index, candidate in _candidates(body):
            for text in candidate.texts:
                if not text:
                    continue
                self._saw_text = True
                delta: dict[str, Any] = {"content": text}
                if index not in started:
                    delta = {"role": "assistant", **delta}
                    started.add(index)
                out.append(self._chunk(index, delta))
            for image in candidate.images:
                self._saw_image = True
                delta = image_fields([image])
                if index not in started:
                    delta = {"role": "assistant", "content": "", **delta}
                    started.add(index)
                out.append(self._chunk(index, delta))
            if candidate.finish_reason:
                if index not in started and candidate.finish_reason == "MAX_TOKENS":
                    started.add(index)  # out of tokens before any output: "length"
                    out.append(self._chunk(index, {"role": "assistant", "content": ""}))
                if index not in started:
                    raise blocked(
                        self.provider,
                        "Gemini returned an empty answer",
                        candidate.finish_reason,
                        candidate.finish_message,
                    )
                self._finished[index] = finish_reason(candidate.finish_reason)

    def end(self) -> list[dict[str, Any]]:
        if self._error is not None:
            raise self._error
        if not self._started:
            raise UpstreamError(
                f"{self.provider} stream ended without an answer", provider=self.provider
            )
        if self._started - set(self._finished):
            raise UpstreamError(
                f"{self.provider} stream ended before the answer finished", provider=self.provider
            )
        out = [self._chunk(index, {}, self._finished[index]) for index in sorted(self._finished)]
        images_only = self._saw_image and not self._saw_text
        last = self._last
        usage = chat_usage(last, images_only=images_only) if last is not None else None
        if usage is not None:
            out.append(
                {
                    "id": self._id,
                    "object": "chat.completion.chunk",
                    "created": self._created,
                    "model": self._model,
                    "choices": [],
                    "usage": usage,
                }
            )
        return out


class GeminiChat:
    def __init__(self, provider: str) -> None:
        self.provider = provider

    def build_all(self, request: ChatRequest, deployment: Deployment) -> list[UpstreamRequest]:
        """One call per choice for image models (they refuse ``candidateCount > 1``)."""
        calls = self._fan_out(request, deployment)
        return [self.build(request, deployment) for _ in range(calls)]

    def _fan_out(self, request: ChatRequest, deployment: Deployment) -> int:
        n = request.body.get("n")
        if n is None:
            return 1
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_N:
            raise InvalidRequestError(f"'n' must be an integer from 1 to {MAX_N}.", param="n")
        if n == 1 or not is_image_model(deployment.model):
            return 1  # text models take candidateCount
        if request.stream:
            raise InvalidRequestError(
                f"'n' > 1 with 'stream' is not supported for {deployment.model} (Google makes "
                "one image answer per call); send n=1 or stream=false.",
                param="n",
                code="unsupported_parameter",
            )
        return n

    def build(self, request: ChatRequest, deployment: Deployment) -> UpstreamRequest:
        if is_imagen(deployment.model):
            raise InvalidRequestError(
                f"The model '{deployment.model_name}' is an Imagen model: it serves "
                "/v1/images/generations only, not chat completions.",
                param="model",
            )
        if request.stream:
            self._fan_out(request, deployment)  # refuses n > 1 for image models
        contents, system = to_contents(request.messages)
        body: dict[str, Any] = {"contents": contents}
        if system:
            body["systemInstruction"] = system
        body.update(request_body(request, deployment.model))
        if request.stream:
            req = UpstreamRequest.post_json(
                endpoint(deployment, "streamGenerateContent"), body, stream=True
            )
            req.params = stream_query()
            return req
        return UpstreamRequest.post_json(endpoint(deployment, "generateContent"), body)

    def _blocked_prompt(self, body: dict[str, Any]) -> ProxyError | None:
        block = prompt_block(body)
        return blocked(self.provider, "the prompt was blocked", *block) if block else None

    def parse(
        self, response: UpstreamResponse, request: ChatRequest, deployment: Deployment
    ) -> ChatResult:
        body = camel_keys(response.json())
        if not isinstance(body, dict):
            raise UpstreamError(
                f"{self.provider} answered with a non-object", provider=self.provider
            )
        error = self._blocked_prompt(body)
        if error:
            raise error
        candidates = _candidates(body)
        if not any(c.texts or c.images for _, c in candidates):
            first = candidates[0][1] if candidates else CandidateOutput()
            if first.finish_reason == "MAX_TOKENS":  # e.g. thinking used the whole budget
                return self._empty(body, request, candidates)
            raise blocked(
                self.provider,
                "Gemini returned an empty answer",
                first.finish_reason,
                first.finish_message,
            )
        choices = []
        for index, candidate in candidates:
            message = {"role": "assistant", "content": "".join(candidate.texts)}
            message.update(image_fields(candidate.images))
            choices.append(
                {
                    "index": index,
                    "message": message,
                    "finish_reason": finish_reason(candidate.finish_reason),
                }
            )
        usage = chat_usage(body, images_only=all(c.images and not c.texts for _, c in candidates))
        out: dict[str, Any] = {
            "id": f"chatcmpl-{body.get('responseId') or uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.model,
            "choices": choices,
        }
        if usage is not None:
            out["usage"] = usage
        return ChatResult(body=out, usage=Usage.of(usage))

    def _empty(
        self,
        body: dict[str, Any],
        request: ChatRequest,
        candidates: list[tuple[int, CandidateOutput]],
    ) -> ChatResult:
        """Out of tokens before any output: an empty message with ``finish_reason: length``."""
        usage = chat_usage(body)
        out: dict[str, Any] = {
            "id": f"chatcmpl-{body.get('responseId') or uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.model,
            "choices": [
                {
                    "index": index,
                    "message": {"role": "assistant", "content": ""},
                    "finish_reason": "length",
                }
                for index, _ in candidates
            ],
        }
        if usage is not None:
            out["usage"] = usage
        return ChatResult(body=out, usage=Usage.of(usage))

    def stream_translator(self, request: ChatRequest, deployment: Deployment) -> GeminiChatStream:
        return GeminiChatStream(self, request.model)

    def map_error(self, response: UpstreamResponse, deployment: Deployment) -> ProxyError:
        return map_google_error(response, self.provider)
