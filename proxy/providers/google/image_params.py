"""The OpenAI image parameters Google has no equivalent for: accepted when they ask for the
default, refused with a 400 naming a native alternative otherwise. Everything else the
client sent (Google's own names) passes through."""

from __future__ import annotations

from typing import Any

from proxy.errors import InvalidRequestError
from proxy.schemas import ImageRequest

# Read and translated by the adapters; never forwarded as is.
OPENAI_PARAMS = frozenset(
    {
        "model",
        "prompt",
        "n",
        "size",
        "quality",
        "response_format",
        "user",
        "stream",
        "style",
        "background",
        "output_format",
        "output_compression",
        "moderation",
        "partial_images",
    }
)
# (parameter, values that mean "the default", hint naming the native parameter)
_DEFAULT_ONLY: tuple[tuple[str, frozenset[Any], str], ...] = (
    ("quality", frozenset({None, "auto", "standard"}), "set the resolution with {size_param}"),
    ("style", frozenset({None}), "describe the style in the prompt"),
    ("background", frozenset({None, "auto", "opaque"}), "Google models cannot make them"),
    ("moderation", frozenset({None, "auto"}), "use {safety_param}"),
    ("partial_images", frozenset({None, 0}), "Google sends no partial images"),
)


def refuse_unsupported(
    request: ImageRequest, model: str, *, size_param: str, safety_param: str
) -> None:
    for name, defaults, hint in _DEFAULT_ONLY:
        value = request.body.get(name)
        try:
            ok = value in defaults
        except TypeError:  # unhashable
            ok = False
        if not ok:
            raise InvalidRequestError(
                f"'{name}'={value!r} is not supported by {model}; "
                + hint.format(size_param=size_param, safety_param=safety_param)
                + ".",
                param=name,
                code="unsupported_parameter",
            )


def native_params(request: ImageRequest) -> dict[str, Any]:
    """What the client sent beyond the OpenAI parameters (Google's own fields)."""
    return {k: v for k, v in request.body.items() if k not in OPENAI_PARAMS}


def output_mime(request: ImageRequest, model: str, allowed: tuple[str, ...]) -> str | None:
    fmt = request.body.get("output_format")
    if fmt is None:
        return None
    if fmt == "jpg":
        fmt = "jpeg"
    if fmt not in allowed:
        raise InvalidRequestError(
            f"'output_format'={fmt!r} is not supported by {model}; use one of "
            f"{', '.join(allowed)}.",
            param="output_format",
            code="unsupported_parameter",
        )
    return f"image/{fmt}"


def output_compression(request: ImageRequest) -> int | None:
    value = request.body.get("output_compression")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise InvalidRequestError(
            "'output_compression' must be an integer from 0 to 100.", param="output_compression"
        )
    return value
