"""LiteLLM proxy configs as people publish them (image models beside chat, embedding, speech
and other providers' models; wildcards; credentials only in the environment) start the real
proxy, log what they skip and ignore, list only what is served, and an image request through
the official SDK reaches the fake upstream with the key the environment gave."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from tests.fakes.proxy_process import ProxyProcess
from tests.fakes.server import FakeUpstream

PNG_B64 = base64.b64encode(b"\x89PNG\r\n\x1a\nlitellm-config-image").decode()
ENV_OPENAI_KEY = "sk-env-openai-5d1c"
ENV_AZURE_KEY = "env-azure-key-77a0"
ENV_MASTER = "sk-env-master-31f9"

# An Open WebUI style config: chat, embeddings, speech, another provider, two image models,
# keys only from the environment, LITELLM_MASTER_KEY instead of general_settings.master_key.
OPEN_WEBUI = """
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_key: os.environ/OPENAI_API_KEY
  - model_name: text-embedding-3-small
    litellm_params:
      model: openai/text-embedding-3-small
  - model_name: tts-1
    litellm_params:
      model: openai/tts-1
  - model_name: whisper
    litellm_params:
      model: openai/whisper-1
    model_info:
      mode: audio_transcription
  - model_name: claude-3-5-sonnet
    litellm_params:
      model: anthropic/claude-3-5-sonnet-20240620
      api_key: os.environ/ANTHROPIC_API_KEY
  - model_name: dall-e-3
    litellm_params:
      model: openai/dall-e-3
      api_key: os.environ/OPENAI_API_KEY
    model_info:
      mode: image_generation
  - model_name: gpt-image-1
    litellm_params:
      model: openai/gpt-image-1
litellm_settings:
  drop_params: true
  set_verbose: false
  num_retries: 2
router_settings:
  fallbacks: [{"claude-3-5-sonnet": ["gpt-4o"]}]
general_settings:
  store_model_in_db: true
"""

# Wildcard routes, LiteLLM's provider-wide form and a catch-all, credentials from the
# environment; a LITELLM_MASTER_KEY-less config with its own master key.
WILDCARDS = """
model_list:
  - model_name: "openai/*"
    litellm_params:
      model: "openai/*"
  - model_name: "*"
    litellm_params:
      model: "*"
  - model_name: groq-llama
    litellm_params:
      model: groq/llama-3.1-8b-instant
      api_key: os.environ/GROQ_API_KEY
general_settings:
  master_key: sk-config-master-0b2e
router_settings:
  routing_strategy: simple-shuffle
  num_retires: 3
"""

# Azure with everything in the environment (AZURE_API_BASE / KEY / VERSION), an Azure
# embeddings deployment by mode, typos at several levels.
AZURE_ENV = """
model_list:
  - model_name: azure-dalle
    litellm_params:
      model: azure/dall-e-3
    model_info:
      mode: image_generation
      base_model: azure/dall-e-3
  - model_name: azure-embeddings
    litellm_params:
      model: azure/text-embedding-ada-002
    model_info:
      mode: embedding
  - model_name: deepseek
    litellm_params:
      model: deepseek/deepseek-chat
litellm_settings:
  cahce: true
  request_timeout: 120
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  alerting: ["slack"]
  allowed_ips: ["127.0.0.1", "10.0.0.0/8"]
  enforce_rbac: true
