"""POST /v1/chat/completions (and /chat/completions)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response

from proxy.api.azure_paths import AZURE_PREFIX, model_from_path
from proxy.api.endpoint import json_request, run
from proxy.api.routes import MODEL_ERRORS, Operation, route
from proxy.context import RequestContext
from proxy.images.chat import deployment_of, finish_chat, linker, wants_links
from proxy.pipeline import Pipeline
from proxy.schemas import ChatRequest
from proxy.schemas.wire import ChatCompletion, ChatCompletionChunk, ChatCompletionRequest


async def create_chat_completion(request: Request) -> Response:
    pipeline: Pipeline = request.app.services.pipeline

    async def streamed(ctx: RequestContext, body: ChatRequest) -> AsyncIterator[bytes]:
        relay = await pipeline.router.stream_chat(ctx, body)
        if wants_links(ctx, deployment_of(pipeline, ctx)):
            relay.rewrite_with(linker(request, ctx).rewrite_chunk)
        return relay

    read = json_request(model_from_path(request, ChatRequest.from_body))
    return await run(request, "chat", read, pipeline.router.complete_chat, streamed, finish_chat)


PATHS = ("/v1/chat/completions", "/chat/completions", f"{AZURE_PREFIX}/chat/completions")
COMPLETE = Operation(
    summary="Create a chat completion",
    tag="chat",
    body=ChatCompletionRequest,
    response=ChatCompletion,
    events=ChatCompletionChunk,
    errors=MODEL_ERRORS,
    description="OpenAI's `chat.completions.create`; images an image model returns are in "
    "`message.images` (`delta.image` / `delta.images` when streamed, ending with "
    "`data: [DONE]`).",
)
routes = [route(path, create_chat_completion, "POST", doc=COMPLETE) for path in PATHS]
# Exact paths the front door (proxy.server.front) hands straight to the handler.
direct = [(path, create_chat_completion) for path in PATHS if "{" not in path]
