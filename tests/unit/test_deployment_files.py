"""docker-compose.yaml, deploy/config.yaml and the Dockerfile agree with each other and with the
config loader. (The image itself is built and run by tests/container/run_container_test.sh.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from proxy.config.loader import ENV_PREFIX
from proxy.configure import load_config
from tests.container.compose_env import compose, interpolate, proxy_environment

REPO = Path(__file__).resolve().parents[2]


def dockerfile_env() -> dict[str, str]:
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    runtime = text.split("AS runtime", 1)[1]
    env: dict[str, str] = {}
    for line in runtime.splitlines():
        if line.startswith("ENV "):
            env.update(dict(re.findall(r"(\w+)=(\S+)", line)))
    return env


def env_names(value: Any) -> set[str]:
    if isinstance(value, str) and value.startswith(ENV_PREFIX):
        return {value[len(ENV_PREFIX) :]}
    if isinstance(value, dict):
        return set().union(*(env_names(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(env_names(v) for v in value)) if value else set()
    return set()


def test_two_proxy_replicas_behind_healthy_postgres_and_redis() -> None:
    services = compose()["services"]
    assert set(services) == {"proxy", "postgres", "redis"}
    proxy = services["proxy"]
    assert proxy["deploy"]["replicas"] == 2
    assert proxy["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    for name, service in services.items():
        assert service["healthcheck"]["test"][0] == "CMD", name
    assert proxy["healthcheck"]["test"] == ["CMD", "python3", "-m", "proxy.healthcheck"]
    # Only the proxy is published; the database and Redis stay on the compose network.
    assert "ports" not in services["postgres"] and "ports" not in services["redis"]


def test_the_mounted_config_is_where_the_image_reads_it() -> None:
    env = dockerfile_env()
    assert env["PROXY_CONFIG"] == "/app/config.yaml"
    assert env["PROXY_PORT"] == "4000" and env["PROXY_HOST"] == "0.0.0.0"
    mounts = [v.split(":") for v in compose()["services"]["proxy"]["volumes"]]
    assert ["./deploy/config.yaml", env["PROXY_CONFIG"], "ro"] in mounts
    published = compose()["services"]["proxy"]["ports"][0]
    assert published.endswith(f":{env['PROXY_PORT']}")


def test_every_variable_the_config_reads_is_set_by_compose() -> None:
    config_vars = env_names(yaml.safe_load((REPO / "deploy/config.yaml").read_text()))
    environment = compose()["services"]["proxy"]["environment"]
    assert config_vars <= set(environment), config_vars - set(environment)
    # Provider keys are pass-through (null: unset stays unset, never an empty key).
    assert environment["OPENAI_API_KEY"] is None


def test_the_compose_config_loads_with_the_environment_compose_gives(
    monkeypatch: Any,
) -> None:
    shell = {
        "PROXY_MASTER_KEY": "sk-compose-test",
        "REDIS_PASSWORD": "r3dis",
        "OPENAI_API_KEY": "sk-openai",
    }
    for name, value in proxy_environment(shell).items():
        monkeypatch.setenv(name, value)
    config = load_config(str(REPO / "deploy/config.yaml"))
    assert not config.warnings
    assert config.general.master_key == "sk-compose-test"
    assert config.general.database_url == (
        "postgresql://proxy:proxy-db-change-me@postgres:5432/proxy"
    )
    assert {d.model_name for d in config.deployments if d.available} == {"mock-image", "gpt-image"}
    router = config.router.model_dump()
    assert (router["redis_host"], str(router["redis_port"]), router["redis_password"]) == (
        "redis",
        "6379",
        "r3dis",
    )


def test_compose_refuses_to_start_without_a_master_key() -> None:
    value = compose()["services"]["proxy"]["environment"]["PROXY_MASTER_KEY"]
    try:
        interpolate(value, {})
    except KeyError as exc:
        assert "PROXY_MASTER_KEY" in str(exc)
    else:
        raise AssertionError("PROXY_MASTER_KEY has a default")


def test_dockerignore_keeps_tests_and_secrets_out_of_the_build_context() -> None:
    lines = [ln.strip() for ln in (REPO / ".dockerignore").read_text().splitlines()]
    rules = [ln for ln in lines if ln and not ln.startswith("#")]
    assert rules[0] == "*"  # allow-list: anything new stays out unless named
    allowed = {r[1:].rstrip("/") for r in rules if r.startswith("!")}
    assert allowed == {
        "pyproject.toml",
        "requirements.lock",
        "README.md",
        "config.example.yaml",
        "proxy",
    }
