"""LiteLLM's access settings that would be unsafe to ignore are enforced:
``general_settings.allowed_ips`` (the TCP peer, IPs or networks) and
``general_settings.enforce_user_param`` (a model request must name its end user)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.proxy_process import ProxyProcess

MASTER = "sk-access-master-7c21"
MOCK = {"model_name": "img", "litellm_params": {"model": "mock/x"}}


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Any]:
    started: list[ProxyProcess] = []

    def run(general: dict[str, Any]) -> ProxyProcess:
        config = {"model_list": [MOCK], "general_settings": {"master_key": MASTER, **general}}
        proc = ProxyProcess(config, tmp_path, name=f"access{len(started)}").start()
        started.append(proc)
        return proc

    yield run
    for proc in started:
        proc.stop()


def generate(proxy: ProxyProcess, **body: Any) -> httpx.Response:
    return httpx.post(
        f"{proxy.base_url}/v1/images/generations",
        json={"model": "img", "prompt": "a kite", "size": "8x8", **body},
        headers={"authorization": f"Bearer {MASTER}"},
        timeout=10,
    )


def test_allowed_ips_refuses_other_addresses_and_admits_listed_ones(start: Any) -> None:
    elsewhere = start({"allowed_ips": ["10.0.0.0/8", "192.0.2.7"]})
    refused = generate(elsewhere)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "ip_not_allowed"
    assert refused.headers["x-should-retry"] == "false"
    sign_in = httpx.post(f"{elsewhere.base_url}/console/session", json={"key": MASTER}, timeout=10)
    assert sign_in.status_code == 403  # the console's sign-in is held to the same check
    assert "set-cookie" not in sign_in.headers
    here = start({"allowed_ips": ["127.0.0.1"]})
    assert generate(here).status_code == 200


def test_enforce_user_param_requires_the_end_user(start: Any) -> None:
    proxy = start({"enforce_user_param": True})
    refused = generate(proxy)
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert (error["param"], error["code"]) == ("user", "user_required")
    assert generate(proxy, user="alice").status_code == 200
    by_header = httpx.post(
        f"{proxy.base_url}/v1/images/generations",
        json={"model": "img", "prompt": "a kite", "size": "8x8"},
        headers={"authorization": f"Bearer {MASTER}", "x-end-user": "bob"},
        timeout=10,
    )
    assert by_header.status_code == 200
    records = httpx.get(
        f"{proxy.base_url}/spend/logs",
        params={"status": 400},
        headers={"authorization": f"Bearer {MASTER}"},
        timeout=10,
    )
    assert records.status_code == 200, records.text
    assert [r["error_class"] for r in records.json()["data"]] == ["InvalidRequestError"]
    assert "Traceback" not in proxy.logs()


def test_a_bad_allowed_ips_entry_stops_start_up_naming_it() -> None:
    from proxy.config import ConfigError
    from proxy.configure import parse_config

    with pytest.raises(ConfigError, match=r"general_settings\.allowed_ips"):
        parse_config(
            {"model_list": [MOCK], "general_settings": {"allowed_ips": ["10.0.0.300"]}}, env={}
        )


def test_a_keys_tpm_limit_counts_the_tokens_its_answers_reported(start: Any) -> None:
    """The mock reports one input token a prompt word, as gpt-image models report tokens."""
    proxy = start({})

    def minted(**fields: Any) -> str:
        r = httpx.post(
            f"{proxy.base_url}/key/generate",
            json=fields,
            headers={"authorization": f"Bearer {MASTER}"},
            timeout=10,
        )
        assert r.status_code == 200, r.text
        assert not any("tpm_limit" in w for w in r.json()["warnings"])
        return str(r.json()["key"])

    def as_key(key: str) -> httpx.Response:
        return httpx.post(
            f"{proxy.base_url}/v1/images/generations",
            json={"model": "img", "prompt": "one two three four five six", "size": "8x8"},
            headers={"authorization": f"Bearer {key}"},
            timeout=10,
        )

    limited, other = minted(tpm_limit=5), minted(tpm_limit=100)
    assert as_key(limited).status_code == 200  # 6 tokens: admitted below the limit, counted
    refused = as_key(limited)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert "tpm_limit 5 tokens per minute (6 used" in refused.json()["error"]["message"]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert as_key(other).status_code == 200
