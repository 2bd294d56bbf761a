"""Retired models: the shipped facts, and the start-up warning for a deployment of one
(model, date, successor), never for compatible servers or models still live."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from proxy.config import Deployment
from proxy.configure import load_config, parse_config
from proxy.pricing.retirements import load, parse, retirement_of, retirement_warnings

TODAY = date(2026, 12, 3)
REPO = Path(__file__).resolve().parents[2]


def deployments(*entries: tuple[str, dict[str, Any]]) -> tuple[Deployment, ...]:
    return parse_config(
        {
            "model_list": [
                {
                    "model_name": f"m{i}",
                    "litellm_params": {"model": model, "api_key": "k", **params},
                }
                for i, (model, params) in enumerate(entries)
            ]
        }
    ).deployments


def one(model: str, **params: Any) -> Deployment:
    (dep,) = deployments((model, params))
    return dep


VERTEX = {"vertex_project": "p", "vertex_location": "us-central1"}
AWS = {"aws_region_name": "us-east-1"}
KEY = {"api_key": "k"}


@pytest.mark.parametrize(
    ("model", "params", "retired", "successor"),
    [
        ("dall-e-2", {}, "2026-05-12", "gpt-image-2"),
        ("openai/dall-e-3", {}, "2026-05-12", "gpt-image-2"),
        ("openai/gpt-image-1", {}, "2026-10-23", "gpt-image-2"),
        ("openai/gpt-image-1-mini", {}, "2026-12-01", "gpt-image-2"),
        ("openai/gpt-image-1.5", {}, "2026-12-01", "gpt-image-2"),
        ("openai/gpt-image-1.5-2025-12-16", {}, "2026-12-01", "gpt-image-2"),
        ("openai/chatgpt-image-latest", {}, "2026-12-01", "gpt-image-2"),
        (
            "openai/dall-e-3",
            {"api_base": "https://api.openai.com/v1"},
            "2026-05-12",
            "gpt-image-2",
        ),
        ("gemini/gemini-3-pro-image-preview", KEY, "2026-06-25", "gemini-3-pro-image"),
        ("gemini/gemini-3.1-flash-image-preview", KEY, "2026-06-25", "gemini-3.1-flash-image"),
        ("vertex_ai/gemini-3-pro-image-preview", VERTEX, "2026-06-25", "gemini-3-pro-image"),
        ("gemini/imagen-4.0-generate-001", KEY, "2026-08-17", "gemini-3.1-flash-image"),
        ("vertex_ai/imagen-3.0-capability-001", VERTEX, "2026-08-17", "gemini-3.1-flash-image"),
        ("vertex_ai/imagegeneration@006", VERTEX, "2026-08-17", "gemini-3.1-flash-image"),
        ("bedrock/amazon.titan-image-generator-v2:0", AWS, "2026-06-30", "stability."),
        ("bedrock/us.amazon.nova-canvas-v1:0", AWS, "2026-09-30", "stability."),
    ],
)
def test_retired_models_warn_with_date_and_successor(
    model: str, params: dict[str, Any], retired: str, successor: str
) -> None:
    (line,) = retirement_warnings(deployments(("mock/x", {}), (model, params)), TODAY)
    assert line.startswith("model_list[1] (m1): ")
    assert model.rsplit("/", 1)[-1] in line
    assert f"shut down by its provider on {retired}" in line
    assert f"Move to {successor}" in line


@pytest.mark.parametrize(
    ("model", "params"),
    [
        ("openai/gpt-image-2", {}),
        ("openai/gpt-image-2-2026-04-21", {}),
        ("gemini/gemini-3-pro-image", KEY),
        ("gemini/gemini-3.1-flash-image", KEY),
        ("vertex_ai/gemini-3.1-flash-image", VERTEX),
        ("bedrock/stability.stable-image-core-v1:1", AWS),
        ("mock/dall-e-3", {}),
        # compatible servers reuse the names and keep serving them
        ("openai/dall-e-2", {"api_base": "http://localai:8080/v1"}),
        ("openai/gpt-image-1", {"api_base": "https://my-gateway.example/v1"}),
        ("xinference/dall-e-3", {"api_base": "http://x:9997/v1"}),
        # Azure keeps its own schedule
        ("azure/dall-e-3", {"api_base": "https://r.openai.azure.com"}),
    ],
)
def test_live_models_and_compatible_servers_do_not_warn(model: str, params: dict[str, Any]) -> None:
    assert retirement_warnings([one(model, **params)], TODAY) == []


def test_the_warning_waits_for_the_date() -> None:
    dep = one("openai/gpt-image-1.5")
    assert retirement_warnings([dep], date(2026, 11, 30)) == []
    assert len(retirement_warnings([dep], date(2026, 12, 1))) == 1


def xai(model: str, api_base: str | None = None) -> Deployment:
    """An ``xai/`` deployment (the provider may not be registered on this branch)."""
    dep = one("openai/x", api_base=api_base) if api_base else one("openai/x")
    return replace(dep, provider="xai", model=model)


def test_xai_quality_model_warns_unless_served_elsewhere() -> None:
    (line,) = retirement_warnings([xai("grok-imagine-image-quality")], TODAY)
    assert "on 2026-11-02" in line and "Move to grok-imagine-image-2.0." in line
    assert retirement_warnings([xai("grok-imagine-image-2.0")], TODAY) == []
    assert retirement_warnings([xai("grok-imagine-image-quality", "https://api.x.ai/v1")], TODAY)
    assert not retirement_warnings([xai("grok-imagine-image-quality", "http://h/v1")], TODAY)


def test_a_table_given_in_place_of_the_file() -> None:
    table = parse({"models": {"xai/grok-imagine-*": {"retired": "2026-11-02", "successor": "s"}}})
    dep = xai("grok-imagine-image-quality")
    found = retirement_of(dep, table)
    assert found is not None and found.retired == date(2026, 11, 2)
    (line,) = retirement_warnings([dep], TODAY, table)
    assert "xai/grok-imagine-image-quality" in line and "Move to s." in line


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({}, "'models' must be a mapping"),
        ({"models": {"openai/x": {"retired": "2026-01-01"}}}, "needs 'retired' and 'successor'"),
        ({"models": {"openai/x": {"retired": "soon", "successor": "y"}}}, "must be a date"),
    ],
)
def test_bad_tables_are_refused(data: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse(data)


def test_the_shipped_file_names_every_retirement_the_brief_lists() -> None:
    table = load()
    patterns = {r.pattern for r in table}
    assert {
        "openai/dall-e-2",
        "openai/dall-e-3",
        "openai/gpt-image-1",
        "openai/gpt-image-1-mini",
        "openai/gpt-image-1.5",
        "openai/chatgpt-image-latest",
        "gemini/gemini-3-pro-image-preview",
        "gemini/gemini-3.1-flash-image-preview",
        "gemini/imagen-*",
        "vertex_ai/imagen-*",
        "bedrock/amazon.titan-image-generator-v2*",
        "bedrock/amazon.nova-canvas-v1*",
        "xai/grok-imagine-image-quality",
    } <= patterns
    assert all(r.successor and r.source for r in table)


@pytest.mark.parametrize("path", ["config.example.yaml", "deploy/config.yaml"])
def test_the_shipped_configs_offer_only_live_models(path: str) -> None:
    # offline: no provider variable set, so every keyed deployment is skipped
    env = {
        "PROXY_MASTER_KEY": "sk-test",
        "DATABASE_URL": "postgresql://db/proxy",
        "REDIS_HOST": "redis",
        "REDIS_PORT": "6379",
        "REDIS_PASSWORD": "r",
    }
    config = load_config(str(REPO / path), env=env)
    assert {d.model_name for d in config.deployments if d.available} == {"mock-image"}
    assert any(d.available and d.provider == "mock" for d in config.deployments)
    assert retirement_warnings(config.deployments, TODAY) == []
    assert retirement_warnings(config.deployments, date(2027, 1, 1)) == []
