"""A variable named only under a key image-proxy ignores stops nothing (LiteLLM's own example
config names some in sections only LiteLLM reads), and a wildcard route of a provider the
gateway does not serve is skipped at start-up, as its plain deployments are."""

from __future__ import annotations

from typing import Any

import pytest

from proxy.config import ConfigError
from proxy.configure import parse_config

CONFIG: dict[str, Any] = {
    "model_list": [
        {"model_name": "img", "litellm_params": {"model": "mock/x"}},
        {
            "model_name": "gpt",
            "litellm_params": {
                "model": "openai/gpt-image-2",
                "api_key": "sk-upstream",
                "langfuse_secret": "os.environ/UNSET_LANGFUSE",  # ignored by us
            },
        },
        {"model_name": "anthropic/*", "litellm_params": {"model": "anthropic/*"}},
    ],
    "finetune_settings": [{"custom_llm_provider": "azure", "api_key": "os.environ/UNSET_AZ"}],
    "litellm_settings": {"default_team_settings": [{"langfuse_secret": "os.environ/UNSET_LF"}]},
    "general_settings": {"master_key": "sk-master"},
}


def test_unset_variables_under_ignored_keys_stop_nothing() -> None:
    config = parse_config(CONFIG, env={})
    assert {d.model_name: d.available for d in config.deployments} == {"img": True, "gpt": True}
    assert "finetune_settings: LiteLLM setting not implemented by image-proxy; ignored" in (
        config.warnings
    )
    assert not any("UNSET_" in w for w in config.warnings)


def test_a_wildcard_of_an_unserved_provider_is_skipped_with_a_warning() -> None:
    config = parse_config(CONFIG, env={})
    assert "model_list[2]: skipped, provider 'anthropic' is not served by image-proxy" in (
        config.warnings
    )


def test_an_unset_variable_under_a_key_that_is_read_still_stops_start_up() -> None:
    config = {**CONFIG, "router_settings": {"redis_host": "os.environ/UNSET_REDIS"}}
    with pytest.raises(ConfigError, match=r"router_settings\.redis_host: environment variable"):
        parse_config(config, env={})


ALIASED: dict[str, Any] = {
    "model_list": [{"model_name": "img", "litellm_params": {"model": "mock/x"}}],
    "general_settings": {"master_key": "sk-master"},
}


@pytest.mark.parametrize(
    ("aliases", "message"),
    [
        ({"a": "nosuch"}, r"model_group_alias\.a: unknown model group 'nosuch'"),
        ({"img": "img"}, r"model_group_alias\.img: 'img' is a model group of its own"),
    ],
)
def test_a_model_group_alias_must_name_a_group_and_be_a_new_name(
    aliases: dict[str, str], message: str
) -> None:
    config = {**ALIASED, "router_settings": {"model_group_alias": aliases}}
    with pytest.raises(ConfigError, match=message):
        parse_config(config, env={})


def test_model_group_alias_is_read_not_warned() -> None:
    config = {**ALIASED, "router_settings": {"model_group_alias": {"a": {"model": "img"}}}}
    loaded = parse_config(config, env={})
    assert not any("model_group_alias" in w for w in loaded.warnings)
    assert loaded.router.group_aliases()["a"].model == "img"
