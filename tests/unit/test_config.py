from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from proxy.config import ConfigError
from proxy.configure import load_config, parse_config


def cfg(*entries: dict[str, Any], **top: object) -> dict[str, Any]:
    return {"model_list": list(entries), **top}


def test_env_values_resolved_and_missing_marked() -> None:
    config = parse_config(
        cfg(
            {
                "model_name": "a",
                "litellm_params": {"model": "openai/gpt-image-1", "api_key": "os.environ/K1"},
            },
            {
                "model_name": "a",
                "litellm_params": {
                    "model": "openai/gpt-image-1",
                    "api_key": "os.environ/K2",
                    "api_base": "http://x/v1",
                },
            },
        ),
        env={"K1": "secret-1"},
    )
    first, second = config.deployments
    assert first.params.api_key == "secret-1" and first.available
    assert not second.available
    assert second.missing_env_message() == (
        "model_list[1].litellm_params.api_key: environment variable K2 is not set"
    )
    assert config.warnings == (second.missing_env_message(),)


@pytest.mark.parametrize(
    ("model", "provider", "model_id"),
    [
        ("dall-e-3", "openai", "dall-e-3"),
        ("openai/gpt-image-1", "openai", "gpt-image-1"),
        ("azure/my-dep", "azure", "my-dep"),
        ("nscale/black-forest-labs/FLUX.1-schnell", "nscale", "black-forest-labs/FLUX.1-schnell"),
        ("xinference/uid-1", "xinference", "uid-1"),
        ("mock/anything", "mock", "anything"),
    ],
)
def test_provider_prefixes(model: str, provider: str, model_id: str) -> None:
    params = {"model": model, "api_key": "k"}
    if provider == "azure":
        params["api_base"] = "https://r.openai.azure.com"
    (dep,) = parse_config(cfg({"model_name": "m", "litellm_params": params})).deployments
    assert (dep.provider, dep.model) == (provider, model_id)


def test_unknown_prefix_is_skipped_with_a_warning_naming_the_path() -> None:
    config = parse_config(cfg({"model_name": "m", "litellm_params": {"model": "zzz/x"}}))
    assert config.deployments == ()
    assert config.warnings == ("model_list[0]: skipped, unknown provider prefix 'zzz'",)


def test_deployment_ids_are_stable_and_explicit_ids_kept() -> None:
    entries = (
        {"model_name": "m", "litellm_params": {"model": "mock/a"}},
        {"model_name": "m", "litellm_params": {"model": "mock/b"}, "model_info": {"id": "mine"}},
    )
    one = parse_config(cfg(*entries)).deployments
    two = parse_config(cfg(*entries)).deployments
    assert one[0].id == two[0].id and one[1].id == "mine"
    with pytest.raises(ConfigError, match="duplicate deployment id"):
        parse_config(cfg(entries[1], entries[1]))


def test_default_timeout_is_long_and_overridable() -> None:
    a, b = parse_config(
        cfg(
            {"model_name": "m", "litellm_params": {"model": "mock/a"}},
            {"model_name": "m", "litellm_params": {"model": "mock/b", "timeout": 30}},
        )
    ).deployments
    assert a.timeout >= 600 and b.timeout == 30


def test_general_settings_env_missing_is_fatal() -> None:
    with pytest.raises(ConfigError, match=r"general_settings\.master_key"):
        parse_config(cfg(general_settings={"master_key": "os.environ/NOPE_MASTER"}), env={})


@pytest.mark.parametrize(
    "api_base",
    [
        "not a url",
        "ftp://host/v1",
        "http://",
        "host:9997/v1",
        "https://h/v1?key=sk-in-query-1234",
        "https://h/v1\n",
    ],
)
def test_api_base_must_be_an_http_url(api_base: str) -> None:
    entry = {"model_name": "m", "litellm_params": {"model": "openai/x", "api_base": api_base}}
    with pytest.raises(ConfigError, match=r"model_list\[0\]\.litellm_params\.api_base: ") as info:
        parse_config(cfg(entry))
    assert "sk-in-query" not in str(info.value) and "\n" not in str(info.value)


def test_api_base_from_the_environment_is_checked_too() -> None:
    entry = {
        "model_name": "m",
        "litellm_params": {"model": "openai/x", "api_base": "os.environ/BASE"},
    }
    with pytest.raises(ConfigError, match=r"litellm_params\.api_base"):
        parse_config(cfg(entry), env={"BASE": "localhost:8000"})
    (dep,) = parse_config(cfg(entry), env={"BASE": "http://localhost:8000/v1"}).deployments
    assert dep.params.api_base == "http://localhost:8000/v1"


def test_unreadable_files_are_one_line_errors(tmp_path: Path) -> None:
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes(b"model_list: []\n# caf\xe9\n")
    with pytest.raises(ConfigError, match=r"latin1\.yaml: not UTF-8"):
        load_config(latin1)
    control = tmp_path / "control.yaml"
    control.write_bytes(b"a: \x01\n")
    with pytest.raises(ConfigError) as info:
        load_config(control)
    assert str(info.value) == f"{control}: invalid YAML"
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path)
