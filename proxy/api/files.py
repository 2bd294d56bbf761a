"""GET /v1/images/files/{id}?expires=…&sig=…: images the proxy stored for ``url`` answers.

The signed query is the credential (links are handed to browsers and other services), so no
API key is asked. Any bad link (unknown id, wrong signature, expired) is the same 404.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from proxy.api.endpoint import error_response
from proxy.delivery.service import Delivery
from proxy.errors import NotFoundError, ProxyError

router = APIRouter()

SAFE_HEADERS = {
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'none'; sandbox",
    "cross-origin-resource-policy": "cross-origin",
}


@router.api_route("/v1/images/files/{file_id}", methods=["GET", "HEAD"], include_in_schema=False)
async def image_file(request: Request, file_id: str) -> Response:
    delivery: Delivery = request.app.state.delivery
    query = request.query_params
    try:
        image = await delivery.open(file_id, query.get("expires"), query.get("sig"))
    except ProxyError as exc:
        return error_response(exc)
    if image is None:
        return error_response(NotFoundError("No such image.", code="not_found"))
    headers = {
        **SAFE_HEADERS,
        "cache-control": f"private, max-age={image.max_age}, immutable",
        "etag": f'"{file_id}"',
    }
    if image.kind.extension == "bin":
        headers["content-disposition"] = "attachment"
    body = b"" if request.method == "HEAD" else image.data
    response = Response(body, media_type=image.kind.mime, headers=headers)
    if request.method == "HEAD":
        response.headers["content-length"] = str(len(image.data))
    return response
