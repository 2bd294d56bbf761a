"""Azure OpenAI: deployment URLs with ``api-version``, the ``api-key`` header.

``api_base`` is the resource endpoint (``https://NAME.openai.azure.com``); the adapter appends
``/openai/deployments/{deployment}/…?api-version=…``. A base that already holds
``/openai/deployments/<name>`` is used as is, and a base ending in ``/openai/v1`` selects the
v1 API (model in the body, no dated version).
"""

from __future__ import annotations

from typing import Any

from proxy.config.deployment import Deployment
from proxy.errors import ProxyError
from proxy.providers.base import join_url
from proxy.providers.openai.chat import OpenAIChat
from proxy.providers.openai.edits import OpenAIImageEdits
from proxy.providers.upstream_errors import map_http_error
from proxy.schemas import ChatRequest, ImageRequest
from proxy.schemas.edits import EditRequest
from proxy.upstream_request import UpstreamRequest, UpstreamResponse, form_fields

DEFAULT_API_VERSION = "2025-04-01-preview"
AZURE_ANNOTATIONS = ("prompt_filter_results", "content_filter_results")


def validate(deployment: Deployment) -> str | None:
    if not deployment.params.api_base and deployment.available:
        return (
            "litellm_params.api_base: required for azure (the resource endpoint; or set the "
            "environment variable AZURE_API_BASE)"
        )
    return None


def is_v1(deployment: Deployment) -> bool:
    return (deployment.params.api_base or "").rstrip("/").endswith("/openai/v1")


def azure_url(deployment: Deployment, operation: str) -> tuple[str, dict[str, str] | None]:
    base = (deployment.params.api_base or "").rstrip("/")
    if is_v1(deployment):
        return join_url(base, operation), None
    version = deployment.params.api_version or DEFAULT_API_VERSION
    if "/openai/deployments/" in base:
        return join_url(base, operation), {"api-version": version}
    path = f"openai/deployments/{deployment.model}/{operation}"
    return join_url(base, path), {"api-version": version}


def _strip_model(body: dict[str, Any], deployment: Deployment) -> dict[str, Any]:
    if not is_v1(deployment):
        body.pop("model", None)  # the deployment in the path selects the model
    return body


class AzureImages(OpenAIImageEdits):
    """Generations and edits; Azure has no deployment route for variations."""

    provider = "azure"
    image_hosts = ("blob.core.windows.net",)  # dall-e on Azure: per-region storage accounts

    def build(self, request: ImageRequest, deployment: Deployment) -> list[UpstreamRequest]:
        url, query = azure_url(deployment, "images/generations")
        body = _strip_model(self.payload(request, deployment), deployment)
        req = UpstreamRequest.post_json(url, body, stream=request.stream)
        req.params = query
        return [req]

    def build_edit(self, request: EditRequest, deployment: Deployment) -> list[UpstreamRequest]:
        url, query = azure_url(deployment, "images/edits")
        fields = _strip_model(self.edit_fields(request, deployment), deployment)
        files = self.edit_files(request, deployment)
        req = UpstreamRequest.post_multipart(url, form_fields(fields), files, stream=request.stream)
        req.params = query
        return [req]

    def clean_item(self, item: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in item.items() if v is not None and k not in AZURE_ANNOTATIONS}

    def map_error(self, response: UpstreamResponse, deployment: Deployment) -> ProxyError:
        return map_http_error(response.status, response.headers, response.body, self.provider)


class AzureChat(OpenAIChat):
    provider = "azure"

    def build(self, request: ChatRequest, deployment: Deployment) -> UpstreamRequest:
        url, query = azure_url(deployment, "chat/completions")
        body = _strip_model(self.payload(request, deployment), deployment)
        req = UpstreamRequest.post_json(url, body, stream=request.stream)
        req.params = query
        return req
