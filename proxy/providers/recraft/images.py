"""``POST {base}/images/generations`` on Recraft.

Recraft speaks an OpenAI-shaped body with its own extras (``style``, ``substyle``,
``style_id``, ``controls``, ``text_layout``, ``negative_prompt``, ``random_seed``, ...):
those pass through untouched. What the proxy adds: ``size`` checked against the model
family's list, ``n`` held to Recraft's 1-6, and the OpenAI-only parameters Recraft does not
have refused with a 400 instead of being dropped. The answer keeps ``url`` / ``b64_json``
(and ``revised_prompt``); Recraft's ``image_id``, ``features`` and ``credits`` are not
OpenAI fields and are left out.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from proxy.config.deployment import Deployment
from proxy.errors import InvalidRequestError, ProxyError, UpstreamError
from proxy.providers.base import ImageResult, NoImageStream, join_url
from proxy.providers.recraft.sizes import SizeFamily, size_family
from proxy.providers.upstream_errors import map_http_error
from proxy.schemas import ImageRequest
from proxy.upstream_request import UpstreamRequest, UpstreamResponse

PROVIDER = "recraft"
DEFAULT_BASE = "https://external.api.recraft.ai/v1"
MAX_N = 6

# OpenAI image parameters with no Recraft equivalent: refused, never silently dropped.
UNSUPPORTED = {
    "quality": "Recraft has no quality setting; choose a model (e.g. recraftv4_pro) instead",
    "background": "use 'controls': {'background_color': {'rgb': [r, g, b]}} instead",
    "output_format": "Recraft's own field is 'image_format' ('png' or 'webp')",
    "output_compression": "Recraft does not take a compression level",
    "moderation": "Recraft has no moderation setting",
    "partial_images": "Recraft does not stream images",
}
# Read by the proxy itself, not sent: ``user`` is the end-user id for spend tracking.
CONSUMED = ("user", "stream")
ITEM_FIELDS = ("url", "b64_json", "revised_prompt")
# Recraft's edit tools (``proxy.providers.recraft.edits``), for ``recraft_operation``.
OPERATIONS = (
    "imageToImage", "inpaint", "replaceBackground", "outpaint", "eraseRegion", "removeBackground",
)  # fmt: skip


def images_url(base: str) -> str:
    """``{base}/images/generations``; a base without ``/v1`` (LiteLLM's
    ``https://external.api.recraft.ai``) gets it added."""
    path = urlsplit(base).path.rstrip("/")
    if not path.endswith("/v1"):
        base = join_url(base, "v1")
    return join_url(base, "images/generations")


def check_size(size: str, model: str, family: SizeFamily) -> None:
    if not family.accepts(size):
        raise InvalidRequestError(
            f"size {size!r} is not supported by Recraft model {model!r} ({family.name}). "
            f"Accepted values: {family.describe()}.",
            param="size",
            code="invalid_size",
        )


def validate(deployment: Deployment) -> str | None:
    sizes = deployment.param("supported_sizes")
    if sizes is not None and (
        not isinstance(sizes, list) or not sizes or not all(isinstance(s, str) for s in sizes)
    ):
        return "litellm_params.supported_sizes: must be a non-empty list of size strings"
    op = deployment.param("recraft_operation")
    if op is not None and op not in OPERATIONS:
        return f"litellm_params.recraft_operation: must be one of {', '.join(OPERATIONS)}"
    return None


def parse_images(body: Any) -> ImageResult:
    """A ``GenerateImageResponse``'s images, OpenAI fields only."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise UpstreamError(f"{PROVIDER} answered without a 'data' list", provider=PROVIDER)
    data = [
        {k: item[k] for k in ITEM_FIELDS if item.get(k) is not None}
        for item in body["data"]
        if isinstance(item, dict)
    ]
    created = body.get("created") if isinstance(body.get("created"), int) else None
    return ImageResult(data=[d for d in data if "url" in d or "b64_json" in d], created=created)


class RecraftImages(NoImageStream):
    provider = PROVIDER
    image_hosts = ("img.recraft.ai",)  # where Recraft's (about 24 h) image URLs live

    def url(self, deployment: Deployment) -> str:
        return images_url(deployment.params.api_base or DEFAULT_BASE)

    def family(self, deployment: Deployment) -> SizeFamily:
        override = deployment.param("supported_sizes")
        if isinstance(override, list) and override:
            return SizeFamily(f"sizes configured for {deployment.model_name}", tuple(override))
        return size_family(deployment.model)

    def payload(self, request: ImageRequest, deployment: Deployment) -> dict[str, Any]:
        request.refuse_unsupported(UNSUPPORTED, "by Recraft")
        if request.n > MAX_N:
            raise InvalidRequestError(
                f"'n' must be between 1 and {MAX_N} for Recraft, got {request.n}.", param="n"
            )
        if request.body.get("style") is not None and request.body.get("style_id") is not None:
            raise InvalidRequestError(
                "'style' and 'style_id' cannot be used together on Recraft.", param="style_id"
            )
        body = request.params(*CONSUMED)
        body["model"] = deployment.model
        if request.size == "auto":
            del body["size"]  # "let the model choose" = Recraft's own default
        elif request.size is not None:
            check_size(request.size, deployment.model, self.family(deployment))
        return body

    def build(self, request: ImageRequest, deployment: Deployment) -> list[UpstreamRequest]:
        return [UpstreamRequest.post_json(self.url(deployment), self.payload(request, deployment))]

    def parse(
        self, response: UpstreamResponse, request: ImageRequest, deployment: Deployment
    ) -> ImageResult:
        return parse_images(response.json())

    def map_error(self, response: UpstreamResponse, deployment: Deployment) -> ProxyError:
        # Recraft's 401/404 bodies are plain text ("request unauthorized"); the shared
        # mapper reads plain text and JSON alike.
        return map_http_error(response.status, response.headers, response.body, PROVIDER)
