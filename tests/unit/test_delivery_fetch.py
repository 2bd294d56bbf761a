"""The guarded image downloader: every refusal is its own test, against real loopback servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.responses import Response, StreamingResponse

from proxy.config.delivery import ImageFetchSettings
from proxy.images.fetch import FetchError, address_allowed, host_allowed
from proxy.images.fetcher import ImageFetcher
from proxy.providers.mock.png import render_png
from tests.fakes.server import FakeUpstream

PNG = render_png(8, 4, (10, 20, 30))
LOOPBACK_OK = ("127.0.0.1/32",)


def fetcher(**kw: Any) -> ImageFetcher:
    kw.setdefault("allowed_hosts", ("127.0.0.1",))
    return ImageFetcher(ImageFetchSettings(**kw))


async def fetch(f: ImageFetcher, url: str, hosts: tuple[str, ...] = ()) -> bytes:
    try:
        return await f.fetch(url, hosts)
    finally:
        await f.aclose()


def png_route(fake: FakeUpstream, path: str = "/img.png") -> str:
    fake.route("GET", path, lambda r: Response(PNG, media_type="image/png"))
    return f"{fake.base}{path}"


async def test_fetches_an_allowed_image(fake: FakeUpstream) -> None:
    url = png_route(fake)
    assert await fetch(fetcher(allow_private_cidrs=LOOPBACK_OK), url) == PNG
    (req,) = fake.received("/img.png")
    assert "authorization" not in req.headers


async def test_refuses_loopback_by_default(fake: FakeUpstream) -> None:
    url = png_route(fake)
    with pytest.raises(FetchError, match="non-public address"):
        await fetch(fetcher(), url)
    assert fake.received() == []


async def test_refuses_a_name_that_resolves_to_loopback(fake: FakeUpstream) -> None:
    png_route(fake)
    url = f"http://localhost:{fake.port}/img.png"
    with pytest.raises(FetchError, match="non-public address"):
        await fetch(fetcher(allowed_hosts=("localhost",)), url)
    assert fake.received() == []


@pytest.mark.parametrize(
    "host",
    [
        "10.1.2.3",
        "192.168.0.7",
        "172.16.5.5",
        "100.64.0.1",
        "169.254.169.254",
        "0.0.0.0",
        "224.0.0.1",
        "[::1]",
        "[::ffff:169.254.169.254]",
        "[::ffff:10.0.0.1]",
        "[fd00::1]",
        "[fe80::1]",
        "[64:ff9b::a9fe:a9fe]",
    ],
)
async def test_refuses_private_metadata_and_reserved_addresses(host: str) -> None:
    f = fetcher(allowed_hosts=(host.strip("[]"),))
    with pytest.raises(FetchError, match="non-public address"):
        await fetch(f, f"http://{host}/latest/meta-data/")


async def test_a_mixed_dns_answer_is_refused() -> None:
    async def resolve(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "10.0.0.1"]

    f = ImageFetcher(ImageFetchSettings(allowed_hosts=("images.example.com",)), resolve=resolve)
    with pytest.raises(FetchError, match="non-public address"):
        await fetch(f, "https://images.example.com/a.png")


async def test_connects_to_the_address_it_checked(fake: FakeUpstream) -> None:
    """The name is resolved once by the guard and the socket goes to that address."""
    png_route(fake)
    calls: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return ["127.0.0.1"]  # images.invalid has no real DNS record

    f = ImageFetcher(
        ImageFetchSettings(allowed_hosts=("images.invalid",), allow_private_cidrs=LOOPBACK_OK),
        resolve=resolve,
    )
    assert await fetch(f, f"http://images.invalid:{fake.port}/img.png") == PNG
    assert calls == ["images.invalid"]
    assert fake.received()[0].headers["host"] == f"images.invalid:{fake.port}"


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://10.0.0.5/admin",
        "http://[::ffff:127.0.0.2]/x",
    ],
)
async def test_refuses_redirects_into_private_addresses(fake: FakeUpstream, target: str) -> None:
    fake.route(
        "GET", "/redirect", lambda r: Response(status_code=302, headers={"location": target})
    )
    f = fetcher(
        allowed_hosts=("127.0.0.1", "169.254.169.254", "10.0.0.5", "::ffff:127.0.0.2"),
        allow_private_cidrs=LOOPBACK_OK,
    )
    with pytest.raises(FetchError, match="non-public address"):
        await fetch(f, f"{fake.base}/redirect")
    assert [r.path for r in fake.received()] == ["/redirect"]


async def test_follows_allowed_redirects_and_bounds_them(fake: FakeUpstream) -> None:
    url = png_route(fake)
    fake.route("GET", "/r1", lambda r: Response(status_code=301, headers={"location": "/r2"}))
    fake.route("GET", "/r2", lambda r: Response(status_code=307, headers={"location": url}))
    assert await fetch(fetcher(allow_private_cidrs=LOOPBACK_OK), f"{fake.base}/r1") == PNG
    fake.route("GET", "/loop", lambda r: Response(status_code=302, headers={"location": "/loop"}))
    with pytest.raises(FetchError, match="more than 3 redirects"):
        await fetch(fetcher(allow_private_cidrs=LOOPBACK_OK), f"{fake.base}/loop")
    assert len(fake.received("/loop")) == 4


async def test_refuses_redirects_to_other_hosts(fake: FakeUpstream) -> None:
    fake.route(
        "GET",
        "/away",
        lambda r: Response(status_code=302, headers={"location": "https://evil.example.net/x.png"}),
    )
    with pytest.raises(FetchError, match=r"evil\.example\.net is not an allowed image host"):
        await fetch(fetcher(allow_private_cidrs=LOOPBACK_OK), f"{fake.base}/away")


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://127.0.0.1/x.png",
        "gopher://127.0.0.1:6379/_INFO",
        "http:///nohost",
    ],
)
async def test_refuses_other_schemes(url: str) -> None:
    with pytest.raises(FetchError):
        await fetch(fetcher(allow_private_cidrs=LOOPBACK_OK), url)


async def test_refuses_hosts_the_adapter_did_not_declare(fake: FakeUpstream) -> None:
    url = png_route(fake)
    with pytest.raises(FetchError, match="not an allowed image host"):
        await fetch(fetcher(allowed_hosts=(), allow_private_cidrs=LOOPBACK_OK), url)
    f = fetcher(allowed_hosts=(), allow_private_cidrs=LOOPBACK_OK)
    assert await fetch(f, url, hosts=("127.0.0.1",)) == PNG  # declared by the adapter


async def test_refuses_oversize_bodies_declared_and_streamed(fake: FakeUpstream) -> None:
    big = PNG + b"\0" * 5000
    fake.route("GET", "/declared", lambda r: Response(big, media_type="image/png"))

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield PNG + b"\0" * 1000

    fake.route("GET", "/chunked", lambda r: StreamingResponse(chunks(), media_type="image/png"))
    for path in ("/declared", "/chunked"):
        f = fetcher(allow_private_cidrs=LOOPBACK_OK, max_bytes=4096)
        with pytest.raises(FetchError, match="larger than the 4096 byte limit"):
            await fetch(f, f"{fake.base}{path}")


async def test_refuses_slow_bodies(fake: FakeUpstream) -> None:
    async def trickle() -> AsyncIterator[bytes]:
        yield PNG[:8]
        for _ in range(100):
            await asyncio.sleep(0.1)
            yield b"\0"

    fake.route("GET", "/slow", lambda r: StreamingResponse(trickle(), media_type="image/png"))
    f = fetcher(allow_private_cidrs=LOOPBACK_OK, timeout_seconds=0.5)
    with pytest.raises(FetchError, match=r"did not finish within 0\.5s"):
        await fetch(f, f"{fake.base}/slow")


async def test_refuses_what_is_not_an_image(fake: FakeUpstream) -> None:
    fake.route("GET", "/page", lambda r: Response(b"<html>error</html>", media_type="image/png"))
    fake.route("GET", "/gone", lambda r: Response(b"", status_code=403))
    f = fetcher(allow_private_cidrs=LOOPBACK_OK)
    with pytest.raises(FetchError, match=r"127\.0\.0\.1: the bytes are not an image \(PNG, JPEG"):
        await f.fetch(f"{fake.base}/page", ())
    with pytest.raises(FetchError, match="HTTP 403"):
        await f.fetch(f"{fake.base}/gone", ())
    await f.aclose()


def test_host_and_address_rules() -> None:
    assert host_allowed("oaidalleapiprodscus.blob.core.windows.net", ["blob.core.windows.net"])
    assert not host_allowed("blob.core.windows.net.evil.com", ["blob.core.windows.net"])
    assert not host_allowed("evilblob.core.windows.net", ["blob.core.windows.net"])
    assert not host_allowed("1.127.0.0.1", ["127.0.0.1"])
    assert address_allowed("93.184.216.34", ())
    assert address_allowed("2606:2800:220:1:248:1893:25c8:1946", ())
    assert not address_allowed("127.0.0.1", ())
    assert address_allowed(
        "127.0.0.1", tuple(__import__("ipaddress").ip_network(c) for c in LOOPBACK_OK)
    )
    assert not address_allowed("not-an-ip", ())
