"""A client that hangs up cancels its upstream call.

A request whose answer is still being produced (a non-streamed image or chat call, or a
stream before its first chunk) would keep running after the client left, spending upstream
calls nobody will read. ``unless_disconnected`` runs that work (and then the stream itself,
``FinishingStream``) in the request's own task while one small watcher waits for the
client's ``http.disconnect`` and, when the client goes first, cancels the work (and with it
the upstream request) where it stands.

The watcher starts only after the work has run for ``WATCH_AFTER`` seconds, so a hang-up is
noticed at most that much later, and calls that end sooner never start one.

The work stays in the request's task rather than a task of its own: with thousands of slow
requests in flight, a second task per request plus the wait machinery to race the two was a
measurable share of the memory and CPU each held request costs (``bench/``, hold-c5000).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

from starlette.types import Receive

from proxy.errors import ClientClosedError

T = TypeVar("T")


WATCH_AFTER = 1.0  # seconds: work that ends sooner never starts a watcher


class _Watch:
    """Cancels ``owner`` when the client disconnects; start only after the body was read."""

    __slots__ = ("left", "owner", "receive", "task")

    def __init__(self, receive: Receive, owner: asyncio.Task[Any]) -> None:
        self.left = False
        self.receive = receive
        self.owner = owner
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self.run())

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()

    async def run(self) -> None:
        try:
            while (await self.receive())["type"] != "http.disconnect":
                pass
        except Exception:  # the server's receive failed: nothing left to watch
            return
        self.left = True
        self.owner.cancel()


async def unless_disconnected(receive: Receive, work: Awaitable[T]) -> T:
    """``work``'s result, or ``ClientClosedError`` once the client hung up (``work`` is
    cancelled where it stands). ``receive`` is the request's ASGI receive, its body read.

    The watcher starts only once the work has run ``WATCH_AFTER`` seconds: a hang-up is
    noticed that much later at most, and the many calls that end sooner (and a burst of
    slow ones, in the busy loop turns where they start) spend nothing on it."""
    owner = asyncio.current_task()
    if owner is None:  # not inside a task (cannot happen under an ASGI server)
        return await work
    watch = _Watch(receive, owner)
    timer = asyncio.get_running_loop().call_later(WATCH_AFTER, watch.start)
    try:
        return await work
    except asyncio.CancelledError:
        if not watch.left:
            raise
        owner.uncancel()  # this cancellation was ours: it ends here as a client error
        raise ClientClosedError("The client left; its upstream call was cancelled.") from None
    finally:
        timer.cancel()
        watch.stop()
