"""The gallery's rows: one per image kept (the bytes are in the image store, by file id)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from proxy.db.database import Store


@dataclass(frozen=True, slots=True)
class GalleryFilter:
    model_group: str | None = None
    key_alias: str | None = None
    key_hash: str | None = None  # a virtual key sees its own images only


async def kept(store: Store, request_id: str) -> bool:
    """Whether the images of ``request_id`` are in the gallery already."""
    g = store.t.gallery
    async with store.engine.connect() as conn:
        found = await conn.scalar(sa.select(g.c.id).where(g.c.request_id == request_id).limit(1))
    return found is not None


async def add(store: Store, rows: Sequence[dict[str, Any]]) -> bool:
    """Insert the rows; False (nothing inserted) when a request's images are kept already."""
    try:
        async with store.engine.begin() as conn:
            await conn.execute(sa.insert(store.t.gallery), list(rows))
    except IntegrityError:
        return False
    return True


def _where(store: Store, f: GalleryFilter) -> list[Any]:
    c = store.t.gallery.c
    out: list[Any] = []
    if f.model_group is not None:
        out.append(c.model_group == f.model_group)
    if f.key_alias is not None:
        out.append(c.key_alias == f.key_alias)
    if f.key_hash is not None:
        out.append(c.key_hash == f.key_hash)
    return out


async def page(
    store: Store, f: GalleryFilter, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    g = store.t.gallery
    where = _where(store, f)
    async with store.engine.connect() as conn:
        total = await conn.scalar(sa.select(sa.func.count()).select_from(g).where(*where))
        rows = (
            (
                await conn.execute(
                    sa.select(g)
                    .where(*where)
                    .order_by(g.c.time.desc(), g.c.request_id, g.c.image_index)
                    .offset(offset)
                    .limit(limit)
                )
            )
            .mappings()
            .all()
        )
    return [{str(k): v for k, v in r.items()} for r in rows], int(total or 0)


async def get(store: Store, image_id: str) -> dict[str, Any] | None:
    g = store.t.gallery
    async with store.engine.connect() as conn:
        row = (await conn.execute(sa.select(g).where(g.c.id == image_id))).mappings().first()
    return {str(k): v for k, v in row.items()} if row else None


async def delete(store: Store, image_id: str) -> None:
    g = store.t.gallery
    async with store.engine.begin() as conn:
        await conn.execute(sa.delete(g).where(g.c.id == image_id))
