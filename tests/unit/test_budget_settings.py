"""``litellm_settings`` budget keys are checked when the config loads, with their path."""

from __future__ import annotations

from typing import Any

import pytest

from proxy.config import ConfigError
from proxy.configure import parse_config

BASE: dict[str, Any] = {"model_list": [{"model_name": "m", "litellm_params": {"model": "mock/x"}}]}


def load(settings: dict[str, Any]) -> Any:
    return parse_config({**BASE, "litellm_settings": settings}, env={})


@pytest.mark.parametrize(
    ("settings", "path"),
    [
        ({"max_budget": "lots"}, "litellm_settings.max_budget"),
        ({"max_budget": -1}, "litellm_settings.max_budget"),
        ({"max_budget": True}, "litellm_settings.max_budget"),
        ({"max_budget": 5, "budget_duration": "3 days"}, "litellm_settings.budget_duration"),
        ({"max_end_user_budget": [1]}, "litellm_settings.max_end_user_budget"),
        ({"end_user_budget_duration": "0d"}, "litellm_settings.end_user_budget_duration"),
    ],
)
def test_a_bad_budget_value_stops_start_up_naming_its_path(
    settings: dict[str, Any], path: str
) -> None:
    with pytest.raises(ConfigError, match=path.replace(".", r"\.")):
        load(settings)


def test_good_budget_values_load_without_a_warning_about_them() -> None:
    config = load({"max_budget": 10, "budget_duration": "30d", "max_end_user_budget": 0.5})
    assert not [w for w in config.warnings if "budget" in w]


def test_every_bad_budget_value_is_named_at_once() -> None:
    with pytest.raises(ConfigError) as raised:
        load({"max_budget": "lots", "budget_duration": "3 days"})
    message = str(raised.value)
    assert message.startswith("2 problems:")
    assert "litellm_settings.max_budget" in message
    assert "litellm_settings.budget_duration" in message
