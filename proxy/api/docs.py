"""GET /openapi.json and GET /docs: the API document and Swagger UI, served by the proxy itself.

Swagger UI is vendored (``static/swagger-ui``, refreshed by ``scripts/vendor-swagger-ui.sh``),
so the docs work offline. Its assets live under a versioned path and are cached for good; the
page loads no script but its own files (strict Content-Security-Policy, no inline script).
Neither route needs a key: the document describes the API, not this gateway's models or
deployments.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response

from proxy.api.routes import undocumented
from proxy.errors import NotFoundError

STATIC = Path(__file__).parent / "static"
SWAGGER_UI = STATIC / "swagger-ui"
SWAGGER_UI_VERSION = "5.32.0"  # scripts/vendor-swagger-ui.sh
ASSETS = {
    "swagger-ui-bundle.js": (SWAGGER_UI / "swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": (SWAGGER_UI / "swagger-ui.css", "text/css"),
    "favicon-32x32.png": (SWAGGER_UI / "favicon-32x32.png", "image/png"),
    "docs-init.js": (STATIC / "docs-init.js", "text/javascript"),
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
PAGE_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}
ASSET_HEADERS = {
    "x-content-type-options": "nosniff",
    "cache-control": "public, max-age=31536000, immutable",
}


PAGE = (STATIC / "docs.html").read_text().replace("{version}", SWAGGER_UI_VERSION).encode()


async def openapi_json(request: Request) -> Response:
    document: dict[str, Any] = request.app.openapi()
    return Response(orjson.dumps(document), media_type="application/json")


async def docs_page(request: Request) -> Response:
    return HTMLResponse(PAGE, headers=PAGE_HEADERS)


async def docs_asset(request: Request) -> Response:
    version = request.path_params["version"]
    asset = ASSETS.get(request.path_params["name"])
    if asset is None or version != SWAGGER_UI_VERSION:
        raise NotFoundError("No such file.", code="not_found")
    path, media_type = asset
    return FileResponse(path, media_type=media_type, headers=ASSET_HEADERS)


routes = [
    undocumented("/openapi.json", openapi_json, "GET", "HEAD"),
    undocumented("/docs", docs_page, "GET", "HEAD"),
    undocumented("/docs/assets/{version}/{name}", docs_asset, "GET", "HEAD"),
]
