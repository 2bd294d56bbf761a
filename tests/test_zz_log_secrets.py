"""Runs last (see ``pytest_collection_modifyitems`` in conftest): everything the proxy
processes of this session logged must be free of every secret the tests used and of base64
payloads. The proxies still running (module-scoped fixtures end before this) were stopped,
so their shutdown lines are included."""

from __future__ import annotations

import re

import pytest

from tests.fakes.proxy_process import STARTED
from tests.fakes.secrets import all_secrets, static_secrets

BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{200,}={0,2}")


def test_secret_collection_finds_the_suites_keys() -> None:
    secrets = static_secrets()
    from tests.conftest import MASTER_KEY

    assert MASTER_KEY in secrets
    assert "sk-openai-upstream-91b2" in secrets  # a module constant in the e2e suite
    assert "compat-key-1234" in secrets  # an inline api_key value


def test_no_secret_or_base64_in_any_proxy_log() -> None:
    if not STARTED:
        pytest.skip("no proxy ran in this session")
    secrets = all_secrets()
    leaks = []
    for proxy in STARTED:  # every line each proxy of this session wrote (the files under
        text = proxy.logs()  # PROXY_TEST_LOG_DIR, from where each run began)
        name = proxy.log_path.name
        leaks += [f"{name}: secret ending {s[-4:]}" for s in secrets if s in text]
        leaks += [
            f"{name}: base64 run of {len(m.group(0))} chars" for m in BASE64_RUN.finditer(text)
        ]
    assert not leaks, leaks
