"""``router_settings`` checks at start-up (handed to the loader by ``proxy.configure``).

LiteLLM also reads ``num_retries``, ``request_timeout`` and the fallback lists from
``litellm_settings``; they apply here too unless ``router_settings`` sets its own, and so do
the other router keys operators put there (``timeout``, ``stream_timeout``, ...): the loader
copies them over (``proxy.config.loader.with_litellm_router_keys``). Router keys LiteLLM has
but this proxy does not implement produce a start-up warning instead of being ignored in
silence.
"""

from __future__ import annotations

from proxy.config import RouterSettings
from proxy.routing.fallbacks import check_fallbacks

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
