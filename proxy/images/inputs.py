"""Images a client sends as ``data:`` URIs, held to the downloader's rules before any provider
sees them: a pre-call stage (``InputImages.check``).

Chat messages carry images in ``image_url`` parts and, on assistant turns sent back, in
``images[].image_url`` / ``image``. Every one that is a ``data:`` URI must be an image type,
declared and sniffed alike, within ``image_fetch.max_bytes`` and valid base64: the checks a
provider's image passes (``Delivery.open_data_uri``), refused here with a 400 naming the
part. URLs are not fetched by the proxy (the provider fetches them), so they pass as they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from proxy.context import RequestContext
from proxy.errors import InvalidRequestError
from proxy.images.formats import ImageRejected, is_data_uri
from proxy.images.service import Delivery
from proxy.schemas import ChatRequest


def _url(value: Any) -> Any:
    """``{"url": ...}`` or the URL itself, as clients write an ``image_url``."""
    return value.get("url") if isinstance(value, dict) else value


def image_urls(messages: list[dict[str, Any]]) -> Iterator[tuple[str, Any]]:
    """Every image URL of the messages, with its path in the request body."""
    for i, message in enumerate(messages):
        content = message.get("content")
        for j, part in enumerate(content if isinstance(content, list) else ()):
            if isinstance(part, dict) and part.get("type") == "image_url":
                yield f"messages[{i}].content[{j}].image_url", _url(part.get("image_url"))
        images = message.get("images")
        for k, part in enumerate(images if isinstance(images, list) else ()):
            if isinstance(part, dict):
                yield f"messages[{i}].images[{k}].image_url", _url(part.get("image_url"))
        if message.get("image") is not None:
            yield f"messages[{i}].image", _url(message["image"])


class InputImages:
    def __init__(self, delivery: Delivery) -> None:
        self.delivery = delivery

    async def check(self, ctx: RequestContext, request: Any) -> None:
        """Pre-call stage: refuse a chat request whose ``data:`` URI images fail the checks."""
        if not isinstance(request, ChatRequest):
            return
        for where, url in image_urls(request.messages):
            if isinstance(url, str) and is_data_uri(url):
                try:
                    await self.delivery.open_data_uri(url)
                except ImageRejected as exc:
                    raise InvalidRequestError(
                        f"'{where}': {exc}.", param=where, code="invalid_image"
                    ) from None
