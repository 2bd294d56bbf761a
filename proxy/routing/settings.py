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
    return check_fallbacks(settings, groups), []
