"""Guardrails pinned on a virtual key apply to every request made with it, and its holder
cannot switch them off; other keys are unaffected."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from tests.conftest import MASTER_KEY
from tests.fakes.secrets import register_secret
from tests.fakes.server import FakeUpstream


@pytest.fixture(scope="module")
def proxy(proxy_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    db = tmp_path_factory.mktemp("keyguard") / "keys.sqlite3"
    return proxy_factory(
        {
            "model_list": [{"model_name": "mock-image", "litellm_params": {"model": "mock/x"}}],
            "guardrails": [
                {
                    "guardrail_name": "no-cats",
                    "litellm_params": {
                        "guardrail": "keywords",
                        "mode": "pre_call",
                        "blocked": ["cat"],
                    },
                }
            ],
            "general_settings": {"database_url": f"sqlite:///{db}"},
        },
        name="proxy-key-guardrails",
    )


def admin(proxy: Any, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{proxy.base_url}{path}",
        json=body,
        headers={"authorization": f"Bearer {MASTER_KEY}"},
        timeout=10,
    )


def test_pinned_guardrail_blocks_for_that_key_only(proxy: Any, fake: FakeUpstream) -> None:
    made = admin(proxy, "/key/generate", {"key_alias": "pinned", "guardrails": ["no-cats"]})
    assert made.status_code == 200, made.text
    key = made.json()["key"]
    register_secret(key)
    assert made.json()["guardrails"] == ["no-cats"]
    pinned = openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=key, max_retries=0)
    with pytest.raises(openai.BadRequestError) as info:
        pinned.images.generate(model="mock-image", prompt="a cat", size="8x8")
    assert info.value.code == "content_policy_violation" and "no-cats" in info.value.message
    with pytest.raises(openai.BadRequestError):  # the holder cannot opt out
        pinned.images.generate(
            model="mock-image",
            prompt="a cat",
            size="8x8",
            extra_body={"guardrails": {"no-cats": False}},
        )
    assert pinned.images.generate(model="mock-image", prompt="a dog", size="8x8").data
    master = openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, max_retries=0)
    assert master.images.generate(model="mock-image", prompt="a cat", size="8x8").data


def test_unknown_guardrail_on_a_key_is_400_and_update_unpins(proxy: Any) -> None:
    bad = admin(proxy, "/key/generate", {"guardrails": ["nope"]})
    assert bad.status_code == 400 and "nope" in bad.json()["error"]["message"]
    made = admin(proxy, "/key/generate", {"guardrails": ["no-cats"], "metadata": {"team": "a"}})
    key = made.json()["key"]
    register_secret(key)
    updated = admin(proxy, "/key/update", {"key": key, "guardrails": []})
    assert updated.status_code == 200
    assert updated.json()["guardrails"] == [] and updated.json()["metadata"] == {"team": "a"}
    client = openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=key, max_retries=0)
    assert client.images.generate(model="mock-image", prompt="a cat", size="8x8").data
