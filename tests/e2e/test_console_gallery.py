"""The gallery through the real server: off by default (404 gallery_disabled); when on, the
images of successful image requests (generations and edits, any client) are kept in the
image store, out of reach of its purge, with the model, key alias, prompt and cost of the
request; listed per key, filtered, served and deleted (row and file)."""

from __future__ import annotations

import base64
import io
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
    return proxy_factory(
        {
            "model_list": [MOCK],
            "general_settings": {
                "database_url": f"sqlite:///{images.parent / 'db.sqlite3'}",
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


def made(c: httpx.Client, prompt: str, n: int = 1, **extra: Any) -> httpx.Response:
    body = {"model": "mock-image", "prompt": prompt, "n": n, "size": "24x16", **extra}
    r = c.post("/v1/images/generations", json=body)
    assert r.status_code == 200, r.text
    return r


def kept(c: httpx.Client, prompt: str, **params: Any) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = c.get("/gallery", params=params).json()["data"]
    return [e for e in data if e["prompt"] == prompt]


def test_a_request_s_images_are_kept_with_its_model_key_and_cost(
    master: httpx.Client, images: Path
) -> None:
    r = made(master, "two tiles", n=2)
    entries = kept(master, "two tiles")  # GET /gallery waits for what is being kept
    assert sorted(e["image_index"] for e in entries) == [0, 1]
    first = next(e for e in entries if e["image_index"] == 0)
    assert first["request_id"] == r.headers["x-request-id"]
    assert first["model_group"] == "mock-image" and first["key_alias"] == "master"
    assert first["cost"] == pytest.approx(0.04) and first["media_type"] == "image/png"
    image = master.get(first["url"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content == base64.b64decode(r.json()["data"][0]["b64_json"])
    # beside the url images' store, out of reach of its purge (which deletes the files of
    # its own directory older than ttl_seconds, never a sub-folder's)
    stored = {f.name for f in (images / "gallery").iterdir()}
    assert len(stored) >= 2
    assert master.get("/gallery", params={"model": "other"}).json()["data"] == []
    gone = master.delete(f"/gallery/{first['id']}")
    assert gone.json() == {"id": first["id"], "deleted": True}
    assert master.get(first["url"]).status_code == 404
    assert len({f.name for f in (images / "gallery").iterdir()}) == len(stored) - 1
    assert [e["image_index"] for e in kept(master, "two tiles")] == [1]


def test_url_answers_and_edits_are_kept_too(master: httpx.Client) -> None:
    made(master, "as a link", response_format="url")
    assert len(kept(master, "as a link")) == 1
    from PIL import Image

    png = io.BytesIO()
    Image.new("RGB", (30, 20), (9, 9, 9)).save(png, "PNG")
    r = master.post(
        "/v1/images/edits",
        data={"model": "mock-image", "prompt": "an edit"},
        files={"image": ("in.png", png.getvalue(), "image/png")},
    )
    assert r.status_code == 200, r.text
    assert len(kept(master, "an edit")) == 1


def test_a_virtual_key_sees_its_own_images_only(proxy: Any, master: httpx.Client) -> None:
    secret = master.post("/key/generate", json={"key_alias": "artist"}).json()["key"]
    made(master, "the master's")
    with client(proxy, secret) as own:
        made(own, "the artist's")
        mine = own.get("/gallery", params={"key_alias": "master"}).json()["data"]
        assert {e["key_alias"] for e in mine} == {"artist"}
        theirs = kept(master, "the master's")[0]
        assert own.get(theirs["url"]).status_code == 404
        assert own.delete(f"/gallery/{theirs['id']}").status_code == 404
    by_key = master.get("/gallery", params={"key_alias": "artist"}).json()["data"]
    assert {e["prompt"] for e in by_key} == {"the artist's"}


def test_a_failed_request_keeps_nothing(master: httpx.Client) -> None:
    body = {"model": "mock-image", "prompt": "x", "size": "9"}
    assert master.post("/v1/images/generations", json=body).status_code == 400
    assert kept(master, "x") == []


def test_the_gallery_is_off_by_default(proxy_factory: Any) -> None:
    off = proxy_factory({"model_list": [MOCK]})
    with client(off) as c:
        made(c, "not kept")
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
    assert gallery_store(parse_config({"model_list": [MOCK]})) is None
