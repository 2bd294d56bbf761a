"""A gate for this process's holds in Redis: many operations at once, or one exclusive step.

``SharedState`` keeps a ledger of what it holds in Redis and, when its lease was lost, writes
that ledger back under a new lease (``RedisState.rejoin``). The ledger and Redis agree only if
no hold or release is on its way to Redis while that happens: an operation sent before the
snapshot but applied after it would be counted twice, or not at all, for as long as the
process lives. So holds and releases pass the gate together (``shared``), and the rejoin
closes it, waits until the ones in progress are back (each is bounded by the Redis
operation timeout) and runs alone (``exclusive``). An open gate costs no suspension.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class Gate:
    def __init__(self) -> None:
        self._running = 0
        self._open = asyncio.Event()
        self._open.set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._exclusive = asyncio.Lock()

    @asynccontextmanager
    async def shared(self) -> AsyncIterator[None]:
        while not self._open.is_set():  # closed again before this waiter got to run
            await self._open.wait()
        self._running += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._running -= 1
            if self._running == 0:
                self._idle.set()

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        async with self._exclusive:
            self._open.clear()
            try:
                await self._idle.wait()
                yield
            finally:
                self._open.set()
