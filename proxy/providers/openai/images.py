"""``/images/generations`` for OpenAI-compatible upstreams.

The OpenAI body passes through as sent, unknown parameters included, with ``model`` set to
the deployment's model id. Subclasses adjust the URL, headers and the few fields their
server reads differently (Azure, Xinference, Nscale).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from proxy.config.deployment import Deployment
from proxy.errors import ProxyError, UpstreamError
from proxy.providers.base import ImageResult, Usage, join_url
from proxy.providers.openai.gpt_image_2 import check_options, is_gpt_image_2
from proxy.providers.upstream_errors import map_http_error
from proxy.schemas import ImageRequest
from proxy.sse import DONE, SSEEvent
from proxy.upstream_request import UpstreamRequest, UpstreamResponse

# Fields of an ImagesResponse besides ``data`` that clients read.
RESPONSE_EXTRAS = ("background", "output_format", "size", "quality")


def is_gpt_image(model: str) -> bool:
    name = model.rsplit("/", 1)[-1].lower()
    return name.startswith(("gpt-image", "chatgpt-image"))


def serves(deployment: Deployment, is_family: Callable[[str], bool]) -> bool:
    """The deployment's model id, or LiteLLM's ``model_info.base_model`` for deployments
    whose name says nothing (Azure: ``azure/my-images`` with ``base_model: gpt-image-2``),
    is of the family."""
    base_model = (deployment.info.model_extra or {}).get("base_model")
    return is_family(deployment.model) or (isinstance(base_model, str) and is_family(base_model))


def serves_gpt_image(deployment: Deployment) -> bool:
    return serves(deployment, is_gpt_image)


def serves_gpt_image_2(deployment: Deployment) -> bool:
    """gpt-image-2 or a successor: sizes and options checked before any call."""
    return serves(deployment, is_gpt_image_2)


class OpenAIImageStream:
    """``image_generation.*`` events relayed as they arrive; ``[DONE]`` ends the stream."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = False

    def feed(self, event: SSEEvent) -> list[tuple[str | None, Any]]:
        if event.data == DONE:
            self.done = True
            return []
        payload = event.json()
        name = event.event or (payload.get("type") if isinstance(payload, dict) else None)
        return [(name, payload)]

    def end(self) -> list[tuple[str | None, Any]]:
        return []


class OpenAIImages:
    supports_stream = True
    default_base = "https://api.openai.com/v1"
    provider = "openai"
    # Where dall-e ``url`` answers point; the delivery stage downloads only from these.
    image_hosts: tuple[str, ...] = ("oaidalleapiprodscus.blob.core.windows.net",)

    def base_url(self, deployment: Deployment) -> str:
        return deployment.params.api_base or self.default_base

    def url(self, deployment: Deployment) -> str:
        return join_url(self.base_url(deployment), "images/generations")

    def payload(self, request: ImageRequest, deployment: Deployment) -> dict[str, Any]:
        body = dict(request.body)
        body["model"] = deployment.model
        if serves_gpt_image_2(deployment):
            check_options(body)  # a 400 naming the rule, before any call
        if serves_gpt_image(deployment):
            # GPT image models always answer base64 and reject ``response_format``; the
            # delivery stage turns base64 into a URL when the client asked for one.
            body.pop("response_format", None)
        return body

    def build(self, request: ImageRequest, deployment: Deployment) -> list[UpstreamRequest]:
        return [
            UpstreamRequest.post_json(
                self.url(deployment), self.payload(request, deployment), stream=request.stream
            )
        ]

    def parse(
        self, response: UpstreamResponse, request: ImageRequest, deployment: Deployment
    ) -> ImageResult:
        return self.images_response(response)

    def images_response(self, response: UpstreamResponse) -> ImageResult:
        """An OpenAI ``ImagesResponse`` (generations, edits and variations answer alike)."""
        body = response.json()
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise UpstreamError(f"{self.provider} answered without a 'data' list")
        data = [self.clean_item(item) for item in body["data"] if isinstance(item, dict)]
        extra = {k: body[k] for k in RESPONSE_EXTRAS if body.get(k) is not None}
        usage = body.get("usage") if isinstance(body.get("usage"), dict) else None
        created = body.get("created") if isinstance(body.get("created"), int) else None
        return ImageResult(data=data, usage=Usage.of(usage), extra=extra, created=created)

    def clean_item(self, item: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in item.items() if v is not None}

    def stream_translator(self, request: ImageRequest, deployment: Deployment) -> OpenAIImageStream:
        return OpenAIImageStream()

    def map_error(self, response: UpstreamResponse, deployment: Deployment) -> ProxyError:
        return map_http_error(response.status, response.headers, response.body, self.provider)
