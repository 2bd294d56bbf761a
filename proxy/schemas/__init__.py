"""The OpenAI wire shapes: validated requests (``requests``) and their documented form
(``wire``, ``admin``: the pydantic models the OpenAPI document is built from)."""

from proxy.schemas.requests import (
    FORBIDDEN_FIELDS,
    FORBIDDEN_PREFIXES,
    IMAGE_RESPONSE_FORMATS,
    MAX_N,
    ChatRequest,
    ImageRequest,
    checked_name,
    parse_json_object,
    refuse_routing_overrides,
)

__all__ = [
    "FORBIDDEN_FIELDS",
    "FORBIDDEN_PREFIXES",
    "IMAGE_RESPONSE_FORMATS",
    "MAX_N",
    "ChatRequest",
    "ImageRequest",
    "checked_name",
    "parse_json_object",
    "refuse_routing_overrides",
]
