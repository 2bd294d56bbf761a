"""Start-up: config validation exit codes, warnings, the master-key rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.fakes.proxy_process import ProxyProcess, run_cli


def write(tmp_path: Path, data: Any, name: str = "c.yaml") -> str:
    p = tmp_path / name
    p.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return str(p)


MOCK = {"model_name": "m", "litellm_params": {"model": "mock/x"}}


def test_unknown_provider_prefix_is_skipped_and_check_config_names_it(tmp_path: Path) -> None:
    """A deployment the gateway does not serve does not stop start-up (it is skipped with a
    warning); ``--check-config`` names its path as a warning and passes: it fails only on what
    would fail a request (unset variables, no master key)."""
    path = write(
        tmp_path,
        {
            "model_list": [MOCK, {"model_name": "x", "litellm_params": {"model": "nosuch/model"}}],
            "general_settings": {"master_key": "k"},
        },
    )
    result = run_cli(["--config", path, "--check-config"])
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == ["warning: model_list[1]: skipped, unknown provider prefix 'nosuch'"]
    assert "config ok: 1 deployments" in result.stdout


def test_bad_yaml_and_bad_fields_exit_2(tmp_path: Path) -> None:
    bad_yaml = write(tmp_path, "model_list: [\n  - {model_name: x,\n", "bad.yaml")
    result = run_cli(["--config", bad_yaml])
    assert result.returncode == 2 and "bad.yaml" in result.stderr
    missing = write(tmp_path, {"model_list": [{"model_name": "x", "litellm_params": {}}]})
    result = run_cli(["--config", missing])
    assert result.returncode == 2
    assert "model_list[0].litellm_params.model" in result.stderr
    wrong_type = write(
        tmp_path,
        {
            "model_list": [
                {"model_name": "x", "litellm_params": {"model": "mock/x", "timeout": "soon"}}
            ]
        },
        "t.yaml",
    )
    result = run_cli(["--config", wrong_type])
    assert result.returncode == 2 and "model_list[0].litellm_params.timeout" in result.stderr
    result = run_cli(["--config", str(tmp_path / "absent.yaml")])
    assert result.returncode == 2 and "absent.yaml" in result.stderr


def test_azure_without_api_base_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "model_list": [
                {"model_name": "a", "litellm_params": {"model": "azure/dep", "api_key": "k"}}
            ],
            "general_settings": {"master_key": "k"},
        },
    )
    result = run_cli(["--config", path])
    assert result.returncode == 2 and "model_list[0].litellm_params.api_base" in result.stderr


def test_check_config_reports_missing_env(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "model_list": [
                MOCK,
                {
                    "model_name": "o",
                    "litellm_params": {
                        "model": "openai/gpt-image-2",
                        "api_key": "os.environ/IMAGE_PROXY_NOT_SET_X",
                    },
                },
            ],
            "general_settings": {"master_key": "os.environ/IMAGE_PROXY_TEST_MASTER"},
        },
    )
    env = {"IMAGE_PROXY_TEST_MASTER": "sk-m"}
    result = run_cli(["--config", path, "--check-config"], env=env)
    assert result.returncode != 0
    assert (
        "model_list[1].litellm_params.api_key: environment variable "
        "IMAGE_PROXY_NOT_SET_X is not set"
    ) in result.stderr
    ok = write(
        tmp_path,
        {
            "model_list": [MOCK],
            "general_settings": {"master_key": "os.environ/IMAGE_PROXY_TEST_MASTER"},
        },
        "ok.yaml",
    )
    assert run_cli(["--config", ok, "--check-config"], env=env).returncode == 0


def test_missing_env_warns_once_and_others_still_serve(tmp_path: Path) -> None:
    config = {
        "model_list": [
            MOCK,
            {
                "model_name": "o",
                "litellm_params": {
                    "model": "openai/gpt-image-2",
                    "api_key": "os.environ/IMAGE_PROXY_NOT_SET_Y",
                },
            },
        ],
        "general_settings": {"master_key": "sk-start"},
    }
    proc = ProxyProcess(config, tmp_path, name="startup-warn").start()
    try:
        r = httpx.post(
            f"{proc.base_url}/v1/images/generations",
            json={"model": "m", "prompt": "x", "size": "4x4"},
            headers={"authorization": "Bearer sk-start"},
        )
        assert r.status_code == 200, r.text
        assert len(r.json()["data"]) == 1 and r.json()["size"] == "4x4"
    finally:
        proc.stop()
    logs = proc.logs()
    assert logs.count("environment variable IMAGE_PROXY_NOT_SET_Y is not set") == 1
    assert "model_list[1].litellm_params.api_key" in logs


def test_no_master_key_refuses_to_start_unless_opted_out(tmp_path: Path) -> None:
    path = write(tmp_path, {"model_list": [MOCK]})
    result = run_cli(["--config", path])
    assert result.returncode == 2 and "master_key" in result.stderr
    proc = ProxyProcess(
        {"model_list": [MOCK]}, tmp_path, args=["--allow-unauthenticated"], name="open"
    ).start()
    try:
        r = httpx.post(
            f"{proc.base_url}/v1/images/generations",
            json={"model": "m", "prompt": "x", "size": "4x4"},
        )
        assert r.status_code == 200, r.text
        assert len(r.json()["data"]) == 1 and r.json()["size"] == "4x4"
    finally:
        proc.stop()
    assert "NO MASTER KEY" in proc.logs()


def test_a_retired_model_warns_at_start_up_and_still_starts(tmp_path: Path) -> None:
    config = {
        "model_list": [
            MOCK,
            {
                "model_name": "old",
                "litellm_params": {"model": "openai/dall-e-3", "api_key": "sk-upstream"},
            },
            {  # a compatible server reusing the name: no warning
                "model_name": "local",
                "litellm_params": {"model": "openai/dall-e-2", "api_base": "http://127.0.0.1:9/v1"},
            },
        ],
        "general_settings": {"master_key": "sk-start"},
    }
    checked = run_cli(["--config", write(tmp_path, config), "--check-config"])
    assert checked.returncode == 0, checked.stderr
    assert "warning: model_list[1] (old): openai/dall-e-3 was shut down" in checked.stderr
    proc = ProxyProcess(config, tmp_path, name="retired").start()
    try:
        r = httpx.post(
            f"{proc.base_url}/v1/images/generations",
            json={"model": "m", "prompt": "x", "size": "4x4"},
            headers={"authorization": "Bearer sk-start"},
        )
        assert r.status_code == 200, r.text
    finally:
        proc.stop()
    logs = proc.logs()
    line = (
        "model_list[1] (old): openai/dall-e-3 was shut down by its provider on 2026-05-12; "
        "calls to it fail upstream. Move to gpt-image-2."
    )
    assert logs.count(line) == 1
    assert "dall-e-2" not in logs
