"""``router_settings`` checks at start-up (handed to the loader by ``proxy.configure``).

LiteLLM also reads ``num_retries``, ``request_timeout`` and the fallback lists from
``litellm_settings``; they apply here too unless ``router_settings`` sets its own, and so do
the other router keys operators put there (``timeout``, ``stream_timeout``, ...): the loader
copies them over (``proxy.config.loader.with_litellm_router_keys``). Router keys LiteLLM has
but this proxy does not implement are warned by the loader (``proxy.config.compat``).
"""

from __future__ import annotations

from proxy.config import RouterSettings
from proxy.routing.fallbacks import check_fallbacks


def check_router_settings(
    settings: RouterSettings, groups: set[str]
) -> tuple[str | None, list[str]]:
    """(the first config error, warnings) for ``router_settings``."""
    return check_fallbacks(settings, groups) or check_aliases(settings, groups), []


def check_aliases(settings: RouterSettings, groups: set[str]) -> str | None:
    """Each ``model_group_alias`` names a model group, and no alias is a group itself (the
    group would win and the alias would silently do nothing)."""
    for alias, target in settings.group_aliases().items():
        where = f"router_settings.model_group_alias.{alias}"
        if alias in groups:
            return f"{where}: {alias!r} is a model group of its own; an alias must be a new name"
        if target.model not in groups:
            known = ", ".join(sorted(groups))
            return f"{where}: unknown model group {target.model!r} (known: {known})"
    return None
