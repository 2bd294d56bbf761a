"""The gallery's post-call stage on its own: what it keeps, what it skips, what it undoes."""

from __future__ import annotations

import asyncio
import base64
import io
from pathlib import Path
from typing import Any

from PIL import Image

from proxy.context import KeyInfo, RequestContext
from proxy.db import gallery as rows
from proxy.db.database import Store
from proxy.images.gallery_keeper import GalleryKeeper, base64_images
from proxy.images.store_local import LocalImageStore
from tests.db.conftest import unique_prefix


def png_b64() -> str:
    out = io.BytesIO()
    Image.new("RGB", (4, 3), (1, 2, 3)).save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode()


def answered(images: list[str], cost: float | None = 0.08) -> RequestContext:
    ctx = RequestContext("images", key=KeyInfo("h" * 64, alias="team"), model_group="m")
    ctx.cost = cost
    ctx.kept_images = tuple(images)
    ctx.kept_prompt = "p"
    return ctx


async def store_at(tmp_path: Path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite3'}", unique_prefix())
    await store.migrate()
    return store


def test_base64_images_reads_only_base64_items() -> None:
    body: dict[str, Any] = {"data": [{"b64_json": "QQ=="}, {"url": "https://x"}, "junk"]}
    assert base64_images(body) == ("QQ==",)
    assert base64_images({"data": None}) == () and base64_images({}) == ()


async def test_kept_in_the_background_with_the_request_s_facts(tmp_path: Path) -> None:
    store = await store_at(tmp_path)
    files = LocalImageStore(tmp_path / "gallery")
    keeper = GalleryKeeper(files, store)
    ctx = answered([png_b64(), "%not base64%", png_b64()])
    keeper.after(ctx)
    assert ctx.kept_images is None  # handed to the task
    await keeper.settle()
    kept, total = await rows.page(store, rows.GalleryFilter(), 0, 10)
    assert total == 2 and {r["key_alias"] for r in kept} == {"team"}
    assert all(r["cost"] == 0.08 / 3 and r["prompt"] == "p" for r in kept)
    assert len(list((tmp_path / "gallery").iterdir())) == 2
    await store.aclose()


async def test_failed_or_unpriced_requests_and_a_full_queue(tmp_path: Path) -> None:
    store = await store_at(tmp_path)
    keeper = GalleryKeeper(LocalImageStore(tmp_path / "g"), store, max_pending=1)
    failed = answered([png_b64()])
    failed.status = 500
    keeper.after(failed)
    assert not keeper._pending
    keeper.after(answered([png_b64()], cost=None))
    keeper.after(answered([png_b64()]))  # one is being kept already: skipped
    assert keeper.skipped == 1
    await keeper.settle()
    kept, total = await rows.page(store, rows.GalleryFilter(), 0, 10)
    assert total == 1 and kept[0]["cost"] is None
    await store.aclose()


async def test_a_row_that_cannot_be_written_leaves_no_file(tmp_path: Path) -> None:
    store = await store_at(tmp_path)
    keeper = GalleryKeeper(LocalImageStore(tmp_path / "g"), store)
    ctx = answered([png_b64()])
    twin = answered([png_b64()])
    twin.request_id = ctx.request_id  # the same request kept twice: the second row clashes
    keeper.after(ctx)
    await keeper.settle()
    keeper.after(twin)
    await asyncio.wait_for(keeper.settle(), 10)
    assert len(list((tmp_path / "g").iterdir())) == 1
    await store.aclose()
