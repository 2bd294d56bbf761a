"""The gallery's post-call stage: the images of every successful, unstreamed image request
(generations, edits, variations; API clients and the console alike) are kept when
``general_settings.console_gallery`` is on.

The answer's handler hands the base64 images it already holds to the request context
(``hold``, no copy); after the call, ``after`` starts a background task that decodes them,
writes the files to the gallery's store and one row per image to the database, with the
model, key alias and cost the request context has by then. The client's answer never waits
for it; ``settle`` lets a reader (``GET /gallery``) see what is still being written. At most
``max_pending`` requests are being kept at once: past that, a request's images are skipped and
counted (``skipped``), never queued without bound.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import secrets
from collections.abc import Iterable
from typing import Any

from proxy.context import RequestContext
from proxy.db import gallery as rows
from proxy.db.database import Store
from proxy.db.records import billed_key
from proxy.images.formats import ImageType, sniff_image
from proxy.images.signing import new_file_id
from proxy.images.store import ImageStore

log = logging.getLogger("proxy.gallery")

MAX_PENDING = 32
SETTLE_SECONDS = 10.0


def base64_images(body: dict[str, Any]) -> tuple[str, ...]:
    """The ``b64_json`` of each item of an images answer (none when it gave URLs)."""
    data = body.get("data")
    if not isinstance(data, list):
        return ()
    found = (item.get("b64_json") for item in data if isinstance(item, dict))
    return tuple(b for b in found if isinstance(b, str) and b)


def decoded(images: Iterable[str]) -> list[tuple[bytes, ImageType]]:
    """The images that decode and sniff as images (a worker thread runs this)."""
    out = []
    for b64 in images:
        try:
            data = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            continue
        kind = sniff_image(data)
        if kind is not None:
            out.append((data, kind))
    return out


class GalleryKeeper:
    def __init__(self, files: ImageStore, store: Store, max_pending: int = MAX_PENDING) -> None:
        self.files = files
        self.store = store
        self.max_pending = max_pending
        self.skipped = 0
        self._pending: set[asyncio.Task[None]] = set()

    def hold(self, ctx: RequestContext, prompt: str | None, body: dict[str, Any]) -> None:
        """Note the answer's base64 images on the request (references, not copies), unless
        some are noted already."""
        if ctx.kept_images is None:
            images = base64_images(body)
            if images:
                ctx.kept_images = images
                ctx.kept_prompt = prompt

    def after(self, ctx: RequestContext) -> None:
        """The post-call stage: keep the request's images in the background."""
        images = ctx.kept_images
        if not images or ctx.status != 200:
            return
        if len(self._pending) >= self.max_pending:
            self.skipped += 1
            log.warning(
                "gallery: %d requests being kept; request %s skipped",
                self.max_pending,
                ctx.request_id,
            )
            return
        key = ctx.key
        share = ctx.cost / len(images) if ctx.cost is not None else None
        row = {
            "time": ctx.wall_time,
            "request_id": ctx.request_id,
            "key_hash": billed_key(key),
            "key_alias": key.alias if key is not None else None,
            "model_group": ctx.model_group,
            "prompt": ctx.kept_prompt,
            "cost": share,
        }
        ctx.kept_images = None  # the task holds them now
        task = asyncio.create_task(self._keep(row, images), name="gallery-keep")
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _keep(self, row: dict[str, Any], images: tuple[str, ...]) -> None:
        written: list[str] = []
        try:
            entries = []
            for i, (data, kind) in enumerate(await asyncio.to_thread(decoded, images)):
                file_id = new_file_id(kind.extension)
                await self.files.put(file_id, data, kind)
                written.append(file_id)
                entries.append(
                    {
                        **row,
                        "id": secrets.token_urlsafe(16),
                        "image_index": i,
                        "file_id": file_id,
                        "media_type": kind.mime,
                    }
                )
            if entries and not await rows.add(self.store, entries):
                raise RuntimeError("kept already")
        except Exception as exc:  # a failed keep must not touch the request; logged, undone
            log.error("gallery: request %s not kept (%s)", row["request_id"], type(exc).__name__)
            for file_id in written:
                with contextlib.suppress(Exception):
                    await self.files.delete(file_id)

    async def settle(self, seconds: float = SETTLE_SECONDS) -> None:
        """Wait (at most ``seconds``) for the images being kept now."""
        pending = list(self._pending)
        if pending:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), seconds)

    async def start(self) -> None:
        await self.files.start()

    async def aclose(self) -> None:
        await self.settle()
        await self.files.aclose()
