"""POST /v1/chat/completions (and /chat/completions)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response

from proxy.api.azure_paths import AZURE_PREFIX, model_from_path
from proxy.api.endpoint import run
from proxy.api.routes import MODEL_ERRORS, Operation, route
from proxy.config import Deployment
from proxy.context import RequestContext
from proxy.delivery.chat import finish_chat, link_stream, linker, wants_links
from proxy.dispatch import chat
from proxy.dispatch.upstream import Upstream
from proxy.schemas import ChatRequest
from proxy.schemas.wire import ChatCompletion, ChatCompletionChunk, ChatCompletionRequest


async def create_chat_completion(request: Request) -> Response:
    async def streamed(
        upstream: Upstream, ctx: RequestContext, body: ChatRequest, deployment: Deployment
    ) -> AsyncIterator[bytes]:
        chunks = await chat.open_stream(upstream, ctx, body, deployment)
        if not wants_links(ctx, deployment):
            return chunks
        return link_stream(chunks, linker(request, ctx), ctx)

    parse = model_from_path(request, ChatRequest.from_body)
    return await run(request, "chat", parse, chat.complete, streamed, finish_chat)


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
# Exact paths the front door (proxy.api.front) hands straight to the handler.
direct = [(path, create_chat_completion) for path in PATHS if "{" not in path]
