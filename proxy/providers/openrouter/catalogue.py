"""OpenRouter's image model list, ``GET {base}/images/models``: which models its images API
serves, and which of them stream, for deployments with ``openrouter_api: auto`` (the default).

Wire format: OpenRouter's API reference ("List image generation models") and its SDKs'
``ImageModelsListResponse``: ``{"data": [{"id": "bytedance-seed/seedream-4.5", "name",
"supports_streaming": false, "supported_parameters": {...}, "architecture": {...},
"endpoints": "/api/v1/images/models/bytedance-seed/seedream-4.5/endpoints", ...}]}``.
The question is asked and its answer kept by ``proxy.attempt.discovery``; here it is only
written and read.
"""

from __future__ import annotations

from typing import Any

from proxy.config.deployment import Deployment
from proxy.providers.openrouter.common import (
    LISTED,
    STREAMS,
    attribution_headers,
    image_api,
    images_url,
)
from proxy.upstream_request import UpstreamRequest, UpstreamResponse


def models_url(deployment: Deployment) -> str:
    return images_url(deployment) + "/models"


def catalogue_request(deployment: Deployment) -> UpstreamRequest | None:
    """The list's ``GET``; None when the config already chose the endpoint."""
    if image_api(deployment) != "auto":
        return None
    return UpstreamRequest("GET", models_url(deployment), attribution_headers(deployment))


def learn_listing(response: UpstreamResponse, deployment: Deployment) -> dict[str, Any]:
    """Whether the list names the deployment's model (OpenRouter slugs are lower case), and
    whether it streams. A body that is not the list raises ``ValueError``."""
    body = response.json()
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise ValueError("not an image model list")
    wanted = deployment.model.lower()
    for item in data:
        if isinstance(item, dict) and str(item.get("id", "")).lower() == wanted:
            return {LISTED: True, STREAMS: item.get("supports_streaming") is True}
    return {LISTED: False}
