"""Edits by prompt alone (Gemini image models, OpenRouter): the OpenAI edit fields such an
upstream cannot honour are a 400 before any call, never dropped, and the rest of the edit is
read as a generation request that the adapter extends with the input images."""

from __future__ import annotations

from proxy.errors import InvalidRequestError
from proxy.schemas import ImageRequest
from proxy.schemas.edits import EditRequest

EDIT_ONLY_DEFAULTS = {"input_fidelity": (None, "low")}  # OpenAI's edit fields they lack


def prompt_edit_as_generation(request: EditRequest, model: str, vendor: str) -> ImageRequest:
    """The edit's text fields as a generation request; a 400 for a ``mask`` (or GPT Image
    2.5's ``markup``) and for ``input_fidelity=high``, naming ``model`` and ``vendor``."""
    for name, overlay in (("mask", request.mask), ("markup", request.markup)):
        if overlay is not None:
            raise InvalidRequestError(
                f"'{name}' is not supported by {model}: {vendor} edits by prompt only (no "
                "mask, no edit mode). Send the edit without it and say in the prompt what to "
                "change and where.",
                param=name,
                code="unsupported_parameter",
            )
    for name, defaults in EDIT_ONLY_DEFAULTS.items():
        value = request.body.get(name)
        if value not in defaults:
            raise InvalidRequestError(
                f"'{name}'={value!r} is not supported by {model}: {vendor} has no such "
                "setting; say in the prompt what of the input images to keep.",
                param=name,
                code="unsupported_parameter",
            )
    return ImageRequest.from_body(
        {k: v for k, v in request.body.items() if k not in EDIT_ONLY_DEFAULTS}
    )
