"""GET /mock/images/{W}x{H}/{rrggbb}.png: the mock provider's ``url`` images.

Placeholders are deterministic, so the URL itself describes the picture; nothing is stored.
"""

from __future__ import annotations

import asyncio
import re

from fastapi import APIRouter
from starlette.responses import Response

from proxy.api.endpoint import error_response
from proxy.errors import NotFoundError
from proxy.providers.mock.png import MAX_SIDE, render_png

router = APIRouter()
_NAME = re.compile(r"^([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})\.png$")


@router.get("/mock/images/{width:int}x{height:int}/{name}", include_in_schema=False)
async def mock_image(width: int, height: int, name: str) -> Response:
    m = _NAME.match(name)
    if not m or not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        return error_response(NotFoundError("No such image.", code="not_found"))
    rgb = (int(m.group(1), 16), int(m.group(2), 16), int(m.group(3), 16))
    png = await asyncio.to_thread(render_png, width, height, rgb)
    return Response(
        png, media_type="image/png", headers={"cache-control": "public, max-age=3600, immutable"}
    )
