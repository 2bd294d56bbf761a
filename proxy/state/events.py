"""Change notices between replicas over Redis pub/sub (``<prefix>events``).

A replica that changes something other replicas cache (a virtual key created, updated or
deleted) publishes ``{"topic": ..., "origin": <replica id>, ...}``; every other replica's
listener hands it to the handlers of that topic at once, so no one waits for a cache TTL.

Pub/sub delivers only to listeners connected at that moment. A listener that lost its
connection therefore calls every ``on_resync`` handler once it is subscribed again (drop or
re-read whatever may have changed meanwhile). Publishing while Redis is down logs and drops
the notice: the others' cache TTL is then the bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from proxy.state.shared import REDIS_ERRORS

log = logging.getLogger("proxy.state")

Handler = Callable[[dict[str, Any]], Awaitable[None]]
Resync = Callable[[], Awaitable[None]]
PING_EVERY = 5.0


class Events:
    def __init__(
        self,
        client: Redis,
        channel: str,
        *,
        retry_interval: float = 2.0,
        operation_timeout: float = 1.0,
    ) -> None:
        self.client = client
        self.channel = channel
        self.origin = secrets.token_hex(8)
        self.retry_interval = retry_interval
        self.operation_timeout = operation_timeout
        self.handlers: dict[str, list[Handler]] = {}
        self.on_resync: list[Resync] = []
        self.on_lost: list[Callable[[BaseException], None]] = []
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def subscribe(self, topic: str, handler: Handler) -> None:
        self.handlers.setdefault(topic, []).append(handler)

    async def publish(self, topic: str, **fields: Any) -> bool:
        message = orjson.dumps({**fields, "topic": topic, "origin": self.origin})
        try:
            async with asyncio.timeout(self.operation_timeout):
                await self.client.publish(self.channel, message)
            return True
        except REDIS_ERRORS as exc:
            log.error("could not publish %s to other replicas (%s)", topic, type(exc).__name__)
            return False

    # --- the listener ---------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen_forever())

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen_forever(self) -> None:
        first = True
        while True:
            try:
                async with self.client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    async with asyncio.timeout(self.operation_timeout):
                        await pubsub.subscribe(self.channel)
                    self.connected.set()
                    if not first:
                        await self._resync()
                    first = False
                    await self._receive(pubsub)
            except Exception as exc:  # the listener outlives any one failure
                if self.connected.is_set():
                    log.error("replica events: connection lost (%s)", type(exc).__name__)
                    for lost in self.on_lost:
                        lost(exc)
                elif not isinstance(exc, REDIS_ERRORS):
                    log.error("replica events: %s; retrying", type(exc).__name__)
                self.connected.clear()
                first = False
            await asyncio.sleep(self.retry_interval)

    async def _receive(self, pubsub: PubSub) -> None:
        loop = asyncio.get_running_loop()
        last_ping = loop.time()
        while True:
            message = await pubsub.get_message(timeout=1.0)
            if message is not None and message.get("type") == "message":
                await self._dispatch(message.get("data"))
            if loop.time() - last_ping > PING_EVERY:  # notice a silently dead connection
                async with asyncio.timeout(self.operation_timeout):
                    await pubsub.ping()
                last_ping = loop.time()

    async def _dispatch(self, data: Any) -> None:
        try:
            event = orjson.loads(data)
        except (orjson.JSONDecodeError, TypeError):
            return
        if not isinstance(event, dict) or event.get("origin") == self.origin:
            return
        for handler in self.handlers.get(str(event.get("topic")), ()):
            try:
                await handler(event)
            except Exception as exc:
                log.error("replica event %s: handler failed (%s)", event.get("topic"), exc)

    async def _resync(self) -> None:
        for hook in self.on_resync:
            try:
                await hook()
            except Exception as exc:
                log.error("replica events: resync failed (%s)", type(exc).__name__)
