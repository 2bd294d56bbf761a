"""Callbacks: hand every finished request's record to the configured sinks, off the request path.

- ``webhook`` (built in): records go into a bounded queue; one background task POSTs them as a
  JSON array in batches (``batch_size`` records, or whatever arrived within
  ``flush_interval``), retrying a failed batch with capped exponential backoff until the
  receiver takes it. A request only ever appends to the queue; when the queue is full the
  oldest record is dropped and counted. Records carry ``request_id`` so a receiver can
  de-duplicate a batch it stored but failed to acknowledge.
- custom: ``package.module.Class`` (or an instance, ``package.module.handler``) with
  ``async def on_success(self, record)`` and/or ``async def on_failure(self, record)``;
  each call runs as its own task (at most ``MAX_PENDING`` at once, beyond that records are
  dropped and counted) and exceptions are logged, never raised into the request.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson

from proxy.context import RequestContext
from proxy.observability.logging import cached_record
from proxy.observability.settings import CallbackSpec, ObservabilitySettings, WebhookSettings

if TYPE_CHECKING:  # httpx loads only when a webhook is configured (its client is made then)
    import httpx

log = logging.getLogger("proxy.callbacks")

MAX_PENDING = 1000
Dropped = Callable[[str, int], None]


def _no_drop(name: str, n: int) -> None:
    return None


class WebhookSink:
    name = "webhook"

    def __init__(
        self, settings: WebhookSettings, http: httpx.AsyncClient, dropped: Dropped = _no_drop
    ) -> None:
        self.settings = settings
        self.http = http
        self.dropped = dropped
        self.queue: deque[dict[str, Any]] = deque()
        self.wakeup = asyncio.Event()
        self.stopping = False
        self.task: asyncio.Task[None] | None = None
        self.in_flight = 0  # records at the head of the queue being delivered now
        self.delivered = 0

    def push(self, record: dict[str, Any]) -> None:
        if len(self.queue) >= self.settings.max_queue_size:
            self.queue.popleft()
            if self.in_flight:  # that one is in the batch being sent: not lost
                self.in_flight -= 1
            else:
                self.dropped(self.name, 1)
                log.warning("webhook callback queue full; dropped the oldest record")
        self.queue.append(record)
        self.wakeup.set()

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run(), name="webhook-callback")

    async def stop(self) -> None:
        """Deliver what is queued within ``shutdown_timeout``, then give up on the rest."""
        self.stopping = True
        self.wakeup.set()
        if self.task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self.task), self.settings.shutdown_timeout)
        except TimeoutError:
            self.task.cancel()
            lost = len(self.queue)
            if lost:
                self.dropped(self.name, lost)
                log.error("webhook callback: %d records not delivered before shutdown", lost)

    async def _run(self) -> None:
        while True:
            if not self.queue:
                if self.stopping:
                    return
                self.wakeup.clear()
                await self.wakeup.wait()
                continue
            await self._fill_batch()
            self.in_flight = min(len(self.queue), self.settings.batch_size)
            batch = [self.queue[i] for i in range(self.in_flight)]
            await self._deliver(batch)
            for _ in range(self.in_flight):
                self.queue.popleft()  # only after delivery: a crash mid-send loses nothing queued
            self.in_flight = 0

    async def _fill_batch(self) -> None:
        deadline = time.monotonic() + self.settings.flush_interval
        while len(self.queue) < self.settings.batch_size and not self.stopping:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.wakeup.clear()
            try:
                await asyncio.wait_for(self.wakeup.wait(), left)
            except TimeoutError:
                return

    async def _deliver(self, batch: list[dict[str, Any]]) -> None:
        import httpx  # loaded with the client at start-up: only a lookup here

        s = self.settings
        body = orjson.dumps(batch)
        headers = {"content-type": "application/json", **s.headers}
        attempt = 0
        while True:
            try:
                response = await self.http.post(
                    s.url, content=body, headers=headers, timeout=httpx.Timeout(s.timeout)
                )
                status = response.status_code
                if status < 300:
                    self.delivered += len(batch)
                    return
                if 400 <= status < 500 and status not in (408, 425, 429):
                    log.error(
                        "webhook callback: receiver refused a batch (HTTP %d); dropping %d records",
                        status,
                        len(batch),
                    )
                    self.dropped(self.name, len(batch))
                    return
                problem = f"HTTP {status}"
            except httpx.HTTPError as exc:
                problem = type(exc).__name__
            delay = min(s.retry_max_delay, s.retry_initial_delay * 2**attempt)
            delay *= 0.5 + random.random() / 2
            attempt += 1
            log.warning(
                "webhook callback: delivery failed (%s); retry %d in %.2fs", problem, attempt, delay
            )
            await asyncio.sleep(delay)  # backoff between retries, not synchronisation


class CustomSink:
    def __init__(self, spec: CallbackSpec, dropped: Dropped = _no_drop) -> None:
        self.name = spec.name
        if spec.instance is not None:
            self.instance = spec.instance
        else:
            assert spec.cls is not None
            self.instance = spec.cls(**spec.kwargs)
        self.spec = spec
        self.dropped = dropped
        self.pending: set[asyncio.Task[None]] = set()

    def push(self, record: dict[str, Any], success: bool) -> None:
        method = getattr(self.instance, "on_success" if success else "on_failure", None)
        if method is None:
            return
        if len(self.pending) >= MAX_PENDING:
            self.dropped(self.name, 1)
            return
        task = asyncio.get_running_loop().create_task(self._call(method, record))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def _call(
        self, method: Callable[[dict[str, Any]], Awaitable[Any]], record: dict[str, Any]
    ) -> None:
        try:
            await method(record)
        except Exception as exc:
            log.error("callback %s failed: %s", self.name, type(exc).__name__)

    async def stop(self, timeout: float = 5.0) -> None:
        if self.pending:
            await asyncio.wait(set(self.pending), timeout=timeout)


class Callbacks:
    """The post-call hook that feeds every configured sink."""

    def __init__(
        self,
        settings: ObservabilitySettings,
        http: httpx.AsyncClient | None,
        dropped: Dropped = _no_drop,
    ) -> None:
        self.webhook: WebhookSink | None = None
        self.webhook_spec: CallbackSpec | None = None
        self.custom: list[CustomSink] = []
        for spec in settings.callbacks:
            if spec.name == "webhook":
                assert settings.webhook is not None and http is not None
                self.webhook = WebhookSink(settings.webhook, http, dropped)
                self.webhook_spec = spec
            else:
                self.custom.append(CustomSink(spec, dropped))

    def __bool__(self) -> bool:
        return self.webhook is not None or bool(self.custom)

    def on_request(self, ctx: RequestContext) -> None:
        success = ctx.status < 400
        record = cached_record(ctx)
        if self.webhook and self.webhook_spec and _wants(self.webhook_spec, success):
            self.webhook.push({**record, "outcome": "success" if success else "failure"})
        for sink in self.custom:
            if _wants(sink.spec, success):
                sink.push(dict(record), success)

    async def start(self) -> None:
        if self.webhook is not None:
            self.webhook.start()

    async def stop(self) -> None:
        if self.webhook is not None:
            await self.webhook.stop()
        for sink in self.custom:
            await sink.stop()


def _wants(spec: CallbackSpec, success: bool) -> bool:
    return spec.on_success if success else spec.on_failure
