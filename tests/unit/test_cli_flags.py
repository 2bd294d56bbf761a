"""LiteLLM's command-line spellings work: ``--num_workers``, ``--debug``, ``--detailed_debug``."""

from __future__ import annotations

import pytest

from proxy.cli import parse_args


def test_num_workers_is_workers() -> None:
    assert parse_args(["--num_workers", "3"]).workers == 3
    assert parse_args(["--workers", "2"]).workers == 2


@pytest.mark.parametrize("flag", ["--debug", "--detailed_debug"])
def test_litellm_debug_flags_mean_log_level_debug(flag: str) -> None:
    assert parse_args([flag]).log_level == "debug"


def test_without_flags_the_log_level_is_left_to_the_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PROXY_LOG_LEVEL", raising=False)
    assert parse_args([]).log_level is None
    assert parse_args(["--log-level", "warning"]).log_level == "warning"
