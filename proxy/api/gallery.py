"""The console's gallery (opt-in: ``general_settings.console_gallery``, ``proxy.images.gallery``).

``POST /gallery`` keeps the images of one of the caller's own successful requests, named by
its ``x-request-id``: the bytes go to the image store, one row per image to the database, and
the model, key alias and cost are taken from that request's spend record, never from the
body. ``GET /gallery`` lists them newest first (filter by model, by key alias for the master
key; a virtual key sees its own), ``GET /gallery/{id}/image`` is the image,
``DELETE /gallery/{id}`` deletes one, file and row. The files stay until deleted, out of
reach of the image store's purge (``proxy.images.gallery``).
"""

from __future__ import annotations

import base64
import binascii
import logging
import secrets
import time
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from proxy.api.admin import admin, page_params, paged, query_str
from proxy.api.endpoint import json_response, read_body
from proxy.api.routes import Operation, route
from proxy.api.spend import fresh_store
from proxy.context import KeyInfo
from proxy.db import gallery
from proxy.db.database import Store, with_timeout
from proxy.db.reports import spend_record
from proxy.errors import InvalidRequestError, NotFoundError
from proxy.images.formats import ImageType, sniff_image
from proxy.images.service import ImageStoreUnavailableError
from proxy.images.signing import new_file_id
from proxy.images.store import ImageStore, StoreError
from proxy.pipeline import Pipeline
from proxy.schemas import parse_json_object
from proxy.schemas.console import (
    GalleryDeleted,
    GalleryList,
    GalleryPage,
    GalleryQuery,
    GallerySave,
)

BODY_LIMIT = 64 * 1024 * 1024
log = logging.getLogger("proxy.gallery")


async def gallery_caller(request: Request) -> tuple[KeyInfo, ImageStore]:
    """The caller and the gallery's file store; a 404 when the gallery is off."""
    pipeline: Pipeline = request.app.services.pipeline
    caller = await pipeline.auth.authenticate(request)
    files: ImageStore | None = request.app.services.gallery_store
    if files is None:
        raise NotFoundError(
            "The gallery is off (general_settings.console_gallery).", code="gallery_disabled"
        )
    return caller, files


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


def already_kept() -> InvalidRequestError:
    return InvalidRequestError(
        "The images of that request are in the gallery already.", param="request_id"
    )


def image_of(b64: str, index: int) -> tuple[bytes, ImageType]:
    """The bytes of ``images[index]`` and their image type, or a 400 naming it."""
    try:
        data = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequestError(
            f"images[{index}].b64_json is not base64.", param=f"images[{index}].b64_json"
        ) from None
    kind = sniff_image(data)
    if kind is None:
        raise InvalidRequestError(f"images[{index}] is not an image.", param=f"images[{index}]")
    return data, kind


async def save(request: Request) -> Response:
    async def handle() -> Response:
        caller, files = await gallery_caller(request)
        raw = parse_json_object(await read_body(request, BODY_LIMIT))
        try:
            body = GallerySave.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err.get("loc", ())) or "body"
            raise InvalidRequestError(f"{where}: {err.get('msg')}", param=where) from None
        store: Store = await fresh_store(request)
        record = await with_timeout(spend_record(store, body.request_id))
        if record is None or not owns(caller, record.key_hash):
            raise NotFoundError("No such request of this key.", param="request_id")
        if record.status != 200:
            raise InvalidRequestError("That request made no image.", param="request_id")
        if await with_timeout(gallery.kept(store, record.request_id)):
            raise already_kept()
        share = record.cost / len(body.images) if record.cost is not None else None
        checked = [image_of(image.b64_json, i) for i, image in enumerate(body.images)]
        rows = []
        for i, (data, kind) in enumerate(checked):  # all checked before the first is written
            file_id = new_file_id(kind.extension)
            try:
                await files.put(file_id, data, kind)
            except StoreError as exc:
                raise ImageStoreUnavailableError(str(exc)) from None
            rows.append(
                {
                    "id": secrets.token_urlsafe(16),
                    "time": record.time,
                    "request_id": record.request_id,
                    "image_index": i,
                    "file_id": file_id,
                    "media_type": kind.mime,
                    "key_hash": record.key_hash,
                    "key_alias": record.key_alias,
                    "model_group": record.model_group,
                    "prompt": body.prompt,
                    "cost": share,
                }
            )
        if not await with_timeout(gallery.add(store, rows)):  # kept meanwhile by another call
            for row in rows:
                await files.delete(row["file_id"])
            raise already_kept()
        return json_response({"data": [entry(r) for r in rows]})

    return await admin(request, handle)


async def list_images(request: Request) -> Response:
    async def handle() -> Response:
        caller, _ = await gallery_caller(request)
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
    caller, files = await gallery_caller(request)
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
        save,
        "POST",
        doc=Operation(
            summary="Keep a request's images",
            tag=TAG,
            body=GallerySave,
            response=GalleryList,
            description="Keeps the images of one of the caller's successful requests (its "
            "`x-request-id`); model, key alias and cost come from its spend record. "
            "404 `gallery_disabled` unless `general_settings.console_gallery` is true.",
        ),
    ),
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
