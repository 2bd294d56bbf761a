"""LiteLLM configs start: unserved deployments skipped, unknown keys warned, every problem
reported at once, LiteLLM's environment variables honoured, no deployment left keyless."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from proxy.config import ConfigError, compat
from proxy.config.unknown_keys import GENERAL, PARAMS
from proxy.configure import parse_config
from proxy.pipeline import credentials_for
from proxy.pricing.table import OVERRIDE_KEYS
from proxy.providers.registry import PROVIDERS
from proxy.upstream_request import UpstreamRequest

ROOT = Path(__file__).resolve().parents[2]
KEY = {"api_key": "k"}


def entry(name: str, model: str, mode: str | None = None, **params: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"model_name": name, "litellm_params": {"model": model, **params}}
    if mode is not None:
        out["model_info"] = {"mode": mode}
    return out


def load(*entries: dict[str, Any], env: dict[str, str] | None = None, **top: Any) -> Any:
    return parse_config({"model_list": list(entries), **top}, env=env or {})


@pytest.mark.parametrize(
    ("model", "mode", "why"),
    [
        ("anthropic/claude-sonnet-4-5", None, "provider 'anthropic' is not served"),
        ("groq/llama-3.3-70b-versatile", None, "provider 'groq' is not served"),
        ("deepseek/deepseek-chat", None, "provider 'deepseek' is not served"),
        ("ollama/llama3", None, "provider 'ollama' is not served"),
        ("opnai/gpt-image-1", None, "unknown provider prefix 'opnai'; did you mean 'openai'?"),
        ("text-embedding-3-small", None, "openai/text-embedding-3-small is neither an image model"),
        (
            "tts-1",
            None,
            "openai/tts-1 is neither an image model image-proxy knows nor a chat model",
        ),
        (
            "whisper-1",
            None,
            "openai/whisper-1 is neither an image model image-proxy knows nor a chat model",
        ),
        (
            "gemini/text-embedding-004",
            None,
            "is neither an image model image-proxy knows nor a chat model",
        ),
        ("bedrock/anthropic.claude-3-haiku", None, "is a chat model, and bedrock is served for"),
        ("together_ai/meta-llama/Llama-3-70b", None, "is a chat model, and together_ai is"),
        ("azure/my-embeddings", "embedding", "model_info.mode 'embedding' is not served"),
        ("azure/speech", "audio_speech", "model_info.mode 'audio_speech' is not served"),
        ("openai/whisper", "audio_transcription", "mode 'audio_transcription' is not served"),
        ("xai/grok-3", "chat", "model_info.mode 'chat', and xai is served for images only"),
    ],
)
def test_what_the_gateway_does_not_serve_is_skipped_with_one_warning(
    model: str, mode: str | None, why: str
) -> None:
    config = load(entry("image", "openai/gpt-image-1", **KEY), entry("other", model, mode, **KEY))
    assert [d.model_name for d in config.deployments] == ["image"]
    skipped = [w for w in config.warnings if w.startswith("model_list[1]")]
    assert len(skipped) == 1 and skipped[0].startswith("model_list[1]: skipped, ")
    assert why in skipped[0]


@pytest.mark.parametrize(
    ("model", "mode"),
    [
        ("azure/my-deployment", None),  # a name the provider cannot judge: served
        ("openai/gpt-4o", "image_generation"),  # the mode wins
        ("gemini/gemini-2.5-flash-image", "chat"),  # images in chat
        ("openai/gpt-4o", None),  # a chat model where /v1/chat/completions relays it
        ("openai/gpt-4o", "chat"),
        ("gemini/gemini-2.5-pro", None),
        ("openai/dall-e-3", None),
    ],
)
def test_image_models_chat_models_with_a_chat_adapter_and_unjudged_names_are_served(
    model: str, mode: str | None
) -> None:
    params = {**KEY, "api_base": "https://r.openai.azure.com"} if "azure" in model else KEY
    config = load(entry("m", model, mode, **params))
    assert len(config.deployments) == 1
    assert not any("skipped" in w for w in config.warnings)


def test_fallbacks_naming_a_skipped_group_are_dropped_with_a_warning() -> None:
    config = load(
        entry("img", "openai/gpt-image-1", **KEY),
        entry("img2", "openai/dall-e-3", **KEY),
        entry("claude", "anthropic/claude-sonnet-4-5"),
        router_settings={
            "fallbacks": [{"claude": ["img"]}, {"img": ["claude", "img2"]}],
            "default_fallbacks": ["claude"],
        },
    )
    assert config.router.fallbacks == [{"img": ["img2"]}]
    assert config.router.default_fallbacks == []
    dropped = [w for w in config.warnings if "dropped" in w]
    assert dropped == [
        "router_settings.fallbacks[0].claude: dropped, model group 'claude' is skipped",
        "router_settings.fallbacks[1].img: fallback 'claude' dropped, that model group is skipped",
        "router_settings.default_fallbacks[0]: 'claude' dropped, that model group is skipped",
    ]


def test_a_fallback_to_a_group_that_exists_nowhere_is_still_an_error() -> None:
    with pytest.raises(ConfigError, match=r"unknown fallback model group 'nope'"):
        load(
            entry("img", "openai/gpt-image-1", **KEY),
            router_settings={"fallbacks": [{"img": ["nope"]}]},
        )


def test_every_problem_is_reported_at_once_with_its_path() -> None:
    with pytest.raises(ConfigError) as info:
        load(
            entry("a", "openai/gpt-image-1", **KEY, timeout=-1),
            entry("b", "openai/gpt-image-1"),  # no key anywhere
            {"litellm_params": {"model": "openai/dall-e-3"}},  # no model_name
            general_settings={"max_request_size_mb": 0},
            router_settings={"num_retries": -1},
        )
    lines = str(info.value).splitlines()
    assert lines[0] == "5 problems:"
    assert sorted(line.strip().split(":")[0] for line in lines[1:]) == [
        "general_settings.max_request_size_mb",
        "model_list[0].litellm_params.timeout",
        "model_list[1].litellm_params.api_key",
        "model_list[2].model_name",
        "router_settings.num_retries",
    ]


def test_unknown_keys_are_warned_at_every_level_with_near_misses_named() -> None:
    config = load(
        {
            **entry("m", "openai/gpt-image-1", **KEY, tmeout=3, organization="org"),
            "model_info": {"id": "x", "base_modle": "gpt-image-1", "supports_vision": True},
            "extra": 1,
        },
        general_settings={
            "master_kye": "sk",
            "alerting": ["slack"],
            "enforce_rbac": True,
            "routing_strategy": "least-busy",
        },
        router_settings={
            "num_retires": 2,
            "cache_responses": True,
            "routing_strategy_args": {"ttl": 5, "ttll": 1},
        },
        litellm_settings={"drop_params": True, "num_retries": 1, "max_budget": 10, "cahce": True},
        credential_list=[],
        modle_list=[],
    )
    warned = set(config.warnings)
    ignored = "LiteLLM setting not implemented by image-proxy; ignored"
    assert {
        "modle_list: unknown key; ignored (did you mean 'model_list'?)",
        f"credential_list: {ignored}",
        "general_settings.master_kye: unknown key; ignored (did you mean 'master_key'?)",
        f"general_settings.alerting: {ignored}",
        f"general_settings.enforce_rbac: {ignored}, so role-based access control is not enforced",
        "general_settings.routing_strategy: a router_settings key; ignored here (did you mean "
        "'router_settings.routing_strategy'?)",
        "router_settings.num_retires: unknown key; ignored (did you mean 'num_retries'?)",
        f"router_settings.cache_responses: {ignored}",
        "router_settings.routing_strategy_args.ttll: unknown key; ignored (did you mean 'ttl'?)",
        f"litellm_settings.drop_params: {ignored}",
        "litellm_settings.cahce: unknown key; ignored (did you mean 'cache'?)",
        "model_list[0].extra: unknown key; ignored",
        "model_list[0].litellm_params.tmeout: unknown key; ignored (did you mean 'timeout'?)",
        f"model_list[0].litellm_params.organization: {ignored}",
        "model_list[0].model_info.base_modle: unknown key; ignored (did you mean 'base_model'?)",
        f"model_list[0].model_info.supports_vision: {ignored}",
    } <= warned
    assert not any("num_retries" in w and "litellm_settings" in w for w in warned)
    assert not any("max_budget" in w for w in warned)  # the proxy-wide budget is enforced


def test_the_key_tables_name_what_the_code_reads() -> None:
    """A key the code reads is never warned as unknown: pricing's model_info overrides and
    every ``deployment.param("...")`` name the providers read."""
    assert set(OVERRIDE_KEYS) <= compat.MODEL_INFO_READ
    read = set()
    for path in (ROOT / "proxy").rglob("*.py"):
        for call in re.findall(r"\.param\(([^)]*)\)", path.read_text()):
            read |= set(re.findall(r'"([a-z_0-9]+)"', call))
    read |= {"vertex_project", "vertex_ai_project", "vertex_location", "vertex_ai_location"}
    assert read <= PARAMS.known
    for name in ("log_level", "log_format", "database_table_prefix", "key_cache_ttl"):
        assert name in GENERAL.known


@pytest.mark.parametrize(
    ("model", "env", "field", "value"),
    [
        ("openai/gpt-image-1", {"OPENAI_API_KEY": "sk-env"}, "api_key", "sk-env"),
        (
            "openai/gpt-image-1",
            {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "http://h/v1"},
            "api_base",
            "http://h/v1",
        ),
        (
            "openai/gpt-image-1",
            {"OPENAI_API_KEY": "k", "OPENAI_API_BASE": "http://b/v1"},
            "api_base",
            "http://b/v1",
        ),
        (
            "azure/img",
            {"AZURE_API_KEY": "az", "AZURE_API_BASE": "https://r.openai.azure.com"},
            "api_base",
            "https://r.openai.azure.com",
        ),
        (
            "azure/img",
            {
                "AZURE_API_KEY": "az",
                "AZURE_API_BASE": "https://r.openai.azure.com",
                "AZURE_API_VERSION": "2025-04-01-preview",
            },
            "api_version",
            "2025-04-01-preview",
        ),
        ("gemini/gemini-2.5-flash-image", {"GEMINI_API_KEY": "g"}, "api_key", "g"),
        ("recraft/recraftv3", {"RECRAFT_API_KEY": "r"}, "api_key", "r"),
        ("openrouter/google/gemini-2.5-flash-image", {"OPENROUTER_API_KEY": "o"}, "api_key", "o"),
        (
            "xinference/sd3",
            {"XINFERENCE_API_BASE": "http://x:9997/v1"},
            "api_base",
            "http://x:9997/v1",
        ),
        ("nscale/flux", {"NSCALE_API_KEY": "n"}, "api_key", "n"),
        ("black_forest_labs/flux-pro-1.1", {"BFL_API_KEY": "b"}, "api_key", "b"),
        ("xai/grok-2-image", {"XAI_API_KEY": "x"}, "api_key", "x"),
        ("stability/sd3.5-large", {"STABILITY_API_KEY": "s"}, "api_key", "s"),
        ("fal_ai/fal-ai/flux/schnell", {"FAL_AI_API_KEY": "f"}, "api_key", "f"),
        (
            "together_ai/black-forest-labs/FLUX.1-schnell",
            {"TOGETHERAI_API_KEY": "t"},
            "api_key",
            "t",
        ),
    ],
)
def test_litellm_environment_variables_fill_what_the_config_leaves_out(
    model: str, env: dict[str, str], field: str, value: str
) -> None:
    (dep,) = load(entry("m", model), env=env).deployments
    assert getattr(dep.params, field) == value


def test_the_config_wins_over_the_environment_and_a_named_missing_variable_stays_missing() -> None:
    env = {"OPENAI_API_KEY": "sk-env"}
    (dep,) = load(entry("m", "openai/gpt-image-1", api_key="sk-config"), env=env).deployments
    assert dep.params.api_key == "sk-config"
    (dep,) = load(entry("m", "openai/gpt-image-1", api_key="os.environ/MINE"), env=env).deployments
    assert not dep.available and dep.params.api_key is None
    other = {**entry("m", "openai/gpt-image-1"), "model_info": {"id": "os.environ/NO_ID"}}
    (dep,) = load(other, env=env).deployments
    assert dep.params.api_key == "sk-env" and not dep.params.model_extra


def test_the_configs_environment_variables_count_as_the_environment() -> None:
    config = load(
        entry("m", "openai/gpt-image-1"),
        env={"OPENAI_API_KEY": "from-process"},
        environment_variables={"OPENAI_API_KEY": "from-config", "LITELLM_MASTER_KEY": "sk-c"},
    )
    assert config.deployments[0].params.api_key == "from-config"  # LiteLLM sets them over
    assert config.general.master_key == "sk-c"
    assert not [w for w in config.warnings if "environment_variables" in w]
    with pytest.raises(ConfigError, match=r"environment_variables: must map"):
        load(environment_variables=["A=b"])


def test_litellm_master_key_and_database_url_fill_what_the_config_leaves_unset() -> None:
    env = {"LITELLM_MASTER_KEY": "sk-env-master", "DATABASE_URL": "postgresql://db/x"}
    general = load(env=env).general
    assert (general.master_key, general.database_url) == ("sk-env-master", "postgresql://db/x")
    own = {"master_key": "sk-cfg", "database_url": "sqlite:///x.db"}
    general = load(env=env, general_settings=own).general
    assert (general.master_key, general.database_url) == ("sk-cfg", "sqlite:///x.db")
    assert load().general.master_key is None


KEYLESS = {"mock", "xinference", "bedrock", "vertex_ai", "fal_ai"}


@pytest.mark.parametrize("provider", sorted(set(PROVIDERS) - KEYLESS))
def test_a_provider_needing_a_key_is_refused_without_one(provider: str) -> None:
    """No deployment of a key-needing provider can load without a key, so none can call its
    upstream unauthenticated (fal_ai checks its key pair itself: ``test_fal``)."""
    model = {
        "stability": "stability/sd3.5-large",
        "fal_ai": "fal_ai/fal-ai/flux/schnell",
    }.get(provider, f"{provider}/some-image-model")
    with pytest.raises(ConfigError, match=r"model_list\[0\]\.litellm_params\.api_key: required"):
        load(entry("m", model))


@pytest.mark.parametrize(
    "provider",
    [
        "openai",
        "azure",
        "gemini",
        "recraft",
        "openrouter",
        "nscale",
        "xai",
        "together_ai",
        "black_forest_labs",
        "stability",
    ],
)
async def test_a_key_from_the_environment_authorizes_every_upstream_call(provider: str) -> None:
    names = PROVIDERS[provider].credential_env
    env = {names.key[0]: "env-secret"}
    if names.base and provider == "azure":
        env[names.base[0]] = "https://r.openai.azure.com"
    model = "stability/sd3.5-large" if provider == "stability" else f"{provider}/image-model"
    config = load(entry("m", model), env=env)
    (credentials,) = credentials_for(config).values()
    request = UpstreamRequest.post_json("https://upstream/v1/x", {})
    await credentials.authorize(request)
    assert any("env-secret" in value for value in request.headers.values())


def test_a_bedrock_image_family_this_proxy_does_not_know_is_skipped_not_called_chat() -> None:
    config = load(
        entry("new", "bedrock/stability.some-future-model-v9"), env={"AWS_REGION_NAME": "us-east-1"}
    )
    assert config.deployments == ()
    assert config.warnings == (
        "model_list[0]: skipped, bedrock/stability.some-future-model-v9 is neither an image "
        "model image-proxy knows nor a chat model",
    )
