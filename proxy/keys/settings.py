"""The ``litellm_settings`` budget keys, checked when the config loads: a bad value stops
start-up with its path (``litellm_settings.budget_duration: invalid duration ...``), never a
traceback when the keys feature is built."""

from __future__ import annotations

from typing import Any

from proxy.config.errors import ConfigError
from proxy.keys.durations import parse_duration

BUDGETS = (  # (limit, its window)
    ("max_budget", "budget_duration"),
    ("max_end_user_budget", "end_user_budget_duration"),
)


def check_budget_settings(resolved: dict[str, Any]) -> list[str]:
    """Nothing to warn of; every bad value at once (a ``ConfigError`` line each)."""
    settings = resolved.get("litellm_settings")
    if not isinstance(settings, dict):
        return []
    problems = []
    for limit_key, window_key in BUDGETS:
        limit = settings.get(limit_key)
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int | float) or limit < 0
        ):
            problems.append(f"litellm_settings.{limit_key}: must be a number of USD >= 0")
        window = settings.get(window_key)
        if window is not None:
            try:
                parse_duration(str(window))
            except ValueError as exc:
                problems.append(f"litellm_settings.{window_key}: {exc}")
    if problems:
        raise ConfigError("\n".join(problems))
    return []
