"""Registry glue: credentials and start-up checks for ``gemini`` and ``vertex_ai``."""

from __future__ import annotations

from proxy.config.deployment import Deployment
from proxy.credentials.base import Credentials, HeaderKey, NoCredentials
from proxy.providers.google.settings import (
    CREDENTIALS_PARAMS,
    PROJECT_PARAMS,
    CredentialsFileError,
    credentials_info,
    is_express,
    vertex_target,
)

USABLE_TYPES = frozenset({"service_account", "authorized_user", "external_account"})


def gemini_credentials(deployment: Deployment) -> Credentials:
    key = deployment.params.api_key
    return HeaderKey("x-goog-api-key", key) if key else NoCredentials()


def vertex_credentials(deployment: Deployment) -> Credentials:
    if is_express(deployment):
        return HeaderKey("x-goog-api-key", deployment.params.api_key or "")
    raw = deployment.param(*CREDENTIALS_PARAMS)
    from proxy.credentials.google import GoogleOAuth  # google-auth loads only when used

    return GoogleOAuth(credentials_info(raw) if raw else None, label="vertex_ai")


def validate_vertex(deployment: Deployment) -> str | None:
    """Checked once at start-up: the credentials parse and a project is known."""
    if not deployment.available:
        return None
    raw = deployment.param(*CREDENTIALS_PARAMS)
    if raw:
        field = (
            "vertex_credentials"
            if deployment.param("vertex_credentials")
            else ("vertex_ai_credentials")
        )
        try:
            info = credentials_info(raw)
        except CredentialsFileError as exc:
            return f"litellm_params.{field}: {exc}"
        kind = info.get("type")
        if kind not in USABLE_TYPES:
            return (
                f"litellm_params.{field}: unsupported credentials type {kind!r} "
                f"(expected one of {', '.join(sorted(USABLE_TYPES))})"
            )
        if kind == "service_account" and not (
            info.get("client_email") and info.get("private_key") and info.get("token_uri")
        ):
            return (
                f"litellm_params.{field}: a service-account key needs client_email, "
                "private_key and token_uri"
            )
    if not is_express(deployment) and not vertex_target(deployment).project:
        return (
            f"litellm_params.{PROJECT_PARAMS[0]}: required for vertex_ai (or give "
            "vertex_credentials holding a project_id, set GOOGLE_CLOUD_PROJECT or "
            "GOOGLE_APPLICATION_CREDENTIALS, or an api_key for express mode)"
        )
    return None
