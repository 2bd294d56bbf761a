"""Request paths as clients spell them: ``/v1/images/generations/`` is the same route.

Starlette would answer a trailing slash with a 307 whose ``Location`` is rebuilt from the
``Host`` header (an open redirect for anyone who can set that header, and a dropped body
for clients that do not follow redirects on POST). Stripping the slash before routing
serves the request directly; authentication still happens on the matched route.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class StripTrailingSlash:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if len(path) > 1 and path.endswith("/"):
                scope = dict(scope)
                scope["path"] = path.rstrip("/") or "/"
        await self.app(scope, receive, send)

