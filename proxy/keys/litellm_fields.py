"""The fields of LiteLLM's key requests (``GenerateKeyRequest`` / ``UpdateKeyRequest`` in
LiteLLM's ``proxy/_types.py``) beyond the ones ``KeyFields`` always had.

LiteLLM's clients send every field on every call, most as ``null`` or an empty default, so each
is accepted with ``null``. Four are acted on: ``max_parallel_requests`` (a per-key concurrency
limit, 429), ``tpm_limit`` (tokens per minute, counted from the usage providers report: chat,
gpt-image and Gemini answers; 429), ``aliases`` (key-specific model names, applied before
routing) and ``blocked`` (401 while set); ``spend`` sets a new key's starting spend and
``team_id`` is a ``/key/list`` filter. The others are stored and shown, and the answer names
each one that was given a value in ``warnings``: this proxy does not act on it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

# Stored in the key's ``settings`` and acted on.
ACTED_ON = ("max_parallel_requests", "tpm_limit", "aliases", "blocked")
# Stored in ``settings`` and shown, not acted on: named in the answer's ``warnings``.
STORED_ONLY = (
    "soft_budget",
    "tags",
    "permissions",
    "config",
    "allowed_cache_controls",
    "model_max_budget",
    "model_rpm_limit",
    "model_tpm_limit",
    "enforced_params",
    "allowed_routes",
    "budget_id",
    "send_invite_email",
    "key_type",
    "auto_rotate",
    "rotation_interval",
    "organization_id",
    "project_id",
    "agent_id",
    "policies",
    "prompts",
    "object_permission",
    "budget_limits",
    "budget_fallbacks",
    "mcp_rpm_limit",
    "tag_rpm_limit",
    "rpm_limit_type",
    "tpm_limit_type",
    "router_settings",
    "access_group_ids",
    "default_estimated_output_tokens",
    "default_estimated_output_tokens_per_model",
    "disable_global_guardrails",
    "enable_prompt_caching",
    "throttle_on_budget_exceeded",
    "allowed_passthrough_routes",
    "allowed_vector_store_indexes",
)
SETTINGS = (*ACTED_ON, *STORED_ONLY)
# LiteLLM's defaults for fields it sends every time: such a value asks for nothing.
EMPTY: tuple[Any, ...] = (None, {}, [], False, "default")
# Shown on every key (as LiteLLM's key answers have them) even when never set.
SHOWN_UNSET: dict[str, Any] = {
    "tpm_limit": None,
    "soft_budget": None,
    "tags": None,
    "config": {},
    "permissions": {},
    "allowed_cache_controls": [],
    "model_max_budget": {},
}
WHY = {
    "team_id": "stored and filterable in /key/list; this proxy has no team limits",
}


class LiteLLMKeyFields(BaseModel):
    """LiteLLM's key fields, every one optional and ``null``-able."""

    max_parallel_requests: int | None = Field(default=None, ge=1)
    aliases: dict[str, str] | None = Field(
        default=None, description="Model names this key may use, each naming a model group."
    )
    blocked: bool | None = None
    team_id: str | None = Field(default=None, min_length=1, max_length=200)
    spend: float | None = Field(default=None, ge=0, description="A new key's starting spend.")
    tpm_limit: int | None = Field(default=None, ge=0)
    soft_budget: float | None = Field(default=None, ge=0)
    tags: list[str] | None = None
    permissions: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    allowed_cache_controls: list[Any] | None = None
    model_max_budget: dict[str, Any] | None = None
    model_rpm_limit: dict[str, Any] | None = None
    model_tpm_limit: dict[str, Any] | None = None
    enforced_params: list[str] | None = None
    allowed_routes: list[Any] | None = None
    budget_id: str | None = None
    send_invite_email: bool | None = None
    key_type: str | None = None
    auto_rotate: bool | None = None
    rotation_interval: str | None = None
    organization_id: str | None = None
    project_id: str | None = None
    agent_id: str | None = None
    policies: list[str] | None = None
    prompts: list[str] | None = None
    object_permission: dict[str, Any] | None = None
    budget_limits: list[Any] | None = None
    budget_fallbacks: dict[str, Any] | None = None
    mcp_rpm_limit: dict[str, Any] | None = None
    tag_rpm_limit: dict[str, Any] | None = None
    rpm_limit_type: str | None = None
    tpm_limit_type: str | None = None
    router_settings: dict[str, Any] | None = None
    access_group_ids: list[str] | None = None
    default_estimated_output_tokens: int | None = None
    default_estimated_output_tokens_per_model: dict[str, Any] | None = None
    disable_global_guardrails: bool | None = None
    enable_prompt_caching: bool | None = None
    throttle_on_budget_exceeded: bool | None = None
    allowed_passthrough_routes: list[Any] | None = None
    allowed_vector_store_indexes: list[Any] | None = None

    def settings(self, given: set[str]) -> dict[str, Any]:
        """The ``settings`` fields among ``given``, with their values (None included)."""
        return {name: getattr(self, name) for name in SETTINGS if name in given}

    def warnings(self, given: set[str]) -> list[str]:
        """One line for each field given a value this proxy stores but does not act on."""
        out = []
        for name in ("team_id", *STORED_ONLY):
            value = getattr(self, name)
            if name in given and not any(value == e and type(value) is type(e) for e in EMPTY):
                why = WHY.get(name, "stored and shown, not acted on by this proxy")
                out.append(f"{name}: {why}.")
        return out


def merged(current: dict[str, Any] | None, changes: dict[str, Any]) -> dict[str, Any]:
    """``current`` settings with ``changes`` applied; a ``None`` removes the field."""
    out = dict(current or {})
    for name, value in changes.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out
