"""The mock provider's adapters: the OpenAI ones pointed at the in-process mock server.

Edits and variations travel to the mock server as JSON describing the input images (their
sizes, never their bytes): it renders placeholders of the requested size, or of the first
image's size when none was asked for, as an edit keeps its image's size."""

from __future__ import annotations

from typing import Any

from proxy.config.deployment import Deployment
from proxy.providers.mock import MOCK_BASE
from proxy.providers.openai.chat import OpenAIChat
from proxy.providers.openai.variations import OpenAIImageVariations
from proxy.schemas import ImageRequest
from proxy.schemas.edits import EditRequest, InputImage, VariationRequest
from proxy.upstream_request import UpstreamRequest


def described(image: InputImage) -> dict[str, Any]:
    return {"type": image.media_type, "width": image.width, "height": image.height}


class MockImages(OpenAIImageVariations):
    supports_stream = False
    supports_edit_stream = False
    default_base = MOCK_BASE
    provider = "mock"
    image_hosts = ()  # always base64; the delivery stage stores it for ``url``

    def base_url(self, deployment: Deployment) -> str:
        return MOCK_BASE  # never a network address, whatever the config says

    def payload(self, request: ImageRequest, deployment: Deployment) -> dict[str, Any]:
        return {**request.body, "model": deployment.model}

    def edit_refusal(self, deployment: Deployment) -> str | None:
        return None

    def variation_refusal(self, deployment: Deployment) -> str | None:
        return None

    def build_edit(self, request: EditRequest, deployment: Deployment) -> list[UpstreamRequest]:
        payload = {
            **request.body,
            "model": deployment.model,
            "images": [described(i) for i in request.images],
            "mask": described(request.mask) if request.mask is not None else None,
        }
        return [UpstreamRequest.post_json(self.edit_url(deployment), payload)]

    def build_variation(
        self, request: VariationRequest, deployment: Deployment
    ) -> list[UpstreamRequest]:
        payload = {**request.body, "model": deployment.model, "images": [described(request.image)]}
        return [UpstreamRequest.post_json(self.variation_url(deployment), payload)]


class MockChat(OpenAIChat):
    default_base = MOCK_BASE
    provider = "mock"

    def url(self, deployment: Deployment) -> str:
        return f"{MOCK_BASE}/chat/completions"
