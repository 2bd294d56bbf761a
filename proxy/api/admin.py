"""What the admin routers share: master-key authorisation and query-parameter parsing."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from proxy.api.endpoint import error_response, read_body
from proxy.context import KeyInfo
from proxy.db.database import DB_ERRORS
from proxy.db.refusal import refusal
from proxy.errors import (
    InternalError,
    InvalidRequestError,
    PermissionDeniedError,
    ProxyError,
    ServiceUnavailableError,
)
from proxy.names import MAX_NAME_LENGTH
from proxy.pipeline import Pipeline
from proxy.schemas import checked_name, parse_json_object

log = logging.getLogger("proxy.api")

M = TypeVar("M", bound=BaseModel)
MAX_PAGE_SIZE = 1000
ADMIN_BODY_LIMIT = 256 * 1024


async def require_master(request: Request) -> KeyInfo:
    pipeline: Pipeline = request.app.services.pipeline
    key = await pipeline.auth.authenticate(request)
    if pipeline.auth.open_access:
        raise PermissionDeniedError(
            "The admin API needs general_settings.master_key; it is off on an open proxy.",
            code="admin_disabled",
        )
    if not key.is_master:
        raise PermissionDeniedError("This endpoint needs the master key.", code="admin_only")
    return key


async def admin(request: Request, handler: Callable[[], Awaitable[Response]]) -> Response:
    """Run an admin handler with every failure as an OpenAI error body (never a 500 trace).

    The database refusing a value (a NUL in a filter or an alias to look up, on PostgreSQL)
    is a 400, not the 503 "database unavailable" it used to be."""
    try:
        return await handler()
    except ProxyError as exc:
        return error_response(exc)
    except DB_ERRORS as exc:
        refused = refusal(exc)
        if refused is not None:  # a value the database will never take: the caller's to fix
            return error_response(
                InvalidRequestError(
                    f"The database refused a value of this request ({refused.reason}): "
                    "names and filters must not contain control characters or exceed "
                    f"{MAX_NAME_LENGTH} characters.",
                    code="value_refused",
                )
            )
        log.error("admin %s: database unavailable (%s)", request.url.path, type(exc).__name__)
        return error_response(
            ServiceUnavailableError(
                f"The database is unavailable ({type(exc).__name__}); spend records are kept "
                "and written when it is back.",
                code="store_unavailable",
            )
        )
    except Exception as exc:
        log.error("admin %s failed: %s", request.url.path, type(exc).__name__)
        return error_response(InternalError("The store could not complete the request."))


async def body_model(request: Request, model: type[M]) -> M:
    raw = await read_body(request, ADMIN_BODY_LIMIT)
    data = parse_json_object(raw)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ())) or "body"
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        raise InvalidRequestError(f"{where}: {msg}", param=where) from None


def query_time(request: Request, *names: str) -> float | None:
    """Epoch seconds from a query parameter given as epoch seconds or ISO 8601."""
    for name in names:
        raw = request.query_params.get(name)
        if raw is None or raw == "":
            continue
        try:
            return float(raw)
        except ValueError:
            pass
        try:
            when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidRequestError(
                f"'{name}' must be epoch seconds or an ISO-8601 time.", param=name
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when.timestamp()
    return None


def query_int(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        raise InvalidRequestError(f"'{name}' must be an integer from {lo} to {hi}.", param=name)
    return int(raw)


def query_str(request: Request, *names: str) -> str | None:
    """The first of ``names`` given (non-empty): a key, hash, alias or name to look up, held
    to ``proxy.names`` (a 400 naming the parameter), so the database never sees a value it
    would refuse and a filter never quotes one back."""
    for name in names:
        value = request.query_params.get(name)
        if value:
            return checked_name(value, name)
    return None


def page_params(request: Request) -> tuple[int, int]:
    page = query_int(request, "page", 1, 1, 10_000_000)
    size = query_int(request, "page_size", 0, 1, MAX_PAGE_SIZE) or query_int(
        request, "size", 50, 1, MAX_PAGE_SIZE
    )
    return page, size


def paged(items: list[Any], total: int, page: int, size: int, name: str = "data") -> dict[str, Any]:
    return {
        name: items,
        "total": total,
        "page": page,
        "page_size": size,
        "total_pages": (total + size - 1) // size,
    }


def query_bool(request: Request, name: str) -> bool:
    raw = (request.query_params.get(name) or "false").lower()
    if raw not in ("true", "false", "1", "0"):
        raise InvalidRequestError(f"'{name}' must be true or false.", param=name)
    return raw in ("true", "1")


def known_params(request: Request, query: type[BaseModel]) -> None:
    """Refuse a query parameter the route does not read (a 400 naming it): a filter that is
    silently ignored answers with everything, which looks like an answer."""
    for name in request.query_params:
        if name not in query.model_fields:
            known = ", ".join(sorted(query.model_fields))
            raise InvalidRequestError(
                f"Unknown query parameter {checked_param(name)!r}; this route reads: {known}.",
                param=checked_param(name),
            )


def checked_param(name: str) -> str:
    """A parameter name fit to quote back (printable ASCII, clipped), else a placeholder."""
    return name[:64] if name.isascii() and name.isprintable() else "(unprintable)"
