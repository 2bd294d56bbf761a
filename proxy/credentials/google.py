"""Google OAuth for Vertex AI: google-auth mints the tokens, off the event loop.

A service-account JSON (a file path or the JSON itself) or, without one, Application Default
Credentials. The token is cached and reused until google-auth deems it about to expire
(3 min 45 s before expiry), then refreshed once, under a lock, in a worker thread: the event
loop never waits on file reads, key parsing or the token endpoint. A failed exchange names the
service account's ``client_email``, never the key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import google.auth
import google.auth.credentials
import google.auth.exceptions
import google.auth.transport
import httpx

from proxy.errors import ProviderAuthError
from proxy.redact import redact_text
from proxy.upstream_request import UpstreamRequest

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
TOKEN_TIMEOUT = 30.0


class _Response(google.auth.transport.Response):
    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        return self._response.headers

    @property
    def data(self) -> bytes:
        return self._response.content


class HttpxRequest(google.auth.transport.Request):
    """google-auth's transport interface over httpx, for worker threads.

    A client per call: tokens are minted about once an hour, so pooling buys nothing and
    nothing is left open between refreshes.
    """

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> _Response:
        try:
            with httpx.Client(follow_redirects=False, trust_env=False) as client:
                response = client.request(
                    method, url, content=body, headers=headers, timeout=timeout or TOKEN_TIMEOUT
                )
        except httpx.HTTPError as exc:
            raise google.auth.exceptions.TransportError(  # type: ignore[no-untyped-call]
                type(exc).__name__
            ) from None
        return _Response(response)


class GoogleOAuth:
    """``Authorization: Bearer <token>`` from google-auth credentials, cached and refreshed."""

    def __init__(self, info: Mapping[str, Any] | None, *, label: str = "vertex_ai") -> None:
        self._info = dict(info) if info is not None else None
        self._label = label
        self._credentials: Any = None
        self._lock = asyncio.Lock()
        self._revoked: str | None = None  # a token the upstream refused with 401
        self.refreshes = 0

    @property
    def account(self) -> str:
        if self._info is not None:
            return str(self._info.get("client_email") or self._info.get("type") or "credentials")
        return "Application Default Credentials"

    def _current(self) -> Any:
        creds = self._credentials
        if creds is None or not creds.valid or creds.token == self._revoked:
            return None
        return creds

    def rejected(self, request: UpstreamRequest) -> None:
        """Vertex answered 401 to ``request``: its token was revoked before its expiry, so
        the next request mints a new one (google-auth's sessions refresh on 401 the same way)."""
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        creds = self._credentials
        if creds is not None and token and token == creds.token:
            self._revoked = token

    async def authorize(self, request: UpstreamRequest) -> None:
        creds = self._current()
        if creds is None:
            async with self._lock:
                creds = self._current() or await asyncio.to_thread(self._refresh)
        request.headers["authorization"] = f"Bearer {creds.token}"
        quota_project = getattr(creds, "quota_project_id", None)
        if quota_project:
            request.headers["x-goog-user-project"] = str(quota_project)

    def _load(self) -> Any:
        """Credentials of exactly the declared type (never a type chosen by the file)."""
        info = self._info
        if info is None:
            creds, _ = google.auth.default(scopes=list(SCOPES))
            return creds
        kind = info.get("type")
        if kind == "service_account":
            from google.oauth2 import service_account

            creds = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                info, scopes=SCOPES
            )
            quota = info.get("quota_project_id")
            return creds.with_quota_project(quota) if quota else creds
        if kind == "authorized_user":
            from google.oauth2 import credentials

            return credentials.Credentials.from_authorized_user_info(info, scopes=SCOPES)  # type: ignore[no-untyped-call]
        if kind == "external_account":
            source = info.get("credential_source") or {}
            if str(source.get("environment_id", "")).startswith("aws"):
                from google.auth import aws

                return aws.Credentials.from_info(info, scopes=SCOPES)  # type: ignore[no-untyped-call]
            from google.auth import identity_pool

            return identity_pool.Credentials.from_info(info, scopes=SCOPES)  # type: ignore[no-untyped-call]
        raise ValueError(f"unsupported credentials type {kind!r}")

    def _refresh(self) -> Any:
        """Runs in a worker thread: load (first time) and refresh the credentials."""
        try:
            creds = self._credentials or self._load()
            creds.refresh(HttpxRequest())
        except google.auth.exceptions.GoogleAuthError as exc:
            reason = redact_text(str(exc.args[0]) if exc.args else type(exc).__name__, 300)
            raise ProviderAuthError(
                f"{self._label}: could not obtain an access token for {self.account}: {reason}",
                provider=self._label,
            ) from None
        except ValueError as exc:  # malformed key material
            raise ProviderAuthError(
                f"{self._label}: the credentials of {self.account} are unusable "
                f"({type(exc).__name__})",
                provider=self._label,
            ) from None
        self._credentials = creds
        self._revoked = None
        self.refreshes += 1
        return creds

    def __repr__(self) -> str:
        return f"GoogleOAuth({self.account!r})"
