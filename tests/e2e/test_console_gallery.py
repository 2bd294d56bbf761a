"""The console's gallery through the real server: off by default (404 gallery_disabled);
when on, a request's images are kept in the image store with the model, key alias and cost of
its spend record, listed per key, filtered, served and deleted."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from proxy.config.errors import ConfigError
from proxy.configure import parse_config
from tests.conftest import MASTER_KEY

MOCK = {
    "model_name": "mock-image",
    "litellm_params": {"model": "mock/a"},
    "model_info": {"output_cost_per_image": 0.04},
}


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gallery") / "images"


@pytest.fixture(scope="module")
def proxy(proxy_factory: Any, images: Path) -> Any:
    tmp = images.parent
    return proxy_factory(
        {
            "model_list": [MOCK],
            "general_settings": {
                "database_url": f"sqlite:///{tmp / 'db.sqlite3'}",
                "console_gallery": True,
                "image_store": {"path": str(images), "ttl_seconds": 60},
            },
        }
    )


def client(proxy: Any, key: str = MASTER_KEY) -> httpx.Client:
    return httpx.Client(
        base_url=proxy.base_url, headers={"authorization": f"Bearer {key}"}, timeout=30
    )


@pytest.fixture
def master(proxy: Any) -> Iterator[httpx.Client]:
    with client(proxy) as c:
        yield c


def made(c: httpx.Client, n: int = 2, size: str = "24x16") -> tuple[str, list[str]]:
    r = c.post(
        "/v1/images/generations",
        json={"model": "mock-image", "prompt": "p", "n": n, "size": size},
    )
    assert r.status_code == 200, r.text
    return r.headers["x-request-id"], [d["b64_json"] for d in r.json()["data"]]


def test_kept_images_carry_their_spend_record_and_are_served(
    master: httpx.Client, images: Path
) -> None:
    request_id, pngs = made(master)
    body = {
        "request_id": request_id,
        "prompt": "two tiles",
        "images": [{"b64_json": b} for b in pngs],
    }
    r = master.post("/gallery", json=body)
    assert r.status_code == 200, r.text
    kept = r.json()["data"]
    assert [e["image_index"] for e in kept] == [0, 1]
    assert kept[0]["model_group"] == "mock-image" and kept[0]["key_alias"] == "master"
    assert kept[0]["cost"] == pytest.approx(0.04) and kept[0]["prompt"] == "two tiles"
    image = master.get(kept[1]["url"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content == base64.b64decode(pngs[1])
    # beside the url images' store, out of reach of its purge (the url images' directory is
    # purged of files older than ttl_seconds; the gallery folder is not read by it)
    stored = {f.name for f in (images / "gallery").iterdir()}
    assert len(stored) >= 2
    again = master.post("/gallery", json=body)
    assert again.status_code == 400 and again.json()["error"]["param"] == "request_id"
    listed = master.get("/gallery", params={"model": "mock-image"}).json()
    assert {e["id"] for e in kept} <= {e["id"] for e in listed["data"]}
    assert master.get("/gallery", params={"model": "other"}).json()["data"] == []
    gone = master.delete(f"/gallery/{kept[0]['id']}")
    assert gone.json() == {"id": kept[0]["id"], "deleted": True}
    assert master.get(kept[0]["url"]).status_code == 404
    assert len({f.name for f in (images / "gallery").iterdir()}) == len(stored) - 1
    assert kept[0]["id"] not in {e["id"] for e in master.get("/gallery").json()["data"]}


def test_a_virtual_key_keeps_and_sees_its_own_images_only(proxy: Any, master: httpx.Client) -> None:
    secret = master.post("/key/generate", json={"key_alias": "artist"}).json()["key"]
    master_request, master_images = made(master, n=1)
    master.post(
        "/gallery",
        json={"request_id": master_request, "images": [{"b64_json": master_images[0]}]},
    )
    with client(proxy, secret) as own:
        request_id, images = made(own, n=1)
        stolen = own.post(
            "/gallery",
            json={"request_id": master_request, "images": [{"b64_json": images[0]}]},
        )
        assert stolen.status_code == 404
        r = own.post(
            "/gallery", json={"request_id": request_id, "images": [{"b64_json": images[0]}]}
        )
        assert r.status_code == 200 and r.json()["data"][0]["key_alias"] == "artist"
        mine = own.get("/gallery", params={"key_alias": "master"}).json()["data"]
        assert [e["key_alias"] for e in mine] == ["artist"]
        theirs = [e for e in master.get("/gallery").json()["data"] if e["key_alias"] == "master"]
        assert own.get(theirs[0]["url"]).status_code == 404
        assert own.delete(f"/gallery/{theirs[0]['id']}").status_code == 404
    by_key = master.get("/gallery", params={"key_alias": "artist"}).json()["data"]
    assert [e["key_alias"] for e in by_key] == ["artist"]


def test_what_is_not_an_image_is_refused(master: httpx.Client, images: Path) -> None:
    request_id, pngs = made(master, n=1)
    before = set((images / "gallery").iterdir())
    text = base64.b64encode(b"not an image").decode()
    batch = [{"b64_json": pngs[0]}, {"b64_json": text}]
    r = master.post("/gallery", json={"request_id": request_id, "images": batch})
    assert r.status_code == 400 and r.json()["error"]["param"] == "images[1]"
    assert set((images / "gallery").iterdir()) == before  # nothing written for a refusal
    bad = master.post("/gallery", json={"request_id": request_id, "images": [{"b64_json": "%"}]})
    assert bad.status_code == 400
    empty = master.post("/gallery", json={"request_id": request_id, "images": []})
    assert empty.status_code == 400 and empty.json()["error"]["param"] == "images"


def test_the_gallery_is_off_by_default(proxy_factory: Any) -> None:
    off = proxy_factory({"model_list": [MOCK]})
    with client(off) as c:
        r = c.get("/gallery")
        assert r.status_code == 404 and r.json()["error"]["code"] == "gallery_disabled"
        session = httpx.get(f"{off.base_url}/console/session").json()
        assert session["features"] == {"gallery": False}


def test_a_switch_that_is_not_a_boolean_stops_start_up() -> None:
    config = {"model_list": [MOCK], "general_settings": {"console_gallery": "yes"}}
    with pytest.raises(ConfigError, match=r"general_settings\.console_gallery"):
        parse_config(config)


def test_gallery_files_sit_beside_the_store_and_out_of_its_purge(tmp_path: Path) -> None:
    from proxy.images.gallery import gallery_store
    from proxy.images.store_local import LocalImageStore
    from proxy.images.store_s3 import S3ImageStore

    def store(image_store: dict[str, Any]) -> Any:
        general = {"console_gallery": True, "image_store": image_store}
        return gallery_store(parse_config({"model_list": [MOCK], "general_settings": general}))

    local = store({"path": str(tmp_path / "img")})
    assert isinstance(local, LocalImageStore) and local.root == tmp_path / "img" / "gallery"
    s3 = store({"type": "s3", "bucket": "b", "prefix": "images/"})
    assert isinstance(s3, S3ImageStore) and s3.prefix == "images-gallery/"
    assert store({"type": "s3", "bucket": "b", "prefix": ""}).prefix == "gallery/"
    off = parse_config({"model_list": [MOCK]})
    assert gallery_store(off) is None
