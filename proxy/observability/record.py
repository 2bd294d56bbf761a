"""The per-request record shared by the structured log line and the callbacks.

Sizes, ids, timings and classes only: never a key, a header, an image or (unless
``log_prompts`` is on) a prompt. The HTTP path is carried by a context variable set by the
front door (``proxy.server.front``), so the record needs nothing from the endpoint code.
"""

from __future__ import annotations

import contextvars
from datetime import UTC, datetime
from typing import Any

from proxy.context import RequestContext
from proxy.guardrails.engine import prompt_parts
from proxy.redact import redact_text

CURRENT_ROUTE: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "proxy_route", default=None
)
# from error messages that echo it
MIN_SCRUBBED = 8
MAX_PROMPT_CHARS = 2000
MAX_ERROR_CHARS = 300


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def request_record(ctx: RequestContext) -> dict[str, Any]:
    key = ctx.key
    record: dict[str, Any] = {
        "event": "request",
        "timestamp": datetime.fromtimestamp(ctx.wall_time, UTC).isoformat(timespec="milliseconds"),
        "request_id": ctx.request_id,
        "route": CURRENT_ROUTE.get(),
        "endpoint": ctx.endpoint,
        "key_alias": key.alias if key else None,
        "key_id": key.key_hash[:12] if key and key.key_hash else None,
        "user_id": key.user_id if key else None,
        "end_user": ctx.end_user,
        "model_group": ctx.model_group,
        "deployment": ctx.deployment_id,
        "provider": ctx.provider,
        "stream": ctx.stream,
        "status": ctx.status,
        "latency_ms": _ms(ctx.latency),
        "upstream_latency_ms": _ms(ctx.upstream_seconds),
        "gateway_overhead_ms": _ms(ctx.overhead),
        "retries": ctx.retries,
        "fallbacks": ctx.fallbacks,
        "images": ctx.images,
        "cost": ctx.cost,
        "usage": _usage(ctx.usage),
        "error_class": ctx.error_class,
        "error": _error_text(ctx),
        "guardrails": list(ctx.guardrails),
        "guardrail_blocked": ctx.guardrail_blocked,
    }
    if ctx.guardrail_errors:
        record["guardrail_errors"] = list(ctx.guardrail_errors)
    if ctx.input_images:  # edits and variations: how many images came in, how big
        record["input_images"] = ctx.input_images
        record["input_bytes"] = ctx.input_bytes
    if ctx.logged_prompt is not None:
        record["prompt"] = ctx.logged_prompt
    return record


def _usage(usage: Any) -> dict[str, Any] | None:
    """Token counts only (numbers and nested number maps)."""
    if not isinstance(usage, dict):
        return None
    out: dict[str, Any] = {}
    for k, v in usage.items():
        if isinstance(v, bool):
            continue
        if isinstance(v, int | float):
            out[str(k)] = v
        elif isinstance(v, dict):
            nested = {str(a): b for a, b in v.items() if isinstance(b, int | float)}
            if nested:
                out[str(k)] = nested
    return out


def _error_text(ctx: RequestContext) -> str | None:
    """The error message, without the prompt when a provider echoed it back (unless prompt
    logging is on), keys masked and base64 removed."""
    message = ctx.error_message
    if not message:
        return None
    if ctx.logged_prompt is None:
        for text in sorted(prompt_texts(ctx), key=len, reverse=True):
            if len(text) >= MIN_SCRUBBED and text in message:
                message = message.replace(text, f"<prompt, {len(text)} chars>")
    return redact_text(message, MAX_ERROR_CHARS)


def remember_prompt(ctx: RequestContext, request: Any) -> None:
    """Keep the request, whose prompt texts are read only if an error message needs them."""
    ctx.prompt_source = request


def prompt_texts(ctx: RequestContext) -> tuple[str, ...]:
    request = ctx.prompt_source
    if request is None:
        return ()
    return tuple(t for p in prompt_parts(request) if (t := p.text.strip()))


def capture_prompt(ctx: RequestContext, parts: list[str]) -> None:
    text = "\n".join(parts)
    ctx.logged_prompt = redact_text(text, MAX_PROMPT_CHARS)
