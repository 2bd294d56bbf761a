"""A client that hangs up cancels its upstream call.

Starlette notices a disconnect only while a streaming body is being sent. A request whose
answer is still being produced (a non-streamed image or chat call, or a stream before its
first chunk) keeps running after the client left, spending upstream calls nobody will read.
``unless_disconnected`` races that work against the client's ``http.disconnect`` and cancels
the work (and with it the upstream request) when the client goes first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from starlette.requests import Request

from proxy.errors import ClientClosedError

T = TypeVar("T")


async def _until_disconnected(request: Request) -> None:
    """Returns when the client disconnects; call only after the body was read whole."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_until_disconnected(request))
    try:
        await asyncio.wait((task, watcher), return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()
            # Let the work unwind (slots released, upstream connection closed).
            await asyncio.gather(task, return_exceptions=True)
    if task.cancelled():
        raise ClientClosedError("The client left; its upstream call was cancelled.")
    return task.result()
