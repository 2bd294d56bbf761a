"""The gallery (opt-in: ``general_settings.console_gallery``, ``proxy.images.gallery``): the
images of successful image requests, kept after each call (``proxy.images.gallery_keeper``).

``GET /gallery`` lists them newest first (filter by model, by key alias for the master
key; a virtual key sees its own), ``GET /gallery/{id}/image`` is the image,
``DELETE /gallery/{id}`` deletes one, file and row. The files stay until deleted, out of
reach of the image store's purge (``proxy.images.gallery``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from proxy.api.admin import admin, page_params, paged, query_str
from proxy.api.endpoint import json_response
from proxy.api.routes import Operation, route
from proxy.context import KeyInfo
from proxy.db import gallery
from proxy.db.database import Store, with_timeout
from proxy.errors import NotFoundError
from proxy.images.gallery_keeper import GalleryKeeper
from proxy.images.service import ImageStoreUnavailableError
from proxy.images.store import ImageStore, StoreError
from proxy.pipeline import Pipeline
from proxy.schemas.console import (
    GalleryDeleted,
    GalleryPage,
    GalleryQuery,
)

log = logging.getLogger("proxy.gallery")


async def gallery_caller(request: Request) -> tuple[KeyInfo, GalleryKeeper]:
    """The caller and the gallery; a 404 when the gallery is off."""
    pipeline: Pipeline = request.app.services.pipeline
    caller = await pipeline.auth.authenticate(request)
    keeper: GalleryKeeper | None = request.app.services.gallery
    if keeper is None:
        raise NotFoundError(
            "The gallery is off (general_settings.console_gallery).", code="gallery_disabled"
        )
    return caller, keeper


def owns(caller: KeyInfo, key_hash: str | None) -> bool:
    return caller.is_master or (key_hash is not None and key_hash == caller.key_hash)


def entry(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "time": row["time"],
        "time_iso": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(row["time"])),
        "request_id": row["request_id"],
        "image_index": row["image_index"],
        "model_group": row["model_group"],
        "key_alias": row["key_alias"],
        "prompt": row["prompt"],
        "cost": row["cost"],
        "media_type": row["media_type"],
        "url": f"/gallery/{row['id']}/image",
    }


async def list_images(request: Request) -> Response:
    async def handle() -> Response:
        caller, keeper = await gallery_caller(request)
        await keeper.settle()  # what is being kept now is listed too
        f = gallery.GalleryFilter(
            model_group=query_str(request, "model"),
            key_alias=query_str(request, "key_alias") if caller.is_master else None,
            key_hash=None if caller.is_master else caller.key_hash,
        )
        page, size = page_params(request)
        store: Store = request.app.services.store
        rows, total = await with_timeout(gallery.page(store, f, (page - 1) * size, size))
        return json_response(paged([entry(r) for r in rows], total, page, size))

    return await admin(request, handle)


async def owned_row(request: Request) -> tuple[dict[str, Any], ImageStore]:
    caller, keeper = await gallery_caller(request)
    files = keeper.files
    store: Store = request.app.services.store
    row: dict[str, Any] | None = await with_timeout(
        gallery.get(store, request.path_params["image_id"])
    )
    if row is None or not owns(caller, row["key_hash"]):
        raise NotFoundError("No such gallery image.", code="not_found")
    return row, files


async def image(request: Request) -> Response:
    async def handle() -> Response:
        row, files = await owned_row(request)
        try:
            data = await files.get(row["file_id"])
        except StoreError as exc:
            raise ImageStoreUnavailableError(str(exc)) from None
        if data is None:
            raise NotFoundError("The image is no longer in the store.", code="not_found")
        headers = {"cache-control": "private, max-age=86400", "x-content-type-options": "nosniff"}
        return Response(data, media_type=row["media_type"], headers=headers)

    return await admin(request, handle)


async def forget(request: Request) -> Response:
    async def handle() -> Response:
        row, files = await owned_row(request)
        store: Store = request.app.services.store
        await with_timeout(gallery.delete(store, row["id"]))
        try:
            await files.delete(row["file_id"])
        except StoreError as exc:  # the row is gone; the file waits for a later delete
            log.warning("gallery: %s", exc)
        return json_response({"id": row["id"], "deleted": True})

    return await admin(request, handle)


TAG = "gallery"
routes = [
    route(
        "/gallery",
        list_images,
        "GET",
        doc=Operation(
            summary="Gallery",
            tag=TAG,
            query=GalleryQuery,
            response=GalleryPage,
            description="Kept images, newest first.",
        ),
    ),
    route(
        "/gallery/{image_id}/image",
        image,
        "GET",
        doc=Operation(summary="A gallery image", tag=TAG, media_type="image/*"),
    ),
    route(
        "/gallery/{image_id}",
        forget,
        "DELETE",
        doc=Operation(summary="Delete a gallery image", tag=TAG, response=GalleryDeleted),
    ),
]
