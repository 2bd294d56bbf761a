"""The shared transport against a minimal keep-alive HTTP server that counts connections, and
against answers far larger than its cap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from proxy.errors import UpstreamTooLargeError
from proxy.transport import Transport
from proxy.upstream_request import UpstreamLimits, UpstreamRequest
from tests.fakes.faults import LazyBodyServer

BODY = b"data: " + b"x" * 4_000_000 + b"\n\n"  # many reads


class CountingServer:
    """Answers every request with BODY (or a Set-Cookie answer), keeping connections open."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests: list[dict[str, str]] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                headers = {
                    k.lower(): v.strip()
                    for k, _, v in (line.partition(":") for line in lines[1:] if line)
                }
                self.requests.append({"path": lines[0].split()[1], **headers})
                await reader.readexactly(int(headers.get("content-length", "0")))
                extra = b"set-cookie: session=upstream-secret\r\n" if "cookie" in lines[0] else b""
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                    + extra
                    + b"content-length: %d\r\n\r\n" % len(BODY)
                    + BODY
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


@pytest.fixture
async def server() -> AsyncIterator[tuple[CountingServer, str]]:
    counting = CountingServer()
    srv = await asyncio.start_server(counting.handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    yield counting, f"http://127.0.0.1:{port}"
    srv.close()


async def test_a_fully_read_stream_returns_its_connection(
    server: tuple[CountingServer, str],
) -> None:
    counting, base = server
    transport = Transport()
    try:
        for _ in range(3):
            stream = await transport.open_stream(
                UpstreamRequest("POST", base + "/s", {"content-type": "application/json"}, b"{}"),
                10,
                "test",
                None,
            )
            body = b"".join([c async for c in stream.chunks()])
            await stream.aclose()
            assert body == BODY
        assert counting.connections == 1
    finally:
        await transport.aclose()


async def test_a_stream_closed_early_drops_its_connection(
    server: tuple[CountingServer, str],
) -> None:
    counting, base = server
    transport = Transport()
    try:
        for _ in range(2):
            stream = await transport.open_stream(
                UpstreamRequest("POST", base + "/s", {"content-type": "application/json"}, b"{}"),
                10,
                "test",
                None,
            )
            async for _chunk in stream.chunks():
                break
            await stream.aclose()
        assert counting.connections == 2
    finally:
        await transport.aclose()


async def test_no_invented_content_type_and_no_cookie_replay(
    server: tuple[CountingServer, str],
) -> None:
    counting, base = server
    base = base.replace("127.0.0.1", "localhost")  # aiohttp's jar ignores cookies of IP hosts
    transport = Transport()
    try:
        await transport.send(UpstreamRequest("POST", base + "/cookie", {}, b"raw"), 10, "test")
        await transport.send(
            UpstreamRequest("POST", base + "/next", {"content-type": "application/json"}, b"{}"),
            10,
            "test",
        )
    finally:
        await transport.aclose()
    first, second = counting.requests
    assert "content-type" not in first
    assert second["content-type"] == "application/json"
    assert "cookie" not in second


# --- answers are read into the cap, never past it -----------------------------------------

LIMITS = UpstreamLimits(max_answer=1024 * 1024)
CHUNKS = 1024  # of 64 KiB: 64 MiB, far more than socket buffers hold


@pytest.fixture(params=[True, False], ids=["content-length", "chunked"])
def huge(request: pytest.FixtureRequest) -> Iterator[LazyBodyServer]:
    server = LazyBodyServer(b"data: {}\n\n" * 6553, CHUNKS, content_length=request.param)
    yield server.start()
    server.stop()


async def hung_up_early(server: LazyBodyServer) -> bool:
    assert await asyncio.to_thread(server.done.wait, 10)
    return server.closed_early and server.sent < CHUNKS // 4


async def test_a_plain_answer_is_read_no_further_than_the_cap(huge: LazyBodyServer) -> None:
    transport = Transport(LIMITS)
    try:
        with pytest.raises(UpstreamTooLargeError, match="exceeds the 1048576 byte limit"):
            await transport.send(UpstreamRequest("POST", huge.base + "/x", {}, b"{}"), 10, "test")
    finally:
        await transport.aclose()
    assert await hung_up_early(huge)


async def test_a_stream_is_read_no_further_than_the_cap(huge: LazyBodyServer) -> None:
    transport = Transport(LIMITS)
    received = 0
    try:
        with pytest.raises(UpstreamTooLargeError, match="exceeds the 1048576 byte limit"):
            stream = await transport.open_stream(
                UpstreamRequest("POST", huge.base + "/s", {}, b"{}"), 10, "test", None
            )
            try:
                async for chunk in stream.chunks():
                    received += len(chunk)
            finally:
                await stream.aclose()
    finally:
        await transport.aclose()
    assert received <= LIMITS.max_answer
    assert await hung_up_early(huge)


async def test_an_answer_within_the_cap_is_read_whole(huge: LazyBodyServer) -> None:
    transport = Transport(UpstreamLimits(max_answer=huge.total))
    try:
        response = await transport.send(UpstreamRequest("POST", huge.base + "/x", {}), 30, "test")
    finally:
        await transport.aclose()
    assert len(response.body) == huge.total
    assert await asyncio.to_thread(huge.done.wait, 10)
    assert not huge.closed_early and huge.sent == CHUNKS
