"""A streamed answer passes the relay only: at most three async iterators between the
upstream's bytes and the client (the byte source, the relay, the response), and no frame is
parsed or serialised twice."""

from __future__ import annotations

import asyncio
import base64
import inspect
import sys
from collections.abc import AsyncIterator
from types import FrameType
from typing import Any, cast

import orjson
import pytest

from proxy.api.endpoint import FinishingStream
from proxy.attempt.caller import Caller
from proxy.attempt.chat import ChatRelay
from proxy.config import Deployment
from proxy.context import RequestContext
from proxy.errors import ProxyError
from proxy.images.formats import image_of_data_uri
from proxy.images.responses import ChatImageLinker
from proxy.images.service import Delivery
from proxy.providers.openrouter.chat import OpenRouterChatStream
from proxy.schemas import ChatRequest, ImageRequest
from proxy.sse import DONE_FRAME
from proxy.transport import Transport, UpstreamStream
from proxy.upstream_request import UpstreamRequest
from tests.fakes.streams import upstream_stream
from tests.unit.routing.helpers import make_router

IMAGE = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"x" * 64).decode()
CHAT_BODY = [
    b'data: {"id":"c","model":"up","choices":[{"index":0,"delta":{"role":"assistant",'
    b'"content":"hi"}}]}\n\n',
    b'data: {"id":"c","model":"up","choices":[{"index":0,"delta":{"images":[{"type":'
    b'"image_url","image_url":{"url":"' + IMAGE.encode() + b'"}}]}}]}\n\ndata: {"id":"c",',
    b'"model":"up","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n',
    b"data: [DONE]\n\n",
]
IMAGE_BODY = [
    b'event: image_generation.partial_image\ndata: {"type":"image_generation.partial_image",'
    b'"b64_json":"AAAA","partial_image_index":0}\n\n',
    b'event: image_generation.completed\ndata: {"type":"image_generation.completed",'
    b'"b64_json":"BBBB","usage":{"total_tokens":3}}\n\n',
]

CHAT_REQUEST = ChatRequest.from_body(
    {"model": "g", "messages": [{"role": "user", "content": "x"}], "stream": True}
)


