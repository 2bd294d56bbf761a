"""Signed links, the local store and its purge, the S3 store against moto in server mode."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from proxy.config.delivery import ImageFetchSettings, ImageStoreSettings
from proxy.images.fetcher import ImageFetcher
from proxy.images.formats import GIF, JPEG, PNG, UNKNOWN, WEBP, sniff_image
from proxy.images.service import Delivery
from proxy.images.signing import FILE_ID, LinkSigner, derive_secret, new_file_id
from proxy.images.store_local import LocalImageStore
from proxy.images.store_s3 import S3ImageStore
from proxy.providers.mock.png import render_png
from tests.fakes.s3 import ACCESS_KEY, SECRET_KEY, moto_s3

IMAGE = render_png(6, 3, (1, 2, 3))


def test_sniffs_image_types() -> None:
    assert sniff_image(IMAGE) == PNG
    assert sniff_image(b"\xff\xd8\xff\xe0rest") == JPEG
    assert sniff_image(b"RIFF\x10\x00\x00\x00WEBPVP8 ") == WEBP
    assert sniff_image(b"GIF89a....") == GIF
    assert sniff_image(b"<svg xmlns=...>") is None


# --- signed links ---------------------------------------------------------------------

SIGNER = LinkSigner(derive_secret(None, "sk-master"))


def _link(file_id: str, expires: int) -> tuple[str, str]:
    query = dict(p.split("=", 1) for p in SIGNER.query(file_id, expires).split("&"))
    return query["expires"], query["sig"]


def test_signed_link_valid() -> None:
    fid = new_file_id("png")
    expires, sig = _link(fid, int(time.time()) + 60)
    assert SIGNER.verify(fid, expires, sig)


def test_signed_link_expired() -> None:
    fid = new_file_id("png")
    expires, sig = _link(fid, int(time.time()) - 1)
    assert not SIGNER.verify(fid, expires, sig)
    assert SIGNER.verify(fid, expires, sig, now=time.time() - 60)


def test_signed_link_tampered() -> None:
    fid = new_file_id("png")
    expires, sig = _link(fid, int(time.time()) + 60)
    flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
    assert not SIGNER.verify(fid, expires, flipped)
    assert not SIGNER.verify(fid, str(int(expires) + 3600), sig)  # extended expiry
    assert not SIGNER.verify(fid, expires, None)
    arabic = expires.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert not SIGNER.verify(fid, arabic, sig)
    other = LinkSigner(derive_secret(None, "sk-other-master"))
    assert not other.verify(fid, expires, sig)


def test_signed_link_wrong_id() -> None:
    fid, other = new_file_id("png"), new_file_id("png")
    expires, sig = _link(fid, int(time.time()) + 60)
    assert not SIGNER.verify(other, expires, sig)
    assert not SIGNER.verify(fid.replace(".png", ".gif"), expires, sig)
    assert not SIGNER.verify("../../etc/passwd", expires, sig)


def test_file_ids_are_matched_whole() -> None:
    """``$`` would let ``<id>.png\n`` through to the store as a file name."""
    fid = new_file_id("png")
    assert FILE_ID.match(fid)
    assert not FILE_ID.match(fid + "\n")
    expires, sig = _link(fid + "\n", int(time.time()) + 60)
    assert not SIGNER.verify(fid + "\n", expires, sig)


def test_configured_secret_wins_and_ids_are_unguessable() -> None:
    assert derive_secret("x" * 32, "sk-a") == derive_secret("x" * 32, "sk-b")
    assert derive_secret(None, "sk-a") != derive_secret(None, "sk-b")
    ids = {new_file_id("png") for _ in range(1000)}
    assert len(ids) == 1000 and all(len(i) >= 36 for i in ids)


# --- local store ----------------------------------------------------------------------


def delivery_for(store: LocalImageStore | S3ImageStore, ttl: int = 3600) -> Delivery:
    return Delivery(
        store,
        SIGNER,
        ImageFetcher(ImageFetchSettings()),
        ImageStoreSettings(ttl_seconds=ttl),
        "https://images.example.com/",
    )


async def test_local_store_round_trip_and_links(tmp_path: Path) -> None:
    store = LocalImageStore(tmp_path / "store")
    delivery = delivery_for(store)
    await delivery.start()
    try:
        link = await delivery.link_for(IMAGE, "http://ignored")
        url = httpx.URL(link)
        assert str(url).startswith("https://images.example.com/v1/images/files/")
        file_id = url.path.rsplit("/", 1)[-1]
        assert file_id.endswith(".png")
        got = await delivery.open(file_id, url.params["expires"], url.params["sig"])
        assert got is not None and got.data == IMAGE and got.kind == PNG
        assert 3590 <= got.max_age <= 3600
        assert await delivery.open(file_id, url.params["expires"], "x" + url.params["sig"]) is None
        unknown = await delivery.link_for(b"not an image", "http://ignored")
        assert httpx.URL(unknown).path.endswith(".bin")
        names = sorted(os.listdir(tmp_path / "store"))
        assert len(names) == 2 and not any(n.startswith(".tmp") for n in names)
    finally:
        await delivery.aclose()


async def test_local_store_purges_only_expired_files(tmp_path: Path) -> None:
    store = LocalImageStore(tmp_path)
    await store.start()
    old, fresh = new_file_id("png"), new_file_id("png")
    await store.put(old, IMAGE, PNG)
    await store.put(fresh, IMAGE, PNG)
    os.utime(tmp_path / old, (time.time() - 7200, time.time() - 7200))
    (tmp_path / "unrelated.txt").write_text("keep me")
    delivery = delivery_for(store, ttl=3600)
    assert await delivery.purge_once() == 1
    assert sorted(os.listdir(tmp_path)) == sorted([fresh, "unrelated.txt"])
    assert await store.get(old) is None


async def test_background_purge_deletes_expired_files(tmp_path: Path) -> None:
    store = LocalImageStore(tmp_path)
    delivery = Delivery(
        store,
        SIGNER,
        ImageFetcher(ImageFetchSettings()),
        ImageStoreSettings(ttl_seconds=60, purge_interval_seconds=0.05),
    )
    await delivery.start()
    try:
        await delivery.link_for(IMAGE, "http://proxy")
        (name,) = os.listdir(tmp_path)
        os.utime(tmp_path / name, (time.time() - 61, time.time() - 61))  # its link expired
        deadline = time.monotonic() + 10
        while os.listdir(tmp_path) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert os.listdir(tmp_path) == []
    finally:
        await delivery.aclose()


# --- S3 (moto in server mode) ---------------------------------------------------------


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with moto_s3("images") as endpoint:
        yield endpoint


def s3_settings(endpoint: str, **kw: object) -> ImageStoreSettings:
    return ImageStoreSettings.model_validate(
        {
            "type": "s3",
            "bucket": "images",
            "prefix": "t/",
            "region": "us-east-1",
            "endpoint_url": endpoint,
            "aws_access_key_id": ACCESS_KEY,
            "aws_secret_access_key": SECRET_KEY,
            **kw,
        }
    )


async def test_s3_store_presigned_links(moto_endpoint: str) -> None:
    settings = s3_settings(moto_endpoint)
    delivery = Delivery(
        S3ImageStore(settings), SIGNER, ImageFetcher(ImageFetchSettings()), settings
    )
    await delivery.start()
    try:
        link = await delivery.link_for(IMAGE, "http://proxy")
        assert link.startswith(f"{moto_endpoint}/images/t/") and "X-Amz-Signature=" in link
        assert "X-Amz-Expires=3600" in link
        async with httpx.AsyncClient() as client:
            r = await client.get(link)
        assert r.status_code == 200 and r.content == IMAGE
        assert r.headers["content-type"] == "image/png"
        assert r.headers["cache-control"] == "private, max-age=3600"
    finally:
        await delivery.aclose()


async def test_s3_store_proxy_links_and_purge(moto_endpoint: str) -> None:
    settings = s3_settings(moto_endpoint, links="proxy", prefix="p/")
    store = S3ImageStore(settings)
    delivery = Delivery(store, SIGNER, ImageFetcher(ImageFetchSettings()), settings)
    await delivery.start()
    try:
        url = httpx.URL(await delivery.link_for(IMAGE, "http://proxy:4000"))
        assert str(url).startswith("http://proxy:4000/v1/images/files/")
        file_id = url.path.rsplit("/", 1)[-1]
        got = await delivery.open(file_id, url.params["expires"], url.params["sig"])
        assert got is not None and got.data == IMAGE
        assert await store.get(new_file_id("png")) is None
        assert await delivery.purge_once(now=time.time()) == 0
        assert await delivery.purge_once(now=time.time() + 3600 + 5) == 1
        assert await delivery.open(file_id, url.params["expires"], url.params["sig"]) is None
    finally:
        await delivery.aclose()


def test_s3_settings_need_a_bucket() -> None:
    with pytest.raises(ValueError, match="bucket"):
        ImageStoreSettings.model_validate({"type": "s3"})
    assert UNKNOWN.mime == "application/octet-stream"


def test_bad_store_settings_name_their_path() -> None:
    from proxy.config import ConfigError
    from proxy.configure import parse_config

    cases = [
        (
            {"general_settings": {"image_store": {"type": "s3"}}},
            "general_settings.image_store: Value error, 'bucket' is required",
        ),
        (
            {"general_settings": {"image_store": {"ttl_seconds": 0}}},
            "general_settings.image_store.ttl_seconds",
        ),
        ({"general_settings": {"image_store": {"typo": 1}}}, "general_settings.image_store.typo"),
        (
            {"general_settings": {"image_fetch": {"allow_private_cidrs": ["nope"]}}},
            "general_settings.image_fetch.allow_private_cidrs",
        ),
        ({"general_settings": {"public_base_url": "ftp://x"}}, "general_settings.public_base_url"),
        (
            {
                "model_list": [
                    {
                        "model_name": "m",
                        "litellm_params": {"model": "mock/x", "image_response_format": "png"},
                    }
                ]
            },
            "model_list[0].litellm_params.image_response_format",
        ),
    ]
    for data, where in cases:
        with pytest.raises(ConfigError) as info:
            parse_config(data, env={})
        assert str(info.value).startswith(where), str(info.value)


async def test_local_store_creates_its_directory_on_first_write(tmp_path: Path) -> None:
    store = LocalImageStore(tmp_path / "a" / "b")
    await store.start()
    assert not (tmp_path / "a").exists()
    fid = new_file_id("png")
    await store.put(fid, IMAGE, PNG)
    assert await store.get(fid) == IMAGE
