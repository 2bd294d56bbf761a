"""A client that hangs up cancels its work, noticed once the work has run WATCH_AFTER; work
that ends sooner never reads from the client at all."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from proxy.api import disconnect
from proxy.api.disconnect import unless_disconnected
from proxy.errors import ClientClosedError


class Client:
    def __init__(self) -> None:
        self.reads = 0
        self.gone = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        self.reads += 1
        await self.gone.wait()
        return {"type": "http.disconnect"}


async def test_work_that_ends_before_the_watch_starts_never_reads_the_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(disconnect, "WATCH_AFTER", 30.0)
    client = Client()
    assert await unless_disconnected(client.receive, asyncio.sleep(0, "done")) == "done"
    assert client.reads == 0


async def test_a_hang_up_cancels_long_work_once_the_watch_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(disconnect, "WATCH_AFTER", 0.05)
    client = Client()
    client.gone.set()  # left before the watch began: noticed when it does
    cancelled = asyncio.Event()

    async def long_call() -> str:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    with pytest.raises(ClientClosedError):
        await asyncio.wait_for(unless_disconnected(client.receive, long_call()), 10)
    assert cancelled.is_set() and client.reads == 1


async def test_a_client_that_stays_sees_the_result_and_the_watch_is_stopped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(disconnect, "WATCH_AFTER", 0.01)
    client = Client()

    async def slow_call() -> str:
        while client.reads == 0:  # until the watch has started reading
            await asyncio.sleep(0.005)
        return "answer"

    assert await unless_disconnected(client.receive, slow_call()) == "answer"
    await asyncio.sleep(0)
    current = asyncio.current_task()
    assert [t for t in asyncio.all_tasks() if t is not current and not t.done()] == []