"""


def image_answer(_: Any) -> dict[str, Any]:
    return {"created": 1, "data": [{"b64_json": PNG_B64}]}


@pytest.fixture
def start(fake: FakeUpstream, tmp_path: Path) -> Iterator[Any]:
    started: list[ProxyProcess] = []

    def run(config: str, env: dict[str, str]) -> ProxyProcess:
        data = yaml.safe_load(config)
        base = {
            "OPENAI_BASE_URL": f"{fake.base}/v1",
            "OPENAI_API_KEY": ENV_OPENAI_KEY,
            "LITELLM_MASTER_KEY": ENV_MASTER,
            # the LiteLLM variables of providers the config does not use stay unset
            "ANTHROPIC_API_KEY": "",
            "GROQ_API_KEY": "",
        }
        proc = ProxyProcess(data, tmp_path, env={**base, **env}, name="litellm").start()
        started.append(proc)
        return proc

    yield run
    for proc in started:
        proc.stop()


def models(proxy: ProxyProcess, key: str, **params: str) -> list[str]:
    r = httpx.get(
        f"{proxy.base_url}/v1/models",
        headers={"authorization": f"Bearer {key}"},
        params=params,
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return [m["id"] for m in r.json()["data"]]


def sdk(proxy: ProxyProcess, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=key, max_retries=0)


def test_an_open_webui_style_config_starts_and_serves_its_image_models(
    start: Any, fake: FakeUpstream
) -> None:
    proxy = start(OPEN_WEBUI, {})
    logs = proxy.logs()
    for path, why in [
        (
            "model_list[1]",
            "openai/text-embedding-3-small is neither an image model image-proxy knows nor a "
            "chat model",
        ),
        (
            "model_list[2]",
            "openai/tts-1 is neither an image model image-proxy knows nor a chat model",
        ),
        ("model_list[3]", "model_info.mode 'audio_transcription' is not served"),
        ("model_list[4]", "provider 'anthropic' is not served"),
    ]:
        assert f"{path}: skipped, {why}" in logs
    assert "router_settings.fallbacks[0].claude-3-5-sonnet: dropped" in logs
    assert "litellm_settings.drop_params: LiteLLM setting not implemented" in logs
    assert "general_settings.store_model_in_db: LiteLLM setting not implemented" in logs
    assert ENV_OPENAI_KEY not in logs and ENV_MASTER not in logs

    assert models(proxy, ENV_MASTER) == ["gpt-4o", "dall-e-3", "gpt-image-1"]
    info = httpx.get(
        f"{proxy.base_url}/model_group/info",
        headers={"authorization": f"Bearer {ENV_MASTER}"},
        timeout=10,
    )
    assert {g["model_group"]: g["mode"] for g in info.json()["data"]} == {
        "gpt-4o": "chat",
        "dall-e-3": "image_generation",
        "gpt-image-1": "image_generation",
    }
    fake.route("POST", "/v1/images/generations", image_answer)
    result = sdk(proxy, ENV_MASTER).images.generate(model="gpt-image-1", prompt="a lighthouse")
    assert result.data is not None and result.data[0].b64_json == PNG_B64
    (sent,) = fake.received("/v1/images/generations")
    assert sent.headers["authorization"] == f"Bearer {ENV_OPENAI_KEY}"
    assert sent.json()["model"] == "gpt-image-1"
    with pytest.raises(openai.NotFoundError):
        sdk(proxy, ENV_MASTER).images.generate(model="tts-1", prompt="x")


def test_wildcard_routes_serve_concrete_models_and_keys_limited_by_pattern(
    start: Any, fake: FakeUpstream
) -> None:
    master = "sk-config-master-0b2e"
    proxy = start(WILDCARDS, {})
    logs = proxy.logs()
    assert "model_list[2]: skipped, provider 'groq' is not served" in logs
    assert "router_settings.num_retires: unknown key; ignored (did you mean 'num_retries'?)" in logs
    # the price table's models a route serves (those of providers with a key), not patterns
    listed = models(proxy, master)
    assert "openai/gpt-image-2" in listed and "openai/dall-e-3" in listed
    assert all(name.startswith("openai/") for name in listed), listed
    assert models(proxy, master, return_wildcard_routes="true") == [*listed, "openai/*", "*"]

    fake.route("POST", "/v1/images/generations", image_answer)
    client = sdk(proxy, master)
    result = client.images.generate(model="openai/gpt-image-2", prompt="a kite")
    assert result.data is not None and result.data[0].b64_json == PNG_B64
    raw = client.images.with_raw_response.generate(model="dall-e-3", prompt="a kite")  # "*"
    assert raw.parse().data is not None
    assert raw.headers["x-model-group"] == "dall-e-3"
    assert float(raw.headers["x-response-cost"]) == 0.04  # the concrete model's price
    first, second = fake.received("/v1/images/generations")
    assert (first.json()["model"], second.json()["model"]) == ("gpt-image-2", "dall-e-3")
    assert {first.headers["authorization"], second.headers["authorization"]} == {
        f"Bearer {ENV_OPENAI_KEY}"
    }
    with pytest.raises(openai.NotFoundError, match="provider 'groq' is not served"):
        client.images.generate(model="groq/llama-3.1-8b-instant", prompt="x")

    admin = httpx.Client(base_url=proxy.base_url, headers={"authorization": f"Bearer {master}"})
    r = admin.post("/key/generate", json={"models": ["openai/*"]})
    assert r.status_code == 200, r.text
    limited = sdk(proxy, r.json()["key"])
    assert limited.images.generate(model="openai/gpt-image-2", prompt="ok").data is not None
    with pytest.raises(openai.PermissionDeniedError):
        limited.images.generate(model="gemini/gemini-2.5-flash-image", prompt="no")


def test_azure_credentials_from_the_environment_reach_the_upstream(
    start: Any, fake: FakeUpstream
) -> None:
    env = {
        "AZURE_API_BASE": f"{fake.base}/azure",
        "AZURE_API_KEY": ENV_AZURE_KEY,
        "AZURE_API_VERSION": "2024-02-01",
    }
    proxy = start(AZURE_ENV, env)
    logs = proxy.logs()
    assert "model_list[1]: skipped, model_info.mode 'embedding' is not served" in logs
    assert "model_list[2]: skipped, provider 'deepseek' is not served" in logs
    assert "litellm_settings.cahce: unknown key; ignored (did you mean 'cache'?)" in logs
    assert (
        "general_settings.enforce_rbac: LiteLLM setting not implemented by image-proxy; "
        "ignored, so role-based access control is not enforced" in logs
    )
    assert "allowed_ips" not in logs  # enforced: this client (127.0.0.1) is listed
    assert models(proxy, ENV_MASTER) == ["azure-dalle"]

    fake.route("POST", "/azure/openai/deployments/dall-e-3/images/generations", image_answer)
    result = sdk(proxy, ENV_MASTER).images.generate(model="azure-dalle", prompt="a harbour")
    assert result.data is not None and result.data[0].b64_json == PNG_B64
    (sent,) = fake.received()
    assert sent.headers["api-key"] == ENV_AZURE_KEY
    assert sent.query == {"api-version": "2024-02-01"}


# LiteLLM's router_settings.model_group_alias: other names for a group, short and long form.
ALIASES = """
model_list:
  - model_name: gpt-image
    litellm_params:
      model: openai/gpt-image-2
  - model_name: embed
    litellm_params:
      model: openai/text-embedding-3-small
