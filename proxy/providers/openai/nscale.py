"""Nscale: OpenAI-shaped, but its default size is 512x512 and it answers base64 only.

The adapter always sends ``size`` (OpenAI's default 1024x1024 when the client gave none) so
a client never gets a smaller image than OpenAI would give, and asks for ``b64_json``.
"""

from __future__ import annotations

from typing import Any

from proxy.config.deployment import Deployment
from proxy.errors import ProxyError, UpstreamQuotaError
from proxy.providers.openai.images import OpenAIImages
from proxy.providers.upstream_errors import map_http_error
from proxy.schemas import ImageRequest
from proxy.upstream_request import UpstreamResponse

OPENAI_DEFAULT_SIZE = "1024x1024"


class NscaleImages(OpenAIImages):
    supports_stream = False
    default_base = "https://inference.api.nscale.com/v1"
    provider = "nscale"
    image_hosts = ()  # base64 only

    def payload(self, request: ImageRequest, deployment: Deployment) -> dict[str, Any]:
        body = super().payload(request, deployment)
        if not body.get("size") or body["size"] == "auto":
            body["size"] = OPENAI_DEFAULT_SIZE
        body["response_format"] = "b64_json"
        return body

    def map_error(self, response: UpstreamResponse, deployment: Deployment) -> ProxyError:
        error = map_http_error(response.status, response.headers, response.body, self.provider)
        if response.status == 429 and "credit" in error.message.lower():
            # Nscale answers 429 for exhausted credit too: retrying will not help.
            return UpstreamQuotaError(error.message, provider=self.provider)
        return error
