"""GET /v1/images/files/{id}?expires=…&sig=…: images the proxy stored for ``url`` answers.

The signed query is the credential (links are handed to browsers and other services), so no
API key is asked. Any bad link (unknown id, wrong signature, expired) is the same 404.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from proxy.api.endpoint import error_response
from proxy.api.routes import Operation, route
from proxy.errors import NotFoundError, ProxyError
from proxy.images.service import Delivery
from proxy.schemas.admin import ImageFileQuery

SAFE_HEADERS = {
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'none'; sandbox",
    "cross-origin-resource-policy": "cross-origin",
}


async def image_file(request: Request) -> Response:
    file_id: str = request.path_params["file_id"]
    delivery: Delivery = request.app.services.delivery
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


FILE = Operation(
    summary="Download a stored image",
    tag="images",
    query=ImageFileQuery,
    media_type="image/png",
    errors=(404,),
    authenticated=False,
    description="The signed link of a `url` answer; the signature is the credential. Any bad "
    "link (unknown, expired, wrong signature) is the same 404.",
)
routes = [route("/v1/images/files/{file_id}", image_file, "GET", "HEAD", doc=FILE)]
