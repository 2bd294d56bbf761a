"""The OpenAI wire shapes the gateway accepts, validated once at the edge.

Requests stay plain dicts underneath so parameters the gateway does not know reach the
provider untouched (the OpenAI SDK's ``extra_body``); the fields the gateway reads are
checked here and exposed as attributes. Every problem is a 400 naming the parameter.

``model`` and ``user`` are names the gateway stores, logs and echoes in a header; they are
held to ``proxy.names`` (no control characters, at most 256 characters).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from proxy.errors import InvalidRequestError
from proxy.names import name_problem

# A client never chooses where provider credentials go (CVE-2024-6587): these are refused.
FORBIDDEN_FIELDS = frozenset(
    {
        "api_base",
        "base_url",
        "api_key",
        "api_version",
        "azure_ad_token",
        "azure_ad_token_provider",
        "azure_endpoint",
        "azure_username",
        "azure_password",
        "tenant_id",
        "client_id",
        "client_secret",
        "organization",
        "custom_llm_provider",
        "litellm_params",
        "aws_bedrock_runtime_endpoint",
        "extra_headers",
    }
)
FORBIDDEN_PREFIXES = ("vertex_", "aws_")

MAX_N = 10
IMAGE_RESPONSE_FORMATS = ("url", "b64_json")


# Arrays and objects a request body may nest (the body itself is level 1). orjson reads up to
# 1,024 levels but writes at most 254, and the gateway writes what a client sent again, a few
# levels deeper (a provider's envelope, an admin answer, the spend record): a body of 254 to
# 1,024 levels was read, then failed on its way out with a 500. Half of what orjson writes
# leaves room for every envelope; no API this gateway speaks nests anywhere near it.
MAX_JSON_DEPTH = 128
TOO_DEEP = f"Request body nests arrays and objects too deeply (at most {MAX_JSON_DEPTH} levels)."


def parse_json_object(raw: bytes) -> dict[str, Any]:
    if not raw:
        raise InvalidRequestError("Request body is empty; expected a JSON object.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        reason = str(exc.args[0])
        if reason.startswith("depth limit exceeded"):  # orjson's own limit (1,024)
            raise InvalidRequestError(TOO_DEEP, code="json_too_deep") from None
        raise InvalidRequestError(f"Request body is not valid JSON: {reason}") from None
    if not isinstance(body, dict):
        raise InvalidRequestError(f"Request body must be a JSON object, got {type(body).__name__}.")
    # Each level takes two bytes ("[]"): a shorter body cannot be too deep and is not walked
    # (most image requests); the walk costs a look at each array and object, never at the
    # bytes of a string (a base64 image costs nothing).
    if len(raw) > 2 * MAX_JSON_DEPTH and nested_deeper(body, MAX_JSON_DEPTH):
        raise InvalidRequestError(TOO_DEEP, code="json_too_deep")
    return body


def nested_deeper(value: dict[str, Any] | list[Any], limit: int) -> bool:
    """Whether ``value`` nests arrays and objects more than ``limit`` levels (``value``
    itself is level 1). Level by level, without recursion: no recursion limit to reach."""
    level: list[Any] = [value]
    depth = 1
    while level:
        if depth > limit:
            return True
        below = []
        for container in level:
            for child in container.values() if isinstance(container, dict) else container:
                if isinstance(child, dict | list):
                    below.append(child)
        level = below
        depth += 1
    return False


def refuse_routing_overrides(body: dict[str, Any]) -> None:
    for key in body:
        if key in FORBIDDEN_FIELDS or key.startswith(FORBIDDEN_PREFIXES):
            raise InvalidRequestError(
                f"'{key}' cannot be set by a client: upstream endpoints and credentials "
                "come from the proxy's configuration only.",
                param=key,
                code="forbidden_parameter",
            )


def model_name(body: dict[str, Any]) -> str:
    model = body.get("model")
    if model is None:
        raise InvalidRequestError("'model' is required.", param="model", code="missing_model")
    if not isinstance(model, str) or not model:
        raise InvalidRequestError("'model' must be a non-empty string.", param="model")
    return checked_name(model, "model")


def checked_name(value: str, param: str) -> str:
    """``value`` when it is a usable name (``proxy.names``), else a 400 naming ``param``
    (and never quoting the value)."""
    problem = name_problem(value)
    if problem is not None:
        raise InvalidRequestError(f"'{param}' {problem}.", param=param)
    return value


def optional_name(body: dict[str, Any], name: str) -> str | None:
    value = optional_str(body, name)
    return None if value is None else checked_name(value, name)


def optional_str(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise InvalidRequestError(f"'{name}' must be a string.", param=name)
    return value


def _optional_bool(body: dict[str, Any], name: str) -> bool:
    value = body.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidRequestError(f"'{name}' must be a boolean.", param=name)
    return value


def body_params(body: dict[str, Any], exclude: tuple[str, ...]) -> dict[str, Any]:
    """A request's parameters minus ``model`` and those named in ``exclude``."""
    skip = {"model", *exclude}
    return {k: v for k, v in body.items() if k not in skip}


