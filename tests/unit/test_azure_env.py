"""Azure deployments take LiteLLM's AZURE_AD_TOKEN when no key is found anywhere (LiteLLM reads
it only then: a key wins), and the token is what authenticates the request."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from proxy.config import ConfigError
from proxy.configure import parse_config
from proxy.providers.registry import PROVIDERS
from proxy.upstream_request import UpstreamRequest

CONFIG: dict[str, Any] = {
    "model_list": [
        {
            "model_name": "azure-image",
            "litellm_params": {
                "model": "azure/gpt-image-2",
                "api_base": "https://example.openai.azure.com",
                "api_version": "2025-04-01-preview",
            },
        }
    ],
    "general_settings": {"master_key": "sk-master"},
}


def headers_for(env: dict[str, str]) -> dict[str, str]:
    (deployment,) = parse_config(CONFIG, env=env).deployments
    request = UpstreamRequest("POST", "https://example.openai.azure.com/x")
    asyncio.run(PROVIDERS["azure"].credentials(deployment).authorize(request))
    return dict(request.headers)


def test_the_environments_ad_token_authenticates_a_deployment_without_a_key() -> None:
    assert headers_for({"AZURE_AD_TOKEN": "ad-token-1"})["authorization"] == "Bearer ad-token-1"


def test_a_key_from_the_environment_wins_over_the_ad_token() -> None:
    headers = headers_for({"AZURE_AD_TOKEN": "ad-token-1", "AZURE_API_KEY": "az-key-2"})
    assert headers == {"api-key": "az-key-2"}


def test_with_neither_the_deployment_is_refused_naming_both_variables() -> None:
    with pytest.raises(ConfigError, match=r"AZURE_API_KEY.*AZURE_AD_TOKEN"):
        parse_config(CONFIG, env={})