router_settings:
  model_group_alias:
    my-images: gpt-image
    internal-images: {model: gpt-image, hidden: true}
    embeddings: embed
"""


def test_model_group_aliases_route_to_their_group_and_hidden_ones_are_not_listed(
    start: Any, fake: FakeUpstream
) -> None:
    proxy = start(ALIASES, {})
    assert (
        "router_settings.model_group_alias.embeddings: dropped, model group 'embed' is skipped"
        in proxy.logs()
    )
    assert models(proxy, ENV_MASTER) == ["gpt-image", "my-images"]
    minted = httpx.post(
        f"{proxy.base_url}/key/generate",
        json={"models": ["gpt-image"]},
        headers={"authorization": f"Bearer {ENV_MASTER}"},
        timeout=10,
    )
    assert minted.status_code == 200, minted.text
    key = minted.json()["key"]
    assert models(proxy, key) == ["gpt-image", "my-images"]
    fake.route("POST", "/v1/images/generations", image_answer)
    for alias in ("my-images", "internal-images"):
        raw = sdk(proxy, key).images.with_raw_response.generate(model=alias, prompt="a boat")
        assert raw.headers["x-litellm-model-group"] == "gpt-image"
        assert raw.parse().data is not None
    sent = fake.received("/v1/images/generations")
    assert [s.json()["model"] for s in sent] == ["gpt-image-2", "gpt-image-2"]
