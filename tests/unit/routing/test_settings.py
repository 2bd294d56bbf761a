"""router_settings parsing: defaults, strategy names, LiteLLM spellings, warnings."""

from __future__ import annotations

import pytest

from proxy.config import ConfigError
from proxy.configure import parse_config

MODELS = [
    {"model_name": "a", "litellm_params": {"model": "mock/x"}},
    {"model_name": "b", "litellm_params": {"model": "mock/y", "stream_timeout": 3}},
]


def test_defaults() -> None:
    s = parse_config({"model_list": MODELS}, env={}).router
    assert (s.routing_strategy, s.num_retries, s.allowed_fails, s.cooldown_time) == (
        "simple-shuffle",
        0,
        3,
        5.0,
    )
    assert (s.max_fallbacks, s.retry_after, s.request_deadline, s.stream_timeout) == (
        5,
        0.0,
        None,
        None,
    )
    assert s.routing_strategy_args.exploration_rate == 0.05


def test_strategy_names_and_aliases() -> None:
    cfg = parse_config(
        {"model_list": MODELS, "router_settings": {"routing_strategy": "usage-based-routing-v2"}},
        env={},
    )
    assert cfg.router.routing_strategy == "usage-based-routing"
    with pytest.raises(ConfigError, match=r"router_settings\.routing_strategy: .*cost-based"):
        parse_config(
            {"model_list": MODELS, "router_settings": {"routing_strategy": "cost-based-routing"}},
            env={},
        )


def test_litellm_settings_spellings_apply_unless_router_settings_sets_them() -> None:
    cfg = parse_config(
        {
            "model_list": MODELS,
            "litellm_settings": {
                "num_retries": 4,
                "request_timeout": 42,
                "fallbacks": [{"a": ["b"]}],
                "cooldown_time": 9,
            },
            "router_settings": {"cooldown_time": 1},
        },
        env={},
    )
    assert cfg.router.num_retries == 4 and cfg.router.timeout == 42
    assert cfg.router.fallbacks == [{"a": ["b"]}] and cfg.router.cooldown_time == 1
    assert cfg.deployments[0].timeout == 42


def test_router_stream_timeout_is_the_default_for_deployments() -> None:
    cfg = parse_config({"model_list": MODELS, "router_settings": {"stream_timeout": 7}}, env={})
    assert [d.params.stream_timeout for d in cfg.deployments] == [7, 3]


def test_unimplemented_litellm_keys_warn() -> None:
    cfg = parse_config(
        {"model_list": MODELS, "router_settings": {"retry_policy": {"x": 1}}}, env={}
    )
    assert any("router_settings.retry_policy" in w for w in cfg.warnings)


def test_timeouts_and_other_router_keys_under_litellm_settings() -> None:
    cfg = parse_config(
        {
            "model_list": MODELS,
            "litellm_settings": {
                "timeout": 12,
                "stream_timeout": 4,
                "allowed_fails": 1,
                "content_policy_fallbacks": [{"a": ["b"]}],
                "max_fallbacks": 2,
            },
        },
        env={},
    )
    assert cfg.router.timeout == 12 and cfg.router.stream_timeout == 4
    assert cfg.router.allowed_fails == 1 and cfg.router.max_fallbacks == 2
    assert cfg.router.content_policy_fallbacks == [{"a": ["b"]}]
    assert cfg.deployments[0].timeout == 12
    assert cfg.deployments[0].params.stream_timeout == 4
