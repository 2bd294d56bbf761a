"""POST /v1/images/generations (and /images/generations)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from proxy.api.endpoint import run
from proxy.context import RequestContext
from proxy.dispatch import images
from proxy.schemas import ImageRequest

router = APIRouter()


def public_base(request: Request) -> str:
    configured = request.app.state.gateway.config.general.model_extra.get("public_base_url")
    return str(configured or request.base_url).rstrip("/")


async def finish(
    request: Request, ctx: RequestContext, image_request: ImageRequest, body: dict[str, Any]
) -> dict[str, Any]:
    """Make proxy-relative image URLs absolute."""
    base = None
    for item in body["data"]:
        url = item.get("url")
        if isinstance(url, str) and url.startswith("/"):
            base = base or public_base(request)
            item["url"] = base + url
    return body


async def create_image(request: Request) -> Response:
    return await run(
        request, "images", ImageRequest.from_body, images.generate, images.open_stream, finish
    )


# Plain Starlette routes: the pipeline reads the request itself, so FastAPI's dependency
# and body machinery would be per-request work for nothing (bench/: ~20% of the CPU).
router.add_route("/v1/images/generations", create_image, methods=["POST"])
router.add_route("/images/generations", create_image, methods=["POST"])
