"""The OpenAI wire shapes of the model endpoints, as the OpenAPI document shows them.

``proxy.schemas.requests`` validates a request on the hot path (a few dict reads, every
problem a 400 naming the parameter); these pydantic models describe the same bodies for
``/openapi.json``, for client generators and for fuzzing. Request models allow extra fields:
parameters the gateway does not know travel to the provider untouched (the SDKs'
``extra_body``). The constraints here are the ones the validators enforce, no more, so a body
valid for the document is never refused for its shape.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from proxy.schemas.requests import MAX_N

ImageResponseFormat = Literal["url", "b64_json"]  # IMAGE_RESPONSE_FORMATS (a test keeps them equal)


class _Open(BaseModel):
    """A request object: unknown fields are allowed and forwarded."""

    model_config = ConfigDict(extra="allow")


class _Shape(BaseModel):
    """A response object: the fields the gateway writes (providers may add more)."""

    model_config = ConfigDict(extra="allow")


# --- errors ----------------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    message: str = Field(description="What went wrong, naming the parameter when one is at fault.")
    type: str = Field(examples=["invalid_request_error"])
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    """Every error the gateway answers, its own or a provider's."""

    error: ErrorDetail


# --- images ----------------------------------------------------------------------------------


class ImageGenerationRequest(_Open):
    """``POST /v1/images/generations``."""

    prompt: str = Field(min_length=1, description="What to draw; must not be blank.")
    model: str = Field(min_length=1, description="A public model name from `GET /v1/models`.")
    n: int | None = Field(default=1, ge=1, le=MAX_N, description="How many images.")
    size: str | None = Field(
        default=None,
        description="`WxH` (e.g. `1024x1024`) or `auto`; translated to each provider's "
        "aspect ratio / resolution, or refused with a 400 when it cannot be honoured.",
    )
    quality: str | None = Field(default=None, examples=["auto", "high", "medium", "low"])
    response_format: ImageResponseFormat | None = Field(
        default=None,
        description="`b64_json` or `url`; the gateway converts when the provider answers the "
        "other one.",
    )
    style: str | None = None
    background: str | None = Field(default=None, examples=["transparent", "opaque", "auto"])
    moderation: str | None = Field(default=None, examples=["low", "auto"])
    output_format: str | None = Field(default=None, examples=["png", "jpeg", "webp"])
    output_compression: int | None = None
    partial_images: int | None = None
    stream: bool | None = Field(
        default=False,
        description="Server-sent events: `image_generation.partial_image` then "
        "`image_generation.completed`.",
    )
    user: str | None = Field(default=None, description="The end user, for spend and budgets.")


class ImageEditRequest(_Open):
    """``POST /v1/images/edits`` as multipart/form-data (what the OpenAI SDKs send)."""

    image: list[bytes] = Field(
        min_length=1,
        max_length=16,
        description="The images: one `image` part, or `image[]` repeated (up to 16); PNG, "
        "JPEG or WEBP, each at most `general_settings.max_image_upload_mb` (50 MB).",
    )
    prompt: str = Field(min_length=1, description="The edit to make; must not be blank.")
    model: str = Field(min_length=1, description="A public model name from `GET /v1/models`.")
    mask: bytes | None = Field(
        default=None,
        description="A PNG the size of the first image; fully transparent pixels mark the "
        "area to edit.",
    )
    n: int | None = Field(default=1, ge=1, le=MAX_N)
    size: str | None = None
    quality: str | None = None
    response_format: ImageResponseFormat | None = None
    output_format: str | None = Field(default=None, examples=["png", "jpeg", "webp"])
    output_compression: int | None = None
    background: str | None = Field(default=None, examples=["transparent", "opaque", "auto"])
    input_fidelity: str | None = Field(default=None, examples=["high", "low"])
    stream: bool | None = Field(
        default=False,
        description="Server-sent events: `image_edit.partial_image` then `image_edit.completed`.",
    )
    partial_images: int | None = None
    user: str | None = None


class ImageReference(BaseModel):
    """An image of a JSON edit body: a `data:` URL (or an http(s) URL on a host the operator
    allowed)."""

    model_config = ConfigDict(extra="forbid")
    image_url: str


