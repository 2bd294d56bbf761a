"""The mock provider's adapters: the OpenAI ones pointed at the in-process mock server."""

from __future__ import annotations

from typing import Any

from proxy.config.deployment import Deployment
from proxy.providers.mock import MOCK_BASE
from proxy.providers.openai.chat import OpenAIChat
from proxy.providers.openai.images import OpenAIImages
from proxy.schemas import ImageRequest


class MockImages(OpenAIImages):
    supports_stream = False
    default_base = MOCK_BASE
    provider = "mock"
    image_hosts = ()  # always base64; the delivery stage stores it for ``url``

    def base_url(self, deployment: Deployment) -> str:
        return MOCK_BASE  # never a network address, whatever the config says

    def payload(self, request: ImageRequest, deployment: Deployment) -> dict[str, Any]:
        return {**request.body, "model": deployment.model}


class MockChat(OpenAIChat):
    default_base = MOCK_BASE
    provider = "mock"

    def url(self, deployment: Deployment) -> str:
        return f"{MOCK_BASE}/chat/completions"
