"""``/v1/images/generations`` on OpenRouter, through its chat completions endpoint.

The prompt becomes one user message, ``modalities`` asks for images (``["image", "text"]``
unless the deployment sets ``modalities``), ``size`` / ``quality`` become ``image_config``.
One chat call yields one image, so ``n`` fans out into ``n`` parallel calls. The answer's
``message.images[].image_url.url`` URLs become ``url`` items: the delivery stage
(``proxy.images``) turns data URLs into ``b64_json``, as it does for every provider.
An answer without an image is an error, never a 200 with empty ``data``.

Other parameters pass through to the chat body (``seed``, ``provider``, ``user``, ...);
OpenAI image-only parameters a chat model cannot honour are refused with a 400.
"""

from __future__ import annotations

from typing import Any

from proxy.config.deployment import Deployment
from proxy.errors import ContentPolicyError, InvalidRequestError, ProxyError, UpstreamError
from proxy.providers.base import ImageResult, NoImageStream, Usage
from proxy.providers.openrouter.common import (
    PROVIDER,
    attribution_headers,
    chat_url,
    map_error_body,
)
from proxy.providers.openrouter.image_config import build_image_config
from proxy.redact import redact_text
from proxy.schemas import ImageRequest
from proxy.upstream_request import UpstreamRequest, UpstreamResponse

DEFAULT_MODALITIES = ["image", "text"]

UNSUPPORTED = {
    "style": "OpenRouter image models take provider style keys inside 'image_config'",
    "background": "pass a provider key such as 'background_mode' inside 'image_config'",
    "output_format": "OpenRouter chat image models return their own format (usually PNG)",
    "output_compression": "OpenRouter chat image models do not take a compression level",
    "moderation": "OpenRouter has no moderation setting on image requests",
    "partial_images": "OpenRouter image generation through chat is not streamed here",
    "messages": "the prompt becomes the chat message; use /v1/chat/completions for a conversation",
}
# Read here (turned into the chat body's own fields) or by the proxy, never copied as is.
CONSUMED = (
    "prompt", "n", "size", "quality", "response_format", "stream",
    "image_config", "aspect_ratio", "image_size", "modalities",
)  # fmt: skip


def image_item(url: str) -> dict[str, Any]:
    """A chat image URL -> an OpenAI image item. A data URL stays a ``url`` here: the
    delivery stage checks it as it checks a download and turns it into ``b64_json``."""
    if url.startswith(("data:", "https://", "http://")):
        return {"url": url}
    raise UpstreamError(f"{PROVIDER} returned an image URL of an unknown kind")


def message_image_urls(message: dict[str, Any]) -> list[str]:
    images = message.get("images")
    urls: list[str] = []
    for image in images if isinstance(images, list) else ():
        if isinstance(image, dict) and isinstance(image.get("image_url"), dict):
            url = image["image_url"].get("url")
            if isinstance(url, str) and url:
                urls.append(url)
    return urls


def images_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """Chat usage -> the ImagesResponse usage shape (``cost`` kept: OpenRouter's USD)."""
    out: dict[str, Any] = {
        "input_tokens": usage.get("prompt_tokens", 0),
        "output_tokens": usage.get("completion_tokens", 0),
        "total_tokens": usage.get("total_tokens", 0),
    }
    details = usage.get("completion_tokens_details")
    if isinstance(details, dict) and isinstance(details.get("image_tokens"), int):
        out["output_tokens_details"] = {
            "image_tokens": details["image_tokens"],
            "text_tokens": max(0, out["output_tokens"] - details["image_tokens"]),
        }
    if isinstance(usage.get("cost"), int | float):
        out["cost"] = usage["cost"]
    return out


class OpenRouterImages(NoImageStream):
    provider = PROVIDER
    image_hosts = ()  # images come back as data URIs

    def payload(self, request: ImageRequest, deployment: Deployment) -> dict[str, Any]:
        request.refuse_unsupported(UNSUPPORTED, "for OpenRouter image models")
        modalities = request.body.get("modalities") or deployment.param("modalities")
        if modalities is None:
            modalities = DEFAULT_MODALITIES
        elif not isinstance(modalities, list) or "image" not in modalities:
            raise InvalidRequestError(
                "'modalities' must be a list that includes 'image' for image generation.",
                param="modalities",
            )
        defaults = deployment.param("image_config")
        config = build_image_config(
            request.body, deployment.model, defaults if isinstance(defaults, dict) else None
        )
        body = request.params(*CONSUMED)
        body.update(
            model=deployment.model,
            messages=[{"role": "user", "content": request.prompt}],
            modalities=modalities,
        )
        if config:
            body["image_config"] = config
        return body

    def build(self, request: ImageRequest, deployment: Deployment) -> list[UpstreamRequest]:
        payload = self.payload(request, deployment)
        url, headers = chat_url(deployment), attribution_headers(deployment)
        return [UpstreamRequest.post_json(url, payload, headers) for _ in range(request.n)]

    def parse(
        self, response: UpstreamResponse, request: ImageRequest, deployment: Deployment
    ) -> ImageResult:
        body = response.json()
        if not isinstance(body, dict):
            raise UpstreamError(f"{PROVIDER} answered with a non-object body", provider=PROVIDER)
        if isinstance(body.get("error"), dict):
            raise map_error_body(502, response.headers, b"", error=body["error"])
        choices = body.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise UpstreamError(f"{PROVIDER} answered without choices", provider=PROVIDER)
        message = choices[0].get("message")
        urls = message_image_urls(message) if isinstance(message, dict) else []
        if not urls:
            raise self.no_image(choices[0], message)
        usage = body.get("usage")
        created = body.get("created") if isinstance(body.get("created"), int) else None
        return ImageResult(
            data=[image_item(u) for u in urls],
            usage=Usage.of(images_usage(usage)) if isinstance(usage, dict) else None,
            created=created,
        )

    def no_image(self, choice: dict[str, Any], message: Any) -> ProxyError:
        finish = choice.get("finish_reason")
        text = message.get("content") if isinstance(message, dict) else None
        said = ""
        if isinstance(text, str) and text:
            said = f" The model said: {redact_text(text, 300)!r}."
        if finish == "content_filter":
            return ContentPolicyError(
                f"{PROVIDER}: the model refused to generate the image (content filter).{said}",
                provider=PROVIDER,
            )
        return UpstreamError(
            f"{PROVIDER}: the model answered without an image (finish_reason={finish}).{said} "
            "Check that the model can output images.",
            provider=PROVIDER,
        )

    def map_error(self, response: UpstreamResponse, deployment: Deployment) -> ProxyError:
        return map_error_body(response.status, response.headers, response.body)