class ImageEditJSONRequest(_Open):
    """``POST /v1/images/edits`` as JSON (OpenAI's `EditImageBodyJsonParam`)."""

    images: list[ImageReference] = Field(min_length=1, max_length=16)
    mask: ImageReference | None = None
    prompt: str = Field(min_length=1)
    model: str = Field(min_length=1)
    n: int | None = Field(default=1, ge=1, le=MAX_N)
    size: str | None = None
    quality: str | None = None
    output_format: str | None = None
    background: str | None = None
    input_fidelity: str | None = None
    stream: bool | None = False
    partial_images: int | None = None
    user: str | None = None


class ImageVariationRequest(_Open):
    """``POST /v1/images/variations`` (dall-e-2's shape), multipart/form-data."""

    image: bytes = Field(description="One PNG, JPEG or WEBP image.")
    model: str = Field(min_length=1)
    n: int | None = Field(default=1, ge=1, le=MAX_N)
    size: str | None = None
    response_format: ImageResponseFormat | None = None
    user: str | None = None


class Image(_Shape):
    b64_json: str | None = None
    url: str | None = None
    revised_prompt: str | None = None


class ImageUsage(_Shape):
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    input_tokens_details: dict[str, int] | None = None
    output_tokens_details: dict[str, int] | None = None


class ImagesResponse(_Shape):
    created: int
    data: list[Image] = Field(min_length=1, description="Never empty: no image is an error.")
    usage: ImageUsage | None = None
    background: str | None = None
    output_format: str | None = None
    quality: str | None = None
    size: str | None = None


class ImageStreamEvent(_Shape):
    """One SSE ``data:`` payload of a streamed image generation or edit."""

    type: Literal[
        "image_generation.partial_image",
        "image_generation.completed",
        "image_edit.partial_image",
        "image_edit.completed",
    ]
    b64_json: str
    partial_image_index: int | None = None
    created_at: int | None = None
    usage: ImageUsage | None = None


# --- chat ------------------------------------------------------------------------------------


class ChatMessage(_Open):
    role: str = Field(examples=["system", "user", "assistant"])
    content: str | list[dict[str, Any]] | None = Field(
        default=None,
        description="Text, or parts: `{type: text, text}`, `{type: image_url, image_url: {url}}`.",
    )


class StreamOptions(_Open):
    include_usage: bool | None = None


class ChatCompletionRequest(_Open):
    """``POST /v1/chat/completions``; images come back in ``message.images``."""

    model: str = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    user: str | None = None
    n: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    modalities: list[str] | None = Field(default=None, examples=[["image", "text"]])
    response_format: dict[str, Any] | None = None
    image_config: dict[str, Any] | None = Field(
        default=None, description="`{aspect_ratio, image_size}` (OpenRouter's spelling)."
    )
    reasoning_effort: str | None = None


class ImageURL(_Shape):
    url: str = Field(description="A `data:` URI, or a link when the gateway stores images.")
    detail: str | None = None


class ImagePart(_Shape):
    type: Literal["image_url"]
    image_url: ImageURL


class AssistantMessage(_Shape):
    role: str = "assistant"
    content: str | None = None
    image: ImageURL | None = Field(default=None, description="The first image.")
    images: list[ImagePart] | None = Field(default=None, description="Every image.")


class ChatChoice(_Shape):
    index: int
    message: AssistantMessage
    finish_reason: str | None = None


class ChatUsage(_Shape):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: dict[str, Any] | None = None
    completion_tokens_details: dict[str, Any] | None = None


class ChatCompletion(_Shape):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatChoice]
    usage: ChatUsage | None = None


class ChatDelta(_Shape):
    role: str | None = None
    content: str | None = None
    image: ImageURL | None = None
    images: list[ImagePart] | None = None


class ChatChunkChoice(_Shape):
    index: int
    delta: ChatDelta
    finish_reason: str | None = None


class ChatCompletionChunk(_Shape):
    """One SSE ``data:`` payload of a streamed chat completion (the stream ends with
    ``data: [DONE]``)."""

    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[ChatChunkChoice]
    usage: ChatUsage | None = None


# --- models ----------------------------------------------------------------------------------


class ModelCard(BaseModel):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"]
    data: list[ModelCard]
