"""The mock provider is served by a transport like any other: ``MockTransport`` (an
in-process handler) and the network ``Transport`` are both ``Sender``s, and the gateway's
``Transports`` picks one per request by URL scheme."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import orjson
import pytest

from proxy.app import build_services
from proxy.configure import parse_config
from proxy.providers import mock
from proxy.providers.mock.png import png_size
from proxy.sse import SSEDecoder
from proxy.transport import MockTransport, Sender, Transport, Transports, UpstreamStream
from proxy.upstream_request import UpstreamRequest, UpstreamResponse

MOCK = "mock://local/v1"


class Recording:
    """A ``Sender`` that answers 204 and remembers what went through it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[str] = []
        self.streams: list[str] = []
        self.closed = 0

    async def send(self, req: UpstreamRequest, timeout: float, provider: str) -> UpstreamResponse:
        self.sent.append(req.url)
        return UpstreamResponse(204, {"x-sender": self.name}, b"")

    async def open_stream(
        self, req: UpstreamRequest, timeout: float, provider: str, stream_timeout: float | None
    ) -> UpstreamStream:
        self.streams.append(req.url)

        async def chunks() -> AsyncIterator[bytes]:
            yield b"data: {}\n\n"

        async def close() -> None:
            pass

        return UpstreamStream(200, {}, chunks(), close, provider)

    async def aclose(self) -> None:
        self.closed += 1


def _senders(*senders: Sender) -> list[Sender]:
    return list(senders)  # every transport type checks as a Sender


def test_every_transport_is_a_sender() -> None:
    assert len(_senders(Transport(), MockTransport(mock.handle), Transports(Transport()))) == 3


async def test_the_mock_transport_answers_an_image_request_in_process() -> None:
    req = UpstreamRequest.post_json(
        f"{MOCK}/images/generations", {"model": "m", "prompt": "a cat", "size": "64x32", "n": 2}
    )
    answer = await MockTransport(mock.handle).send(req, 5.0, "mock")
    assert answer.status == 200
    body = orjson.loads(answer.body)
    assert [png_size(base64.b64decode(d["b64_json"])) for d in body["data"]] == [(64, 32)] * 2
    assert body["usage"]["input_tokens"] == 2


async def test_the_mock_transport_refuses_like_an_upstream() -> None:
    req = UpstreamRequest.post_json(f"{MOCK}/images/generations", {"prompt": "x", "size": "big"})
    answer = await MockTransport(mock.handle).send(req, 5.0, "mock")
    assert answer.status == 400
    assert orjson.loads(answer.body)["error"]["param"] == "size"


async def test_the_mock_transport_streams_chat_chunks() -> None:
    req = UpstreamRequest.post_json(
        f"{MOCK}/chat/completions",
        {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
    )
    stream = await MockTransport(mock.handle).open_stream(req, 5.0, "mock", 5.0)
    assert stream.status == 200
    decoder, events = SSEDecoder(), []
    try:
        async for chunk in stream.chunks():
            events.extend(decoder.feed(chunk))
    finally:
        await stream.aclose()
    events.extend(decoder.flush())
    assert events[-1].data == b"[DONE]"
    assert orjson.loads(events[-2].data)["usage"]["completion_tokens"] == 12


async def test_transports_route_by_scheme_and_close_each_once() -> None:
    network, local = Recording("network"), Recording("local")
    transports = Transports(network, {"mock": local, "also-mock": local})
    for url in (f"{MOCK}/images/generations", "https://api.example/v1/images/generations"):
        answer = await transports.send(UpstreamRequest.post_json(url, {}), 5.0, "p")
        assert answer.headers["x-sender"] == ("local" if url.startswith("mock:") else "network")
    stream = await transports.open_stream(
        UpstreamRequest.post_json("also-mock://x/chat", {}), 5.0, "p", None
    )
    await stream.aclose()
    assert local.sent == [f"{MOCK}/images/generations"]
    assert network.sent == ["https://api.example/v1/images/generations"]
    assert local.streams == ["also-mock://x/chat"] and network.streams == []
    await transports.aclose()
    assert (network.closed, local.closed) == (1, 1)


def test_the_network_transport_has_no_in_process_branch() -> None:
    with pytest.raises(TypeError):
        Transport(local={"mock": mock.handle})  # type: ignore[call-arg]


async def test_the_app_sends_mock_urls_to_the_mock_transport() -> None:
    config = parse_config(
        {"model_list": [{"model_name": "m", "litellm_params": {"model": "mock/x"}}]}, env={}
    )
    services = build_services(config)
    try:
        transport = services.pipeline.transport
        assert isinstance(transport, Transports)
        assert isinstance(transport.sender_for(f"{MOCK}/images/generations"), MockTransport)
        assert isinstance(transport.sender_for("https://api.openai.com/v1"), Transport)
    finally:
        await services.pipeline.aclose()
