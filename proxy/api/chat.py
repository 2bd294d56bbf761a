"""POST /v1/chat/completions (and /chat/completions)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from proxy.api.endpoint import run
from proxy.dispatch import chat
from proxy.schemas import ChatRequest

router = APIRouter()


@router.post("/v1/chat/completions")
@router.post("/chat/completions", include_in_schema=False)
async def create_chat_completion(request: Request) -> Response:
    return await run(request, "chat", ChatRequest.from_body, chat.complete, chat.open_stream)
