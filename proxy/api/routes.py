"""Routes as the gateway declares them: plain Starlette, each answering exactly its methods.

Starlette's ``Route`` quietly adds HEAD to every GET route; the gateway's GET routes have
always answered HEAD with a 405 except where HEAD is listed (health probes, image files), so
``route`` keeps the methods it is given and nothing more.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Endpoint = Callable[[Request], Awaitable[Response]]


def route(path: str, endpoint: Endpoint, *methods: str) -> Route:
    r = Route(path, endpoint, methods=list(methods))
    r.methods = set(methods)
    return r
