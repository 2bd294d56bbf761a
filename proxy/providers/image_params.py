"""The OpenAI image parameters, told apart from a provider's own, and the checks every
adapter that maps them by hand shares (Bedrock's families, Stability AI's own API): a size
read as pixels, a refusal that names what the provider accepts instead.

Everything that is not an OpenAI parameter is the provider's own (native) parameter and
passes through.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from proxy.errors import InvalidRequestError

OPENAI_PARAMS = frozenset(
    {
        "model",
        "prompt",
        "n",
        "size",
        "quality",
        "response_format",
        "style",
        "user",
        "background",
        "moderation",
        "output_compression",
        "output_format",
        "partial_images",
        "stream",
    }
)
EDIT_PARAMS = OPENAI_PARAMS | {"input_fidelity"}  # /images/edits adds it


class ImageParams(Protocol):
    """What these checks read of a generation or an edit request."""

    @property
    def body(self) -> dict[str, Any]: ...

    @property
    def quality(self) -> str | None: ...


_SIZE = re.compile(r"^\s*(\d{2,5})\s*[xX]\s*(\d{2,5})\s*$")


def refuse(family: str, param: str, value: Any, accepted: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"{family} cannot honour {param}={value!r}; it accepts {accepted}.",
        param=param,
        code="unsupported_parameter_value",
    )


def refuse_unsupported(body: dict[str, Any], unsupported: dict[str, str], where: str) -> None:
    """A 400 for the first parameter of ``unsupported`` (name -> why) the client sent, never a
    silent drop: ``'<name>' is not supported by <where>: <why>.``"""
    for name, hint in unsupported.items():
        if body.get(name) is not None:
            raise InvalidRequestError(
                f"'{name}' is not supported by {where}: {hint}.",
                param=name,
                code="unsupported_parameter",
            )


def native_params(
    request: ImageParams, openai_params: frozenset[str] = OPENAI_PARAMS
) -> dict[str, Any]:
    """The client's parameters that are not OpenAI's: the family's own, passed through."""
    return {k: v for k, v in request.body.items() if k not in openai_params}


def n_was_sent(request: ImageParams) -> bool:
    return request.body.get("n") is not None


def parse_size(family: str, size: str | None, accepted: str) -> tuple[int, int] | None:
    """``"1024x768"`` -> (1024, 768); ``None`` / ``"auto"`` -> None (the model's default)."""
    if size is None or size == "auto":
        return None
    found = _SIZE.match(size)
    if not found:
        raise refuse(family, "size", size, accepted)
    return int(found.group(1)), int(found.group(2))
