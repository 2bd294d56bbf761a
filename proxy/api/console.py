"""The web console: ``GET /`` leads to it, ``GET /console`` is its one page, its scripts and
styles are served from ``/console/assets/<digest>/...`` (``proxy.console.assets``), and
``/console/session`` signs a browser in and out (``proxy.sessions``).

The page loads nothing but its own files: a strict Content-Security-Policy allows scripts,
styles and connections from this origin only, no inline script or style, no frame.
Everything the console shows it reads from the documented API, as a script would.
"""

from __future__ import annotations

import math

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from proxy.api.admin import admin, body_model
from proxy.api.endpoint import json_response
from proxy.api.routes import Operation, route, undocumented
from proxy.auth import hash_key
from proxy.console.assets import ConsoleAssets
from proxy.context import KeyInfo
from proxy.errors import AuthenticationError, NotFoundError, RateLimitError
from proxy.images.gallery import gallery_enabled
from proxy.pipeline import Pipeline
from proxy.schemas.console import SessionClosed, SessionRequest, SessionState
from proxy.sessions import COOKIE, Session, Sessions

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}
ASSET_HEADERS = {
    "x-content-type-options": "nosniff",
    "cache-control": "public, max-age=31536000, immutable",
}
NOT_SIGNED_IN = {"signed_in": False, "csrf_token": None, "expires": None, "identity": None}
ASSETS = ConsoleAssets.load()  # read and hashed once, when the application is built


async def root(request: Request) -> Response:
    return RedirectResponse("/console", status_code=303)


async def page(request: Request) -> Response:
    return Response(ASSETS.page, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


async def asset(request: Request) -> Response:
    found = ASSETS.get(request.path_params["digest"], request.path_params["path"])
    if found is None:
        raise NotFoundError("No such file.", code="not_found")
    if found.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
        headers = {**ASSET_HEADERS, "content-encoding": "gzip", "vary": "accept-encoding"}
        return Response(found.gzipped, media_type=found.media_type, headers=headers)
    headers = {**ASSET_HEADERS, "vary": "accept-encoding"} if found.gzipped else ASSET_HEADERS
    return Response(found.body, media_type=found.media_type, headers=headers)


def features(pipeline: Pipeline) -> dict[str, bool]:
    return {"gallery": gallery_enabled(pipeline.config.general)}


def sessions_of(pipeline: Pipeline) -> Sessions:
    sessions = pipeline.auth.sessions
    if sessions is None:
        raise NotFoundError("The console is off.", code="not_found")
    return sessions


def opened(request: Request, session: Session, info: KeyInfo) -> Response:
    pipeline: Pipeline = request.app.services.pipeline
    identity = {"is_master": info.is_master, "key_alias": info.alias, "models": list(info.models)}
    return json_response(
        {
            "signed_in": True,
            "features": features(pipeline),
            "csrf_token": session.csrf,
            "expires": session.expires,
            "identity": identity,
        },
        headers={"cache-control": "no-store"},
    )


async def sign_in(request: Request) -> Response:
    async def handle() -> Response:
        pipeline: Pipeline = request.app.services.pipeline
        sessions = sessions_of(pipeline)
        address = request.client.host if request.client else "-"
        wait = sessions.throttle.retry_after(address)
        if wait is not None:
            raise RateLimitError(
                "Too many wrong keys from this address; try again later.",
                headers={"retry-after": str(max(1, math.ceil(wait)))},
                code="sign_in_throttled",
            )
        body = await body_model(request, SessionRequest)
        key = body.key.strip()
        try:
            info = await pipeline.auth.identify(request, key)
        except AuthenticationError:
            sessions.throttle.failed(address)
            raise
        session_id, session = await sessions.open(hash_key(key))
        response = opened(request, session, info)
        response.set_cookie(
            COOKIE,
            session_id,
            max_age=int(sessions.ttl),
            path="/",
            httponly=True,
            samesite="strict",
            secure=is_https(request),
        )
        return response

    return await admin(request, handle)


async def current(request: Request) -> Response:
    """Who this browser is signed in as, with its CSRF token again (a reloaded page has lost
    it). Only the session cookie counts here: a bearer key has no session. Not signed in (or
    the key revoked since) is an answer, not an error: the page asks on every load."""

    async def handle() -> Response:
        pipeline: Pipeline = request.app.services.pipeline
        sessions = sessions_of(pipeline)
        session_id = request.cookies.get(COOKIE)
        session = await sessions.get(session_id)
        if session is not None:
            try:
                info = await pipeline.auth.identify_holder(request, session.holder)
            except AuthenticationError:
                await sessions.close(session_id)
            else:
                return opened(request, session, info)
        signed_out = {**NOT_SIGNED_IN, "features": features(pipeline)}
        return json_response(signed_out, headers={"cache-control": "no-store"})

    return await admin(request, handle)


async def sign_out(request: Request) -> Response:
    async def handle() -> Response:
        pipeline: Pipeline = request.app.services.pipeline
        sessions = sessions_of(pipeline)
        session_id = request.cookies.get(COOKIE)
        if await sessions.get(session_id) is not None:
            await pipeline.auth.session_holder(request)  # a sign-out needs the CSRF token too
        await sessions.close(session_id)
        response = json_response({"signed_out": True})
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    return await admin(request, handle)


def is_https(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "")
    return request.url.scheme == "https" or forwarded.split(",")[0].strip() == "https"


TAG = "console"
routes = [
    undocumented("/", root, "GET", "HEAD"),
    undocumented("/console", page, "GET", "HEAD"),
    undocumented("/console/assets/{digest}/{path:path}", asset, "GET", "HEAD"),
    route(
        "/console/session",
        sign_in,
        "POST",
        doc=Operation(
            summary="Sign a browser in",
            tag=TAG,
            body=SessionRequest,
            response=SessionState,
            errors=(400, 401, 429),
            authenticated=False,
            description="Checks the key like a bearer token and sets an HttpOnly, "
            "SameSite=Strict session cookie; the key stays on the server. Requests with the "
            "cookie and no key header are the key's; those that change state also need the "
            "answer's `csrf_token` in an `x-csrf-token` header.",
        ),
    ),
    route(
        "/console/session",
        current,
        "GET",
        doc=Operation(
            summary="The signed-in session",
            tag=TAG,
            response=SessionState,
            errors=(),
            authenticated=False,
            description="Who the session cookie signs in as, and its CSRF token "
            "(`signed_in: false` without a live session).",
        ),
    ),
    route(
        "/console/session",
        sign_out,
        "DELETE",
        doc=Operation(
            summary="Sign a browser out",
            tag=TAG,
            response=SessionClosed,
            errors=(403,),
            authenticated=False,
            description="Ends the session (needs its `x-csrf-token`) and clears the cookie.",
        ),
    ),
]