class Source:
    """The upstream's byte source (aiohttp's ``iter_any()`` in production), noting the
    async iterators that are waiting on it each time it is read."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = iter(chunks)
        self.chains: list[list[str]] = []

    def __aiter__(self) -> Source:
        return self

    async def __anext__(self) -> bytes:
        self.chains.append(iterators_above(sys._getframe(1)))
        await asyncio.sleep(0)
        try:
            return next(self._chunks)
        except StopIteration:
            raise StopAsyncIteration from None


def iterators_above(frame: FrameType | None) -> list[str]:
    """The async iterators (async generators and ``__anext__`` methods) on the awaiting
    chain above ``frame``, up to the response that sends the body (or the top)."""
    found = []
    while frame is not None and frame.f_code.co_name != "stream_response":
        code = frame.f_code
        if code.co_flags & inspect.CO_ASYNC_GENERATOR or code.co_name == "__anext__":
            found.append(code.co_qualname)
        frame = frame.f_back
    return found


class FakeUpstream(Caller):
    def __init__(self, source: Source) -> None:
        super().__init__(Transport(), {})
        self.source = source

    async def open_stream(
        self, ctx: RequestContext, deployment: Deployment, request: UpstreamRequest, adapter: Any
    ) -> UpstreamStream:
        async def close() -> None:
            pass

        return UpstreamStream(200, {}, self.source, close, deployment.provider, gap=5, first=5)


async def respond(chunks: AsyncIterator[bytes]) -> bytes:
    """The response the gateway sends, driven like an ASGI server does."""
    body: list[bytes] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            body.append(message.get("body", b""))

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def finish() -> None:
        pass

    scope = {"type": "http", "asgi": {"spec_version": "2.0"}, "method": "POST"}
    await FinishingStream(chunks, finish, {})(scope, receive, send)
    return b"".join(body)


async def test_a_chat_stream_passes_three_iterators_and_is_read_once() -> None:
    source = Source(CHAT_BODY)
    router, _ = make_router({"g": [{}]})
    router.caller = FakeUpstream(source)
    ctx = RequestContext("chat")
    relay = await router.stream_chat(ctx, CHAT_REQUEST)
    assert len(source.chains) == 1  # primed inside the attempt: the first chunk
    body = await respond(relay)
    assert body.endswith(DONE_FRAME) and b'"content":"hi"' in body and ctx.images == 1
    assert len(source.chains) == len(CHAT_BODY)  # each chunk read once; [DONE] ends reading
    assert source.chains[0] == []  # the router primes with a plain call, no iterator
    # the source itself, then the relay and the response's body: three in all
    for chain in source.chains[1:]:
        assert chain == ["StreamRelay.__anext__", "FinishingStream._body"]


async def test_an_image_stream_passes_three_iterators() -> None:
    source = Source(IMAGE_BODY)
    router, _ = make_router({"g": [{}]})
    router.caller = FakeUpstream(source)
    ctx = RequestContext("images")
    request = ImageRequest.from_body({"model": "g", "prompt": "x", "stream": True})
    relay = await router.stream_images(ctx, request)
    body = await respond(relay)
    assert body.count(b"event: image_generation.") == 2 and ctx.images == 1
    assert source.chains[1:] and all(
        chain == ["StreamRelay.__anext__", "FinishingStream._body"] for chain in source.chains[1:]
    )


class FakeDelivery:
    def __init__(self) -> None:
        self.stored: list[bytes] = []

    async def provider_image(self, uri: str, provider: str) -> bytes:
        return image_of_data_uri(uri, 1024 * 1024)  # the real check

    async def link_for(self, data: bytes, request_base: str) -> str:
        self.stored.append(data)
        return f"{request_base}/v1/images/files/{len(self.stored)}"


def counting(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    counts = {"loads": 0, "dumps": 0}
    loads, dumps = orjson.loads, orjson.dumps

    def counted_loads(data: Any) -> Any:
        counts["loads"] += 1
        return loads(data)

    def counted_dumps(obj: Any, *args: Any, **kwargs: Any) -> bytes:
        counts["dumps"] += 1
        return dumps(obj, *args, **kwargs)

    monkeypatch.setattr(orjson, "loads", counted_loads)
    monkeypatch.setattr(orjson, "dumps", counted_dumps)
    return counts


def openrouter_relay(ctx: RequestContext, closed: list[str] | None = None) -> ChatRelay:
    stream = upstream_stream(CHAT_BODY, closed=closed)
    return ChatRelay(stream, OpenRouterChatStream("g"), ctx, CHAT_REQUEST, "openrouter")


async def test_a_chat_image_with_links_is_parsed_and_serialised_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    delivery = FakeDelivery()
    linker = ChatImageLinker(cast(Delivery, delivery), "https://proxy.test", "openrouter")
    relay = openrouter_relay(RequestContext("chat"))
    relay.rewrite_with(linker.rewrite_chunk)
    counts = counting(monkeypatch)
    await relay.prime()
    frames = [frame async for frame in relay]
    assert frames[-1] == DONE_FRAME and len(frames) == 4
    image_frame = orjson.loads(frames[1][len(b"data: ") :])
    counts["loads"] -= 1  # the test's own
    delta = image_frame["choices"][0]["delta"]
    assert delta["image"]["url"] == "https://proxy.test/v1/images/files/1"
    assert delta["images"][0]["image_url"]["url"] == "https://proxy.test/v1/images/files/1"
    assert len(delivery.stored) == 1 and IMAGE.encode() not in b"".join(frames)
    # three upstream events parsed once each; three frames serialised once each
    assert counts == {"loads": 3, "dumps": 3}


async def test_a_failing_rewrite_ends_the_stream_with_an_error_frame() -> None:
    ctx = RequestContext("chat")
    closed: list[str] = []
    relay = openrouter_relay(ctx, closed)

    async def refuse(chunk: dict[str, Any]) -> dict[str, Any]:
        if "images" in chunk["choices"][0]["delta"]:
            raise ProxyError("the image store is down")
        return chunk

    relay.rewrite_with(refuse)
    await relay.prime()
    frames = [frame async for frame in relay]
    assert len(frames) == 2 and b"the image store is down" in frames[1]
    assert ctx.status == 500 and closed == ["upstream closed"]


async def test_a_relay_never_iterated_cleans_up_once() -> None:
    events: list[str] = []
    relay = openrouter_relay(RequestContext("chat"), events)
    await relay.prime()

    async def released() -> None:
        events.append("slot released")

    relay.on_close(released)
    await relay.aclose()
    await relay.aclose()
    assert events == ["upstream closed", "slot released"]
    assert [frame async for frame in relay] == []
