"""Routes as the gateway declares them: FastAPI routes that answer exactly their methods and
carry what the OpenAPI document says of them.

Handlers take the raw ``Request`` and parse it themselves (the model endpoints in a few dict
reads on the hot path, the admin ones with the pydantic models of ``proxy.schemas``), so
FastAPI never reads a body or a query parameter. What a route accepts and answers is declared
next to it as an ``Operation`` (body, query and response models); ``proxy.api.openapi`` turns
those into the document. A route answers only the methods it lists: HEAD only where listed
(health probes, image files).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Endpoint = Callable[[Request], Awaitable[Response]]

MODEL_ERRORS = (400, 401, 403, 404, 413, 429, 500, 502, 503, 504)
ADMIN_ERRORS = (400, 401, 403, 404, 503)


@dataclass(frozen=True, slots=True)
class Operation:
    """What one route accepts and answers, for the OpenAPI document."""

    summary: str
    tag: str
    body: type[BaseModel] | None = None
    body_media_type: str = "application/json"  # of ``body``
    other_bodies: tuple[tuple[str, type[BaseModel]], ...] = ()  # (media type, model) besides
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    media_type: str = "application/json"  # of a 200 answer without a response model
    events: type[BaseModel] | None = None  # each SSE event's payload when the body streams
    errors: tuple[int, ...] = ADMIN_ERRORS
    authenticated: bool = True
    description: str | None = None


class GatewayRoute(APIRoute):
    def __init__(self, path: str, endpoint: Endpoint, methods: list[str], doc: Operation) -> None:
        super().__init__(path, endpoint, methods=methods, response_model=None)
        self.doc = doc


def route(path: str, endpoint: Endpoint, *methods: str, doc: Operation) -> GatewayRoute:
    return GatewayRoute(path, endpoint, list(methods), doc)


def undocumented(path: str, endpoint: Endpoint, *methods: str) -> Route:
    """A route left out of the document (the document itself, the docs page and its assets)."""
    r = Route(path, endpoint, methods=list(methods), include_in_schema=False)
    r.methods = set(methods)  # Starlette adds HEAD to GET routes by itself
    return r
