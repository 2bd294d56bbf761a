"""Chat images as links: ``image_response_format: url`` per request or per deployment.

A request may carry ``image_response_format`` (``url`` or ``b64_json``); a pre-call hook takes
it out of the body (so it never reaches the provider) and keeps it on the request context.
Otherwise the deployment's ``litellm_params.image_response_format`` decides; the default keeps
the provider's data URIs. A stream's chunks are rewritten as dicts, before they are framed
(``ChatRelay.rewrite_with(linker(...).rewrite_chunk)``): each frame is serialised once.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from proxy.config import Deployment
from proxy.context import RequestContext
from proxy.errors import InvalidRequestError
from proxy.images.responses import CHAT_IMAGE_FORMATS, ChatImageLinker
from proxy.images.service import Delivery
from proxy.pipeline import Pipeline
from proxy.schemas import ChatRequest, ImageRequest
from proxy.schemas.edits import EditRequest

PARAM = "image_response_format"


async def take_image_format(ctx: RequestContext, request: Any) -> None:
    """Pre-call hook: move ``image_response_format`` from a chat body onto the context.

    Also refuses ``response_format: url`` on streamed image requests: streamed images
    arrive as base64 events, and a format the proxy cannot honour is never dropped silently.
    """
    streams_images = isinstance(request, ImageRequest | EditRequest) and request.stream
    if streams_images and request.response_format == "url":
        raise InvalidRequestError(
            "'response_format': 'url' is not available with 'stream': true (streamed images "
            "arrive as base64); drop one of them.",
            param="response_format",
        )
    if not isinstance(request, ChatRequest) or PARAM not in request.body:
        return
    value = request.body.pop(PARAM)
    if value is not None and value not in CHAT_IMAGE_FORMATS:
        raise InvalidRequestError(
            f"'{PARAM}' must be 'url' or 'b64_json', got {value!r}.", param=PARAM
        )
    if value is not None:
        ctx.image_response_format = value


def deployment_of(pipeline: Pipeline, ctx: RequestContext) -> Deployment | None:
    """The deployment that answered (after retries and fallbacks)."""
    if isinstance(ctx.deployment, Deployment):
        return ctx.deployment
    return pipeline.router.deployment(ctx.deployment_id) if ctx.deployment_id else None


def wants_links(ctx: RequestContext, deployment: Deployment | None) -> bool:
    chosen = ctx.image_response_format
    if chosen is None and deployment is not None:
        chosen = deployment.param(PARAM)
    return chosen == "url"


def linker(request: Request, ctx: RequestContext) -> ChatImageLinker:
    delivery: Delivery = request.app.services.delivery
    return ChatImageLinker(delivery, str(request.base_url), ctx.provider or "provider")


async def finish_chat(
    request: Request, ctx: RequestContext, chat_request: ChatRequest, body: dict[str, Any]
) -> dict[str, Any]:
    if not wants_links(ctx, deployment_of(request.app.services.pipeline, ctx)):
        return body
    return await linker(request, ctx).rewrite_completion(body)
