"""The delivery service: one store, one link signer, one guarded fetcher, one purge task.

Built from ``general_settings`` by ``install(app, config)``; request handlers reach it as
``request.app.services.delivery``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from proxy.config import ProxyConfig
from proxy.config.delivery import ImageFetchSettings, ImageStoreSettings
from proxy.errors import ProxyError, UpstreamError
from proxy.images.fetch import FetchError
from proxy.images.fetcher import ImageFetcher
from proxy.images.formats import (
    BY_EXTENSION,
    UNKNOWN,
    ImageRejected,
    ImageType,
    image_of_data_uri,
    sniff_image,
)
from proxy.images.signing import LinkSigner, derive_secret, new_file_id
from proxy.images.store import ImageStore, StoreError
from proxy.images.store_local import LocalImageStore
from proxy.images.store_s3 import S3ImageStore
from proxy.paths import local_path

log = logging.getLogger("proxy.images")

FILES_PATH = "/v1/images/files/"
OFF_LOOP = 256 * 1024  # a data: URI this long is decoded and checked in a worker thread


class ImageDownloadError(UpstreamError):
    """The provider's image could not be taken: a URL the proxy could not (or would not)
    download, or a ``data:`` URI that fails the same checks."""

    code = "image_download_failed"
    retryable = False


class ImageStoreUnavailableError(ProxyError):
    status = 503
    type = "service_unavailable_error"
    code = "image_store_unavailable"


@dataclass(frozen=True, slots=True)
class StoredImage:
    data: bytes
    kind: ImageType
    max_age: int


class Delivery:
    def __init__(
        self,
        store: ImageStore,
        signer: LinkSigner,
        fetcher: ImageFetcher,
        settings: ImageStoreSettings,
        public_base_url: str | None = None,
    ) -> None:
        self.store = store
        self.signer = signer
        self.fetcher = fetcher
        self.settings = settings
        self.ttl = settings.ttl_seconds
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None
        self._purger: asyncio.Task[None] | None = None

    @classmethod
    def from_config(cls, config: ProxyConfig) -> Delivery:
        general = config.general
        store_settings = general.image_store or ImageStoreSettings()
        fetch_settings = general.image_fetch or ImageFetchSettings()
        store: ImageStore
        if store_settings.type == "s3":
            store = S3ImageStore(store_settings)
        else:
            store = LocalImageStore(str(local_path(config, store_settings.path, "image-store")))
        secret = derive_secret(store_settings.signing_secret, general.master_key)
        if not store_settings.signing_secret and not general.master_key:
            log.warning(
                "image links use a per-process secret: set image_store.signing_secret "
                "so that replicas accept each other's links"
            )
        return cls(
            store,
            LinkSigner(secret),
            ImageFetcher(fetch_settings),
            store_settings,
            general.public_base_url,
        )

    # --- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        await self.store.start()
        self._purger = asyncio.create_task(self._purge_loop(), name="image-store-purge")

    async def aclose(self) -> None:
        if self._purger is not None:
            self._purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._purger
        await self.fetcher.aclose()
        await self.store.aclose()

    async def purge_once(self, now: float | None = None) -> int:
        return await self.store.purge_expired((time.time() if now is None else now) - self.ttl)

    async def _purge_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.purge_interval_seconds)
            try:
                removed = await self.purge_once()
                if removed:
                    log.info("image store: purged %d expired images", removed)
            except StoreError as exc:
                log.warning("image store purge failed: %s", exc)

    # --- the two conversions --------------------------------------------------------

    def base_url(self, request_base: str) -> str:
        return self.public_base_url or request_base.rstrip("/")

    async def link_for(self, data: bytes, request_base: str) -> str:
        """Store ``data`` and return the URL a client fetches it from."""
        kind = sniff_image(data) or UNKNOWN
        file_id = new_file_id(kind.extension)
        try:
            await self.store.put(file_id, data, kind)
            presigned = await self.store.presigned_url(file_id, self.ttl)
        except StoreError as exc:
            raise ImageStoreUnavailableError(str(exc)) from None
        if presigned:
            return presigned
        expires = int(time.time()) + self.ttl
        return f"{self.base_url(request_base)}{FILES_PATH}{file_id}?" + self.signer.query(
            file_id, expires
        )

    async def download(self, url: str, hosts: tuple[str, ...], provider: str) -> bytes:
        try:
            return await self.fetcher.fetch(url, hosts)
        except FetchError as exc:
            raise ImageDownloadError(
                f"{provider} returned an image URL the proxy could not download: {exc}",
                provider=provider,
            ) from None

    async def open_data_uri(self, uri: str) -> bytes:
        """The image in a ``data:`` URI, held to the downloader's rules (``image_fetch``'s
        ``max_bytes``, the image types); ``ImageRejected`` says why not. A long one is
        decoded in a worker thread: the event loop never waits on it."""
        limit = self.fetcher.settings.max_bytes
        if len(uri) < OFF_LOOP:
            return image_of_data_uri(uri, limit)
        return await asyncio.to_thread(image_of_data_uri, uri, limit)

    async def provider_image(self, uri: str, provider: str) -> bytes:
        """A provider's ``data:`` URI image, refused as a download that fails would be."""
        try:
            return await self.open_data_uri(uri)
        except ImageRejected as exc:
            raise ImageDownloadError(
                f"{provider} returned a data: URI image the proxy would not take: {exc}",
                provider=provider,
            ) from None

    async def open(self, file_id: str, expires: str | None, sig: str | None) -> StoredImage | None:
        """The stored image behind a signed link, or None (bad, expired or unknown link)."""
        now = time.time()
        if not self.signer.verify(file_id, expires, sig, now):
            return None
        try:
            data = await self.store.get(file_id)
        except StoreError as exc:
            raise ImageStoreUnavailableError(str(exc)) from None
        if data is None:
            return None
        kind = sniff_image(data) or BY_EXTENSION.get(file_id.rsplit(".", 1)[-1], UNKNOWN)
        return StoredImage(data, kind, max(0, int(expires or 0) - int(now)))
