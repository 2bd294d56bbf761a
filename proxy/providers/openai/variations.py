"""``/images/variations`` (dall-e-2's shape: one image, no prompt) for OpenAI-compatible
servers that still serve it (Xinference, LocalAI, ...).

OpenAI itself served variations only with dall-e-2, shut down on 2026-05-12; GPT image models
never had them, so their deployments are refused (with a pointer to ``/v1/images/edits``)
before any call.
"""

from __future__ import annotations

from proxy.config.deployment import Deployment
from proxy.providers.base import ImageResult, join_url
from proxy.providers.openai.edits import OpenAIImageEdits, file_part, model_id
from proxy.providers.openai.images import serves_gpt_image
from proxy.schemas.edits import VariationRequest
from proxy.upstream_request import UpstreamRequest, UpstreamResponse, form_fields


class OpenAIImageVariations(OpenAIImageEdits):
    def variation_refusal(self, deployment: Deployment) -> str | None:
        if serves_gpt_image(deployment) or model_id(deployment).startswith("dall-e-3"):
            return (
                f"{deployment.model} has no variations; ask /v1/images/edits for one with a "
                "prompt such as 'a variation of this image'"
            )
        return None

    def variation_url(self, deployment: Deployment) -> str:
        return join_url(self.base_url(deployment), "images/variations")

    def build_variation(
        self, request: VariationRequest, deployment: Deployment
    ) -> list[UpstreamRequest]:
        fields = form_fields({"model": deployment.model, **request.params()})
        files = [file_part("image", request.image)]
        return [UpstreamRequest.post_multipart(self.variation_url(deployment), fields, files)]

    def parse_variation(
        self, response: UpstreamResponse, request: VariationRequest, deployment: Deployment
    ) -> ImageResult:
        return self.images_response(response)
