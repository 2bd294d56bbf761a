"""The OpenAPI 3.1 document, written from each route's ``Operation`` (request body, query and
path parameters, responses, authentication) and checked against FastAPI's model of OpenAPI.

FastAPI's own generator reads endpoint signatures; the gateway's handlers take the raw request
(``proxy.api.routes``), so the document is assembled here, one operation per route and method
(a GET route that also answers HEAD gets two operations with their own ids).

Every model a route names becomes one ``components.schemas`` entry (pydantic's own JSON
schema, one ``models_json_schema`` call for them all, so shared sub-models are written once).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi.openapi.models import OpenAPI
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.routing import BaseRoute

from proxy.api.routes import GatewayRoute, Operation
from proxy.schemas.wire import ErrorResponse

REF = "#/components/schemas/{model}"
PATH_PARAM = re.compile(r"{(\w+)(?::\w+)?}")
SECURITY_SCHEMES = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer <master key or virtual key>`.",
    },
    "api-key": {
        "type": "apiKey",
        "in": "header",
        "name": "api-key",
        "description": "The header Azure-style clients send.",
    },
}
ERROR_TEXT = {
    400: "Invalid request (the message names the parameter).",
    401: "Missing or invalid key.",
    403: "The key may not use this model or route.",
    404: "Unknown model, route or object.",
    413: "Request body too large.",
    429: "Rate limit, budget or capacity reached (`retry-after` when it resets).",
    500: "Internal error (never a traceback).",
    502: "The provider failed or refused.",
    503: "No deployment or store available.",
    504: "The provider timed out.",
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _models(doc: Operation) -> list[type[BaseModel]]:
    models = [m for m in (doc.body, doc.response, doc.events) if m is not None]
    return models + [m for _, m in doc.other_bodies]


def _parameters(path: str, doc: Operation) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in PATH_PARAM.findall(path)
    ]
    if doc.query is not None:
        properties = doc.query.model_json_schema()["properties"]
        for name, field in doc.query.model_fields.items():
            out.append(
                {
                    "name": name,
                    "in": "query",
                    "required": field.is_required(),
                    "schema": properties[name],
                }
            )
    return out


def _ok(doc: Operation) -> dict[str, Any]:
    if doc.response is not None:
        content: dict[str, Any] = {"application/json": {"schema": _ref(doc.response)}}
    else:
        content = {doc.media_type: {"schema": {"type": "string"}}}
    if doc.events is not None:
        content["text/event-stream"] = {
            "schema": {"type": "string"},
            "x-event-schema": _ref(doc.events),
        }
    return {"description": "Success.", "content": content}


def _operation(r: GatewayRoute, method: str) -> dict[str, Any]:
    doc = r.doc
    path = r.path_format
    responses: dict[str, Any] = {"200": _ok(doc)}
    for status in doc.errors:
        responses[str(status)] = {
            "description": ERROR_TEXT[status],
            "content": {"application/json": {"schema": _ref(ErrorResponse)}},
        }
    op: dict[str, Any] = {
        "tags": [doc.tag],
        "summary": doc.summary,
        "operationId": re.sub(r"\W+", "_", f"{r.name}{path}_{method}").strip("_"),
        "parameters": _parameters(path, doc),
        "responses": responses,
    }
    if doc.description:
        op["description"] = doc.description
    if doc.body is not None:
        bodies = ((doc.body_media_type, doc.body), *doc.other_bodies)
        op["requestBody"] = {
            "required": True,
            "content": {media_type: {"schema": _ref(model)} for media_type, model in bodies},
        }
    op["security"] = [{"bearer": []}, {"api-key": []}] if doc.authenticated else []
    return op


def _components(routes: list[GatewayRoute]) -> dict[str, Any]:
    models: dict[str, type[BaseModel]] = {"ErrorResponse": ErrorResponse}
    for r in routes:
        for model in _models(r.doc):
            seen = models.setdefault(model.__name__, model)
            if seen is not model:
                raise ValueError(f"two schema models named {model.__name__}")
    _, schema = models_json_schema([(m, "validation") for m in models.values()], ref_template=REF)
    defs: dict[str, Any] = schema.get("$defs", {})
    return defs


def build_document(
    routes: list[BaseRoute], *, title: str, version: str, description: str
) -> dict[str, Any]:
    documented = [r for r in routes if isinstance(r, GatewayRoute)]
    paths: dict[str, dict[str, Any]] = {}
    for r in documented:
        for method in sorted(r.methods or ()):
            paths.setdefault(r.path_format, {})[method.lower()] = _operation(r, method.lower())
    document = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "paths": paths,
        "components": {"schemas": _components(documented), "securitySchemes": SECURITY_SCHEMES},
    }
    # FastAPI's model of OpenAPI refuses a malformed document (at start-up, in the tests).
    checked: dict[str, Any] = OpenAPI.model_validate(document).model_dump(
        by_alias=True, exclude_none=True
    )
    return checked
