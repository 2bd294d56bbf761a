"""AWS credentials for Bedrock: SigV4 signed by botocore, or a Bedrock API key (bearer).

Where the keys come from is a *source*, resolved off the event loop (``asyncio.to_thread``)
and cached: static keys (``aws_access_key_id`` / ``aws_secret_access_key`` /
``aws_session_token``), a named profile (``aws_profile_name``), the default chain
(environment, shared files, container / instance metadata), and on top of any of them a role
assumed through STS (``aws_role_name`` + ``aws_session_name``; ``aws_sts_endpoint`` points
at another STS, ``aws_external_id`` is passed along). Assumed-role keys are kept until five
minutes before they expire; chain and profile keys are re-read from botocore (which refreshes
them itself) at most once a minute. Concurrent requests wait for one refresh, never start
several. Signing itself is botocore's ``SigV4Auth``: never hand-rolled.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import ReadOnlyCredentials, RefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError
from botocore.session import Session

from proxy.config.deployment import Deployment
from proxy.credentials.base import Credentials, HeaderKey
from proxy.errors import ProviderAuthError
from proxy.redact import redact_text
from proxy.upstream_request import UpstreamRequest

SERVICE = "bedrock"
ROLE_REFRESH_MARGIN = 300.0  # renew assumed-role keys this long before they expire
CHAIN_RECHECK = 60.0  # re-read botocore's refreshable chain/profile keys this often
DEFAULT_SESSION_NAME = "image-proxy"
# botocore's Bedrock API key variable (``AWS_BEARER_TOKEN_`` + the signing name): used, as
# botocore uses it, when the deployment configures no AWS credentials of its own (read from
# the deployment, which captured it when the config loaded).
BEARER_ENV = "AWS_BEARER_TOKEN_BEDROCK"
AWS_AUTH_PARAMS = (
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "aws_profile_name",
    "aws_role_name",
)
STS_CONFIG = Config(connect_timeout=10, read_timeout=30, retries={"max_attempts": 2})


@dataclass(frozen=True, slots=True)
class Resolved:
    credentials: ReadOnlyCredentials
    refresh_at: float | None  # time.time() after which to resolve again; None = never

    def fresh(self, now: float) -> bool:
        return self.refresh_at is None or now < self.refresh_at


class CredentialSource(Protocol):
    def resolve(self) -> Resolved:
        """Blocking (may read files or call STS): only ever called in a worker thread."""
        ...


class StaticSource:
    def __init__(self, access_key: str, secret_key: str, token: str | None) -> None:
        self._credentials = ReadOnlyCredentials(access_key, secret_key, token)

    def resolve(self) -> Resolved:
        return Resolved(self._credentials, None)

    def __repr__(self) -> str:
        return "StaticSource(****)"


class SessionSource:
    """A botocore session's credential chain, optionally for one named profile."""

    def __init__(self, profile: str | None = None) -> None:
        self.profile = profile
        self._session: Session | None = None

    def session(self) -> Session:
        if self._session is None:
            self._session = Session(profile=self.profile)
        return self._session

    def resolve(self) -> Resolved:
        where = f"profile {self.profile!r}" if self.profile else "the default AWS chain"
        try:
            found = self.session().get_credentials()
            frozen = found.get_frozen_credentials() if found is not None else None
        except BotoCoreError as exc:
            raise ProviderAuthError(
                f"bedrock: could not load AWS credentials from {where}: {redact_text(str(exc))}",
                provider=SERVICE,
            ) from None
        if frozen is None or not frozen.access_key:
            raise ProviderAuthError(
                f"bedrock: no AWS credentials found in {where}", provider=SERVICE
            )
        refresh_at = (
            time.time() + CHAIN_RECHECK if isinstance(found, RefreshableCredentials) else None
        )
        return Resolved(frozen, refresh_at)


