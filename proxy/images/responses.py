"""Answers rewritten to the image format the client asked for.

Images (``POST /v1/images/generations``), after the provider's answers are merged:

- ``response_format: b64_json`` and an item holds a URL: a ``data:`` URI is decoded, any other
  URL is downloaded by the guarded fetcher from the hosts the adapter declares;
- ``response_format: url`` and an item holds base64: the image is stored and the item gets a
  link (the proxy's signed ``/v1/images/files/{id}`` link or an S3 presigned URL);
- no ``response_format``: the provider's answer is kept as it is, but for ``data:`` URIs,
  which are base64 in disguise and become ``b64_json``.

Every ``data:`` URI taken in is held to the downloader's rules (``Delivery.provider_image``):
an image type, declared and sniffed alike, within ``image_fetch.max_bytes``.

Chat (``message.image`` / ``message.images`` / ``delta.image`` / ``delta.images``): data URIs
are kept unless ``image_response_format: url`` is asked (per request or per deployment); then
each data URI is checked, stored and replaced by its link.

Adapters take part declaratively: every image adapter declares ``image_hosts`` (host names or
suffixes its provider serves image URLs from); nothing else is needed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from proxy.errors import ProxyError, UpstreamError
from proxy.images.formats import decode_b64, encode_b64, is_data_uri
from proxy.images.service import Delivery

CHAT_IMAGE_FORMATS = ("url", "b64_json")


async def _all(coros: list[Any]) -> None:
    if not coros:
        return
    try:
        async with asyncio.TaskGroup() as tg:
            for c in coros:
                tg.create_task(c)
    except* ProxyError as group:
        raise group.exceptions[0] from None


def _bad_base64(provider: str) -> UpstreamError:
    return UpstreamError(
        f"{provider} returned an image that is not valid base64", provider=provider
    )


def to_deliver(body: dict[str, Any], want: str | None) -> bool:
    """Whether ``deliver_images`` has anything to do: a format to deliver, or a ``data:``
    URI to check (most answers: neither, and the caller skips working out a link base)."""
    if want in ("url", "b64_json"):
        return True
    return any(
        isinstance(item, dict) and isinstance(item.get("url"), str) and is_data_uri(item["url"])
        for item in body.get("data") or ()
    )


async def deliver_images(
    body: dict[str, Any],
    want: str | None,
    delivery: Delivery,
    *,
    provider: str,
    hosts: tuple[str, ...],
    request_base: str,
) -> dict[str, Any]:
    """Rewrite ``body["data"]`` in place so every item is in the ``want`` format (``None``:
    as returned, ``data:`` URIs as ``b64_json``)."""

    async def to_b64(item: dict[str, Any]) -> None:
        url = item.get("url")
        if item.get("b64_json") or not isinstance(url, str):
            item.pop("url", None)
            return
        if is_data_uri(url):
            data = await delivery.provider_image(url, provider)
        else:
            data = await delivery.download(url, hosts, provider)
        item["b64_json"] = encode_b64(data)
        del item["url"]

    async def to_url(item: dict[str, Any]) -> None:
        url, b64 = item.get("url"), item.get("b64_json")
        if isinstance(url, str) and url and not is_data_uri(url):
            item.pop("b64_json", None)
            return
        if isinstance(b64, str) and b64:
            data = decode_b64(b64)
            if data is None:
                raise _bad_base64(provider)
        elif isinstance(url, str):
            data = await delivery.provider_image(url, provider)
        else:
            return
        item["url"] = await delivery.link_for(data, request_base)
        item.pop("b64_json", None)

    items = [item for item in body.get("data", ()) if isinstance(item, dict)]
    if want == "url":
        await _all([to_url(item) for item in items])
    elif want == "b64_json":
        await _all([to_b64(item) for item in items])
    else:  # as returned, but for data: URIs (most answers have none: no task is made)
        await _all(
            [to_b64(i) for i in items if isinstance(i.get("url"), str) and is_data_uri(i["url"])]
        )
    return body


@dataclass
class ChatImageLinker:
    """Replaces data URIs in chat messages and chunks by store links (one link per image)."""

    delivery: Delivery
    request_base: str
    provider: str
    _links: dict[str, str] = field(default_factory=dict)

    async def _link(self, uri: str) -> str:
        if uri not in self._links:
            data = await self.delivery.provider_image(uri, self.provider)
            self._links[uri] = await self.delivery.link_for(data, self.request_base)
        return self._links[uri]

    def _slots(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        """The dicts whose ``url`` holds an image: ``image`` and ``images[].image_url``."""
        slots = []
        image = message.get("image")
        if isinstance(image, dict):
            slots.append(image)
        images = message.get("images")
        if isinstance(images, list):
            for part in images:
                inner = part.get("image_url") if isinstance(part, dict) else None
                if isinstance(inner, dict):
                    slots.append(inner)
        return [s for s in slots if isinstance(s.get("url"), str) and is_data_uri(s["url"])]

    async def rewrite(self, message: dict[str, Any]) -> None:
        slots = self._slots(message)
        unique = list(dict.fromkeys(s["url"] for s in slots))
        await _all([self._link(uri) for uri in unique])
        for s in slots:
            s["url"] = self._links[s["url"]]

    async def rewrite_completion(self, body: dict[str, Any]) -> dict[str, Any]:
        for choice in body.get("choices") or ():
            if isinstance(choice, dict) and isinstance(choice.get("message"), dict):
                await self.rewrite(choice["message"])
        return body

    async def rewrite_chunk(self, chunk: dict[str, Any]) -> dict[str, Any]:
        for choice in chunk.get("choices") or ():
            if isinstance(choice, dict) and isinstance(choice.get("delta"), dict):
                await self.rewrite(choice["delta"])
        return chunk
