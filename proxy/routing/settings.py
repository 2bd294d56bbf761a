"""``router_settings`` checks at start-up, and the LiteLLM spellings kept elsewhere.

LiteLLM also reads ``num_retries``, ``request_timeout`` and the fallback lists from
``litellm_settings``; they apply here too unless ``router_settings`` sets its own, and so do
the other router keys operators put there (``timeout``, ``stream_timeout``, ...). Router keys
LiteLLM has but this proxy does not implement produce a start-up warning instead of being
ignored in silence.
"""

from __future__ import annotations

from typing import Any

from proxy.config import RouterSettings
from proxy.routing.fallbacks import check_fallbacks

FROM_LITELLM_SETTINGS = {
    "num_retries": "num_retries",
    "request_timeout": "timeout",
    "timeout": "timeout",
    "stream_timeout": "stream_timeout",
    "routing_strategy": "routing_strategy",
    "retry_after": "retry_after",
    "max_fallbacks": "max_fallbacks",
    "disable_cooldowns": "disable_cooldowns",
    "fallbacks": "fallbacks",
    "default_fallbacks": "default_fallbacks",
    "content_policy_fallbacks": "content_policy_fallbacks",
    "allowed_fails": "allowed_fails",
    "cooldown_time": "cooldown_time",
}

NOT_IMPLEMENTED = frozenset(
    {
        "retry_policy",
        "model_group_retry_policy",
        "allowed_fails_policy",
        "context_window_fallbacks",
        "enable_pre_call_checks",
        "model_group_alias",
        "enable_tag_filtering",
        "provider_budget_config",
        "routing_groups",
    }
)


def with_litellm_router_keys(data: dict[str, Any]) -> dict[str, Any]:
    """The raw config with ``litellm_settings`` router keys copied into ``router_settings``
    where that does not set them itself."""
    litellm = data.get("litellm_settings")
    if not isinstance(litellm, dict):
        return data
    router = data.get("router_settings")
    router = dict(router) if isinstance(router, dict) else {}
    for source, target in FROM_LITELLM_SETTINGS.items():
        if source in litellm and target not in router:
            router[target] = litellm[source]
    return {**data, "router_settings": router}


def check_router_settings(
    settings: RouterSettings, groups: set[str]
) -> tuple[str | None, list[str]]:
    """(the first config error, warnings) for ``router_settings``."""
    warnings = [
        f"router_settings.{key}: not implemented by this proxy; ignored"
        for key in sorted(settings.model_extra or {})
        if key in NOT_IMPLEMENTED
    ]
    return check_fallbacks(settings, groups), warnings