class AssumeRoleSource:
    """``sts:AssumeRole`` with the base source's keys; the answer is cached until near expiry."""

    def __init__(
        self,
        base: CredentialSource,
        role_arn: str,
        *,
        session_name: str,
        region: str,
        sts_endpoint: str | None = None,
        external_id: str | None = None,
        duration: int | None = None,
    ) -> None:
        self.base = base
        self.role_arn = role_arn
        self.session_name = session_name
        self.region = region
        self.sts_endpoint = sts_endpoint
        self.external_id = external_id
        self.duration = duration
        self._session: Session | None = None

    def resolve(self) -> Resolved:
        base = self.base.resolve().credentials
        if self._session is None:
            self._session = Session()
        kwargs: dict[str, Any] = {"RoleArn": self.role_arn, "RoleSessionName": self.session_name}
        if self.external_id:
            kwargs["ExternalId"] = self.external_id
        if self.duration:
            kwargs["DurationSeconds"] = self.duration
        try:
            client = self._session.create_client(
                "sts",
                region_name=self.region,
                endpoint_url=self.sts_endpoint,
                aws_access_key_id=base.access_key,
                aws_secret_access_key=base.secret_key,
                aws_session_token=base.token,
                config=STS_CONFIG,
            )
            answer = client.assume_role(**kwargs)["Credentials"]
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise ProviderAuthError(
                f"bedrock: could not assume role {self.role_arn}: "
                f"{error.get('Code', 'error')}: {redact_text(str(error.get('Message', '')))}",
                provider=SERVICE,
            ) from None
        except BotoCoreError as exc:
            raise ProviderAuthError(
                f"bedrock: could not assume role {self.role_arn}: {type(exc).__name__}",
                provider=SERVICE,
            ) from None
        expires = answer["Expiration"]
        expires_at = expires.timestamp() if isinstance(expires, datetime) else time.time() + 900
        lifetime = expires_at - time.time()
        margin = min(ROLE_REFRESH_MARGIN, max(lifetime / 2, 0.0))
        frozen = ReadOnlyCredentials(
            answer["AccessKeyId"], answer["SecretAccessKey"], answer.get("SessionToken")
        )
        return Resolved(frozen, expires_at - margin)


def sign(
    request: UpstreamRequest, credentials: ReadOnlyCredentials, region: str, service: str = SERVICE
) -> None:
    """Add botocore's SigV4 headers (``Authorization``, ``X-Amz-Date``, and
    ``X-Amz-Security-Token`` for session keys) to ``request``. Every header already on the
    request is signed, plus ``host`` from the URL; the body is hashed."""
    if request.streamed_body is not None:  # Bedrock bodies are JSON, built in memory
        raise TypeError("SigV4 signs a body held in memory")
    aws = AWSRequest(
        method=request.method,
        url=request.url,
        data=request.body or b"",
        headers=dict(request.headers),
        params=request.params or {},
    )
    SigV4Auth(credentials, service, region).add_auth(aws)
    for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
        value = aws.headers.get(name)
        if value is not None:
            request.headers[name.lower()] = value


class SigV4Credentials:
    """Signs each request with the current keys of its source, refreshed off the loop."""

    def __init__(self, source: CredentialSource, region: str, service: str = SERVICE) -> None:
        self.source = source
        self.region = region
        self.service = service
        self._cached: Resolved | None = None
        self._lock: asyncio.Lock | None = None

    async def current(self) -> ReadOnlyCredentials:
        cached = self._cached
        if cached is not None and cached.fresh(time.time()):
            return cached.credentials
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            cached = self._cached
            if cached is None or not cached.fresh(time.time()):
                cached = await asyncio.to_thread(self.source.resolve)
                self._cached = cached
        return cached.credentials

    async def authorize(self, request: UpstreamRequest) -> None:
        sign(request, await self.current(), self.region, self.service)

    def __repr__(self) -> str:
        return f"SigV4Credentials({type(self.source).__name__}, {self.region!r})"


def base_source(deployment: Deployment) -> CredentialSource:
    access_key = deployment.param("aws_access_key_id")
    secret_key = deployment.param("aws_secret_access_key")
    if access_key and secret_key:
        return StaticSource(str(access_key), str(secret_key), deployment.param("aws_session_token"))
    profile = deployment.param("aws_profile_name")
    return SessionSource(str(profile) if profile else None)


def bedrock_credentials(deployment: Deployment, region: str) -> Credentials:
    """The credentials strategy a Bedrock deployment's parameters ask for: ``api_key`` (or,
    with no AWS credentials configured, ``AWS_BEARER_TOKEN_BEDROCK``) as a bearer token, else
    SigV4 in ``region`` (the deployment's, worked out by the Bedrock provider and checked when
    the config loaded)."""
    api_key = deployment.params.api_key
    if not api_key and not any(deployment.param(p) for p in AWS_AUTH_PARAMS):
        api_key = deployment.env(BEARER_ENV)
    if api_key:
        return HeaderKey("authorization", f"Bearer {api_key}")
    source = base_source(deployment)
    role = deployment.param("aws_role_name")
    if role:
        duration = deployment.param("aws_session_duration")
        source = AssumeRoleSource(
            source,
            str(role),
            session_name=str(deployment.param("aws_session_name") or DEFAULT_SESSION_NAME),
            region=region,
            sts_endpoint=deployment.param("aws_sts_endpoint"),
            external_id=deployment.param("aws_external_id"),
            duration=int(duration) if duration else None,
        )
    return SigV4Credentials(source, region)
