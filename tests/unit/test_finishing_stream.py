"""A stream response finishes its request even if the client leaves before the body."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from proxy.api.endpoint import FinishingStream
from proxy.attempt.chat import ChatRelay
from proxy.context import RequestContext
from proxy.providers.openai.chat import OpenAIChatStream
from proxy.schemas import ChatRequest
from tests.fakes.streams import upstream_stream


class Gone(Exception):
    pass


def run_case(fail_on_send: int) -> tuple[list[str], list[bytes]]:
    events: list[str] = []
    sent: list[bytes] = []

    async def main() -> None:
        stream = upstream_stream([b'data: {"n": 2}\n\n', b"data: [DONE]\n\n"], closed=events)
        request = ChatRequest.from_body(
            {"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": True}
        )
        relay = ChatRelay(stream, OpenAIChatStream("m"), RequestContext("chat"), request, "openai")
        await relay.prime()  # as the router does
        stream_closed = asyncio.Event()

        async def on_close() -> None:
            events.append("slot released")
            stream_closed.set()

        async def finish() -> None:
            events.append("finished")

        relay.on_close(on_close)
        response = FinishingStream(relay, finish, {})
        calls = 0

        async def send(message: dict[str, Any]) -> None:
            nonlocal calls
            calls += 1
            if calls == fail_on_send:
                raise Gone
            if message["type"] == "http.response.body":
                sent.append(message.get("body", b""))

        async def receive() -> dict[str, Any]:
            await stream_closed.wait()
            return {"type": "http.disconnect"}

        scope = {"type": "http", "asgi": {"spec_version": "2.0"}, "method": "POST"}
        with contextlib.suppress(Gone):
            await response(scope, receive, send)

    asyncio.run(main())
    return events, sent


@pytest.mark.parametrize("fail_on_send", [1, 2])
def test_client_gone_before_or_at_first_chunk(fail_on_send: int) -> None:
    events, _ = run_case(fail_on_send)
    assert events.count("finished") == 1
    assert events.count("slot released") == 1
    assert "upstream closed" in events


def test_normal_stream_finishes_once() -> None:
    events, sent = run_case(fail_on_send=0)
    assert b"".join(sent) == b'data: {"n":2}\n\ndata: [DONE]\n\n'
    assert events.count("finished") == 1 and events.count("slot released") == 1


def test_request_is_finished_before_the_response_ends() -> None:
    """Logs, metrics and callbacks are done when the client sees the end of the stream, so a
    scrape right after a stream counts it."""
    order: list[str] = []

    async def chunks() -> AsyncIterator[bytes]:
        yield b"data: 1\n\n"

    async def finish() -> None:
        order.append("finished")

    async def main() -> None:
        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body"):
                order.append("response ended")

        async def receive() -> dict[str, Any]:
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        scope = {"type": "http", "asgi": {"spec_version": "2.0"}, "method": "POST"}
        await FinishingStream(chunks(), finish, {})(scope, receive, send)

    asyncio.run(main())
    assert order == ["finished", "response ended"]
