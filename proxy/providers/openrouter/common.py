"""What OpenRouter's image and chat adapters share: the URL, attribution headers, errors.

Attribution headers are per deployment (``litellm_params``): LiteLLM's generic
``extra_headers`` mapping, or the shortcuts ``http_referer`` (sent as ``HTTP-Referer``) and
``x_title`` (sent as ``X-Title``). Nothing is sent when none is configured.

Errors arrive as ``{"error": {"code": <int>, "message", "metadata"}}`` with the HTTP status
equal to ``code``: 402 (no credits) becomes an ``insufficient_quota`` error, a moderation 403
or ``metadata.error_type == "content_policy_violation"`` a content-policy error, the rest
follows the shared mapping (401 -> provider auth, 429 -> rate limit, 5xx -> upstream).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from proxy.config.deployment import Deployment
from proxy.errors import (
    ContentPolicyError,
    ProxyError,
    UpstreamError,
    UpstreamQuotaError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from proxy.providers.base import join_url
from proxy.providers.upstream_errors import extract_message, map_http_error, retry_after_seconds
from proxy.redact import redact_text
from proxy.upstream_request import UpstreamResponse

PROVIDER = "openrouter"
DEFAULT_BASE = "https://openrouter.ai/api/v1"
MODALITIES = frozenset({"text", "image", "audio"})
# litellm_params.openrouter_api: which OpenRouter endpoint serves /v1/images/*. ``auto`` (the
# default): the images API for the models its list names, chat completions for the others.
IMAGE_APIS = ("auto", "chat", "images")
# What ``auto`` learns from OpenRouter's image model list (``deployment.learned``).
LISTED = "openrouter.images_api"  # the images API serves the deployment's model
STREAMS = "openrouter.streams"  # ... and streams it
# Chat-completions options: a deployment or request that sets one is served by chat.
CHAT_OPTIONS = ("image_config", "modalities")
CHAT_REQUEST_OPTIONS = (*CHAT_OPTIONS, "image_size")


def chat_url(deployment: Deployment) -> str:
    base = (deployment.params.api_base or DEFAULT_BASE).rstrip("/")
    if urlsplit(base).path.endswith("/chat/completions"):
        return base
    return join_url(base, "chat/completions")


def images_url(deployment: Deployment) -> str:
    """``{base}/images``; an ``api_base`` naming the chat endpoint is taken as its base."""
    base = (deployment.params.api_base or DEFAULT_BASE).rstrip("/")
    base = base.removesuffix("/chat/completions")
    if urlsplit(base).path.endswith("/images"):
        return base
    return join_url(base, "images")


def image_api(deployment: Deployment) -> str:
    return str(deployment.param("openrouter_api") or "auto")


def uses_images_api(deployment: Deployment, body: Mapping[str, Any]) -> bool:
    """Whether an image request (its ``body``) goes to ``POST /images`` rather than chat
    completions: as ``openrouter_api`` says; under ``auto``, when OpenRouter's image model
    list names the model and neither the deployment nor the request sets a chat option."""
    api = image_api(deployment)
    if api != "auto":
        return api == "images"
    if any(deployment.param(name) is not None for name in CHAT_OPTIONS):
        return False
    if any(name in body for name in CHAT_REQUEST_OPTIONS):
        return False
    return deployment.learned.get(LISTED) is True


def attribution_headers(deployment: Deployment) -> dict[str, str]:
    headers: dict[str, str] = {}
    extra = deployment.param("extra_headers")
    if isinstance(extra, Mapping):
        headers.update({str(k): str(v) for k, v in extra.items()})
    referer = deployment.param("http_referer")
    if referer:
        headers["HTTP-Referer"] = str(referer)
    title = deployment.param("x_title")
    if title:
        headers["X-Title"] = str(title)
    return headers


def validate(deployment: Deployment) -> str | None:
    """Config-time check of the OpenRouter-specific ``litellm_params``."""
    extra = deployment.param("extra_headers")
    if extra is not None and (
        not isinstance(extra, Mapping)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in extra.items())
    ):
        return "litellm_params.extra_headers: must map header names to strings"
    for name in ("http_referer", "x_title"):
        value = deployment.param(name)
        if value is not None and not isinstance(value, str):
            return f"litellm_params.{name}: must be a string"
    modalities = deployment.param("modalities")
    if modalities is not None and (
        not isinstance(modalities, list) or not modalities or not set(modalities) <= MODALITIES
    ):
        return "litellm_params.modalities: must be a list drawn from 'text', 'image', 'audio'"
    image_config = deployment.param("image_config")
    if image_config is not None and not isinstance(image_config, Mapping):
        return "litellm_params.image_config: must be a mapping"
    api = deployment.param("openrouter_api")
    if api is not None and api not in IMAGE_APIS:
        return f"litellm_params.openrouter_api: must be one of {', '.join(IMAGE_APIS)}"
    return None


def answer_object(response: UpstreamResponse) -> dict[str, Any]:
    """A 200 answer's JSON object (decoded once: image answers run to megabytes); an
    ``error`` object in it raises, mapped as an error answer is."""
    body = response.json()
    if not isinstance(body, dict):
        raise UpstreamError(f"{PROVIDER} answered with a non-object body", provider=PROVIDER)
    if isinstance(body.get("error"), dict):
        raise map_error_body(502, response.headers, b"", error=body["error"])
    return body


def images_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """Chat usage -> the ImagesResponse usage shape (``cost`` kept: OpenRouter's USD)."""
    out: dict[str, Any] = {
        "input_tokens": usage.get("prompt_tokens", 0),
        "output_tokens": usage.get("completion_tokens", 0),
        "total_tokens": usage.get("total_tokens", 0),
    }
    details = usage.get("completion_tokens_details")
    if isinstance(details, dict) and isinstance(details.get("image_tokens"), int):
        out["output_tokens_details"] = {
            "image_tokens": details["image_tokens"],
            "text_tokens": max(0, out["output_tokens"] - details["image_tokens"]),
        }
    if isinstance(usage.get("cost"), int | float):
        out["cost"] = usage["cost"]
    return out


def _is_moderation(message: str, metadata: Any) -> bool:
    if isinstance(metadata, Mapping):
        if metadata.get("error_type") == "content_policy_violation":
            return True
        if "reasons" in metadata or "flagged_input" in metadata:
            return True
    return "moderation" in message.lower() or "flagged" in message.lower()


def map_error_body(
    status: int, headers: Mapping[str, str], body: bytes, *, error: Mapping[str, Any] | None = None
) -> ProxyError:
    """An OpenRouter error (HTTP answer, or the ``error`` object of a stream chunk)."""
    if error is not None:
        message = redact_text(str(error.get("message") or ""))
        metadata = error.get("metadata")
    else:
        message, _, parsed = extract_message(body)
        inner = parsed.get("error") if isinstance(parsed, dict) else None
        metadata = inner.get("metadata") if isinstance(inner, dict) else None
    error_type = metadata.get("error_type") if isinstance(metadata, Mapping) else None
    text = f"{PROVIDER}: {message or f'HTTP {status}'}"
    if error_type == "content_policy_violation" or (
        status == 403 and _is_moderation(message, metadata)
    ):
        reasons = metadata.get("reasons") if isinstance(metadata, Mapping) else None
        if isinstance(reasons, list) and reasons:
            text += f" (reasons: {', '.join(map(str, reasons))})"
        return ContentPolicyError(text, provider=PROVIDER)
    if status == 402:
        return UpstreamQuotaError(
            f"{PROVIDER}: the account has insufficient credits (402): {message}",
            provider=PROVIDER,
        )
    if status in (524,) or error_type == "timeout":
        return UpstreamTimeoutError(text, provider=PROVIDER)
    if status == 529 or error_type == "provider_overloaded":
        return UpstreamUnavailableError(
            text, provider=PROVIDER, retry_after=retry_after_seconds(headers)
        )
    if error is not None:
        # A mid-stream error: the HTTP status was already 200, the chunk's code tells.
        code = error.get("code")
        status = code if isinstance(code, int) and 400 <= code < 600 else 502
        if error_type == "rate_limit_exceeded":
            status = 429
        return map_http_error(status, headers, b"", PROVIDER, message=message or "stream error")
    return map_http_error(status, headers, body, PROVIDER, message=message or None)