def image_count(body: dict[str, Any]) -> int:
    """``n``: 1 to ``MAX_N`` images, 1 when absent."""
    n = body.get("n")
    if n is None:
        return 1
    if isinstance(n, bool) or not isinstance(n, int):
        raise InvalidRequestError("'n' must be an integer.", param="n")
    if not 1 <= n <= MAX_N:
        raise InvalidRequestError(f"'n' must be between 1 and {MAX_N}, got {n}.", param="n")
    return n


def image_response_format(body: dict[str, Any]) -> str | None:
    response_format = optional_str(body, "response_format")
    if response_format is not None and response_format not in IMAGE_RESPONSE_FORMATS:
        raise InvalidRequestError(
            f"'response_format' must be 'url' or 'b64_json', got {response_format!r}.",
            param="response_format",
        )
    return response_format


@dataclass(slots=True)
class ImageRequest:
    body: dict[str, Any]  # everything the client sent, unknown parameters included
    model: str
    prompt: str
    n: int
    size: str | None
    quality: str | None
    response_format: str | None
    stream: bool
    user: str | None

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> ImageRequest:
        refuse_routing_overrides(body)
        model = model_name(body)
        prompt = body.get("prompt")
        if prompt is None:
            raise InvalidRequestError("'prompt' is required.", param="prompt")
        if not isinstance(prompt, str):
            raise InvalidRequestError("'prompt' must be a string.", param="prompt")
        if not prompt.strip():
            raise InvalidRequestError("'prompt' must not be empty.", param="prompt")
        return cls(
            body=body,
            model=model,
            prompt=prompt,
            n=image_count(body),
            size=optional_str(body, "size"),
            quality=optional_str(body, "quality"),
            response_format=image_response_format(body),
            stream=_optional_bool(body, "stream"),
            user=optional_name(body, "user"),
        )

    def refuse_unsupported(self, unsupported: Mapping[str, str], where: str) -> None:
        """A 400 for the first given parameter of ``unsupported`` (name -> why), never a
        silent drop: ``'<name>' is not supported <where>: <why>.``"""
        for name, hint in unsupported.items():
            if self.body.get(name) is not None:
                raise InvalidRequestError(
                    f"'{name}' is not supported {where}: {hint}.",
                    param=name,
                    code="unsupported_parameter",
                )

    def params(self, *exclude: str) -> dict[str, Any]:
        """The client's parameters minus ``model`` and anything named."""
        return body_params(self.body, exclude)


def _check_content(content: Any, where: str) -> None:
    """A message's content: text, or an array of parts, each an object with a string
    ``type``; a text part's ``text`` is a string (as OpenAI checks it). Other part types
    are the adapters' to translate or refuse."""
    if content is None or isinstance(content, str):
        return
    if not isinstance(content, list):
        raise InvalidRequestError(
            f"'{where}' must be a string or an array of content parts.", param=where
        )
    for j, part in enumerate(content):
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise InvalidRequestError(
                f"'{where}[{j}]' must be an object with a string 'type'.", param=f"{where}[{j}]"
            )
        if part["type"] == "text" and not isinstance(part.get("text"), str):
            raise InvalidRequestError(
                f"'{where}[{j}].text' must be a string.", param=f"{where}[{j}].text"
            )


@dataclass(slots=True)
class ChatRequest:
    body: dict[str, Any]
    model: str
    messages: list[dict[str, Any]]
    stream: bool
    include_usage: bool
    user: str | None

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> ChatRequest:
        refuse_routing_overrides(body)
        model = model_name(body)
        messages = body.get("messages")
        if messages is None:
            raise InvalidRequestError("'messages' is required.", param="messages")
        if not isinstance(messages, list) or not messages:
            raise InvalidRequestError("'messages' must be a non-empty array.", param="messages")
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or not isinstance(m.get("role"), str):
                raise InvalidRequestError(
                    f"'messages[{i}]' must be an object with a string 'role'.",
                    param=f"messages[{i}]",
                )
            _check_content(m.get("content"), f"messages[{i}].content")
        stream = _optional_bool(body, "stream")
        options = body.get("stream_options")
        if options is not None and not isinstance(options, dict):
            raise InvalidRequestError("'stream_options' must be an object.", param="stream_options")
        include_usage = bool(stream and options and options.get("include_usage"))
        return cls(
            body=body,
            model=model,
            messages=messages,
            stream=stream,
            include_usage=include_usage,
            user=optional_name(body, "user"),
        )

    def text_of(self, message: dict[str, Any]) -> str:
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "\n".join(
                p.get("text", "")
                for p in content
                if isinstance(p, dict) and p.get("type") == "text"
            )
        return ""
