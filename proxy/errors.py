"""One error family for the whole gateway, mapped once to the OpenAI error body.

Every error carries its class for the router: ``retryable`` (worth another attempt,
perhaps on another deployment), ``cooldown`` (the deployment is misconfigured or failing
and should rest), ``content_policy`` (eligible for content-policy fallbacks). Anything
not retryable is final for the deployment that produced it.
"""

from __future__ import annotations

from typing import Any

import orjson


class ProxyError(Exception):
    status: int = 500
    type: str = "server_error"
    code: str | None = None
    retryable: bool = False
    cooldown: bool = False
    content_policy: bool = False

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        retry_after: float | None = None,
        provider: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.headers = dict(headers or {})
        self.retry_after = retry_after
        self.provider = provider

    @property
    def error_class(self) -> str:
        return type(self).__name__

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def body_bytes(self) -> bytes:
        return orjson.dumps(self.body())

    def __repr__(self) -> str:
        return f"{self.error_class}({self.status}, {self.message!r})"


# --- the caller's fault -------------------------------------------------------------


class InvalidRequestError(ProxyError):
    status = 400
    type = "invalid_request_error"


class ContentPolicyError(InvalidRequestError):
    code = "content_policy_violation"
    content_policy = True


class AuthenticationError(ProxyError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDeniedError(ProxyError):
    status = 403
    type = "permission_error"


class NotFoundError(ProxyError):
    status = 404
    type = "invalid_request_error"
    code = "model_not_found"


class PayloadTooLargeError(ProxyError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class ClientClosedError(ProxyError):
    """The client left before its request was read (nginx's 499): nobody gets this answer,
    but the request log and metrics should not count it as a server error."""

    status = 499
    type = "invalid_request_error"
    code = "client_closed_request"


class RateLimitError(ProxyError):
    """The caller's own limit (key rpm, budget): final, never retried."""

    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


# --- the gateway's or the provider's side -------------------------------------------


class ServiceUnavailableError(ProxyError):
    """No deployment can take the request (missing credentials, all cooled down)."""

    status = 503
    type = "service_unavailable_error"
    code = "no_deployment_available"


class UpstreamError(ProxyError):
    """The provider failed (5xx, malformed answer): another attempt may succeed."""

    status = 502
    type = "upstream_error"
    code = "upstream_error"
    retryable = True


class UpstreamTooLargeError(UpstreamError):
    """The provider's answer, or one event of its stream, went past the configured cap; it
    was read no further. Retryable like a malformed answer: another deployment may stay
    within the cap, and a deployment that keeps doing it counts failures towards a cooldown."""

    code = "upstream_response_too_large"


class UpstreamRateLimitError(UpstreamError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class UpstreamTimeoutError(UpstreamError):
    status = 504
    type = "timeout_error"
    code = "upstream_timeout"


class UpstreamConnectionError(UpstreamError):
    code = "upstream_connection_error"


class UpstreamUnavailableError(UpstreamError):
    status = 503
    type = "service_unavailable_error"
    code = "upstream_unavailable"


class ProviderAuthError(ProxyError):
    """The provider refused the proxy's credentials: an operator problem, not the caller's."""

    status = 502
    type = "provider_auth_error"
    code = "provider_authentication_failed"
    cooldown = True


class UpstreamQuotaError(ProxyError):
    """The provider account is out of credits: an operator problem.

    OpenRouter answers 402, Nscale 429 "insufficient credit".

    Shaped like OpenAI's own ``insufficient_quota`` (429); not worth retrying on the same
    deployment, which should rest.
    """

    status = 429
    type = "insufficient_quota"
    code = "insufficient_quota"
    cooldown = True


class UpstreamNotFoundError(ProxyError):
    """The provider does not know the configured model or route: misconfiguration."""

    status = 502
    type = "upstream_error"
    code = "upstream_model_not_found"
    cooldown = True


class UpstreamBadRequestError(InvalidRequestError):
    """The provider rejected the request as invalid: final, the caller must change it."""


class InternalError(ProxyError):
    status = 500
    type = "server_error"
    code = "internal_error"
