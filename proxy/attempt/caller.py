"""Sending translated requests: credentials, the spend journal's intent, the shared
transport, error mapping, timing; and following the tasks of providers that answer with one
to poll (``PollingImages``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, cast

import orjson

from proxy.attempt.discovery import Discovery
from proxy.config import Deployment
from proxy.context import RequestContext
from proxy.credentials.base import Credentials, RevocableCredentials
from proxy.db.journal import SpendJournal
from proxy.errors import ProxyError, UpstreamError, UpstreamTimeoutError
from proxy.providers.base import PollAgain, PollingImages, capable
from proxy.transport import Sender, UpstreamStream
from proxy.upstream_request import UpstreamRequest, UpstreamResponse

PACE_ABOVE = 128  # calls in flight from which answers take turns on a busy loop
POLL_FAILURES = 3  # transient failures in a row of one task's polls before the attempt fails


class ErrorMapper(Protocol):
    def map_error(self, response: UpstreamResponse, deployment: Deployment) -> ProxyError: ...


class TaskTimeoutError(UpstreamTimeoutError):
    """A provider's task was still pending when the deployment's ``timeout`` ran out. Not
    retried: the task may still finish (and be billed), a second submit would pay twice."""

    code = "upstream_task_timeout"
    retryable = False


class Caller:
    def __init__(
        self,
        transport: Sender,
        credentials: dict[str, Credentials],
        pace: Callable[[], Awaitable[None]] | None = None,
        journal: SpendJournal | None = None,
    ) -> None:
        self.transport = transport
        self.credentials = credentials
        # Each call is journaled as it goes out, so a process killed before the request's
        # spend record leaves an interrupted record of it (proxy.db.journal).
        self.journal = journal
        # With many calls in flight (a wave of slow ones can come back together) an answer
        # waits here for its turn on a busy loop (proxy.server.pacing). With few, a whole wave
        # fits in one batch and the wait would only cost: at 64 connections, a fifth of the req/s.
        self.pace = pace
        self.in_flight = 0
        # What adapters learn from their upstream before they build (``DiscoveringImages``).
        self.discovery = Discovery(transport, credentials)

    async def _authorize(self, deployment: Deployment, request: UpstreamRequest) -> None:
        await self.credentials[deployment.id].authorize(request)

    def _unauthorized(self, deployment: Deployment, request: UpstreamRequest) -> None:
        credentials = self.credentials[deployment.id]
        if isinstance(credentials, RevocableCredentials):
            credentials.rejected(request)

    async def send_all(
        self,
        ctx: RequestContext,
        deployment: Deployment,
        requests: list[UpstreamRequest],
        adapter: ErrorMapper,
        *,
        intent: bool = True,
    ) -> list[UpstreamResponse]:
        """Send every request (concurrently when several); the first failure wins. Polls of a
        task already journaled pass ``intent=False``."""
        for request in requests:
            await self._authorize(deployment, request)
        if intent and self.journal is not None:
            self.journal.intent(ctx)
        send, timeout, provider = self.transport.send, deployment.timeout, deployment.provider
        started = time.perf_counter()
        self.in_flight += 1
        try:
            if len(requests) == 1:
                responses = [await send(requests[0], timeout, provider)]
            else:
                async with asyncio.TaskGroup() as tg:
                    tasks = [tg.create_task(send(r, timeout, provider)) for r in requests]
                responses = [t.result() for t in tasks]
        except* ProxyError as group:
            raise group.exceptions[0] from None
        finally:
            ctx.upstream_seconds += time.perf_counter() - started
            self.in_flight -= 1
        if self.pace is not None and self.in_flight >= PACE_ABOVE:
            await self.pace()
        for request, response in zip(requests, responses, strict=True):
            if response.status == 401:
                self._unauthorized(deployment, request)
        for response in responses:
            if response.status >= 400:
                raise adapter.map_error(response, deployment)
        return responses

    async def settle(
        self,
        ctx: RequestContext,
        deployment: Deployment,
        responses: list[UpstreamResponse],
        adapter: ErrorMapper,
    ) -> list[UpstreamResponse]:
        """The final answers of ``responses``: unchanged for most adapters; for a
        ``PollingImages`` one, each submit's task polled (concurrently, one loop per task)
        until the adapter calls it done. Every poll goes out through ``send_all`` (credentials,
        caps, error mapping); waits are ``asyncio.sleep``; the whole follow-up is bounded by
        the deployment's ``timeout`` (and, around the attempt, by the router's request
        deadline): a task still pending then is a 504 (``TaskTimeoutError``)."""
        if not capable(adapter, PollingImages):
            return responses
        poller = cast(PollingImages, adapter)

        async def follow(response: UpstreamResponse) -> UpstreamResponse:
            memo: dict[str, Any] = {}
            while True:
                try:
                    step = poller.next_poll(response, memo, deployment)
                except JSON_ERRORS as exc:
                    raise malformed(deployment.provider, type(exc).__name__) from None
                if not isinstance(step, PollAgain):
                    return step
                memo = step.memo
                response = await poll(step)

        async def poll(step: PollAgain) -> UpstreamResponse:
            """One poll's answer. A poll failing transiently (429, 5xx, a broken connection)
            is sent again after the interval (or the provider's Retry-After), up to
            ``POLL_FAILURES`` times in a row: failing the attempt would have the router submit
            (and pay for) a second task while the first still runs."""
            failures = 0
            while True:
                if step.after > 0:
                    await asyncio.sleep(step.after)
                try:
                    (answer,) = await self.send_all(
                        ctx, deployment, [step.request], adapter, intent=False
                    )
                    return answer
                except ProxyError as exc:
                    failures += 1
                    if not exc.retryable or failures >= POLL_FAILURES:
                        raise
                    wait = max(step.after, exc.retry_after or 0.0)
                    step = PollAgain(step.request, wait, step.memo)

        async def follow_all() -> list[UpstreamResponse]:
            if len(responses) == 1:
                return [await follow(responses[0])]
            try:
                async with asyncio.TaskGroup() as tg:
                    tasks = [tg.create_task(follow(r)) for r in responses]
            except* ProxyError as group:
                raise group.exceptions[0] from None
            return [t.result() for t in tasks]

        try:
            async with asyncio.timeout(deployment.timeout):
                return await follow_all()
        except TimeoutError:
            raise TaskTimeoutError(
                f"{deployment.provider}: the image task was still pending after "
                f"{deployment.timeout:g}s (the deployment's timeout).",
                provider=deployment.provider,
            ) from None

    async def open_stream(
        self,
        ctx: RequestContext,
        deployment: Deployment,
        request: UpstreamRequest,
        adapter: ErrorMapper,
    ) -> UpstreamStream:
        await self._authorize(deployment, request)
        if self.journal is not None:
            self.journal.intent(ctx)
        started = time.perf_counter()
        stream_timeout = deployment.params.stream_timeout
        try:
            stream = await self.transport.open_stream(
                request, deployment.timeout, deployment.provider, stream_timeout
            )
        finally:
            ctx.upstream_seconds += time.perf_counter() - started
        if stream.status == 401:
            self._unauthorized(deployment, request)
        if stream.status >= 400:
            try:
                response = await stream.read()
            finally:
                await stream.aclose()
            raise adapter.map_error(response, deployment)
        return stream


def malformed(provider: str, what: str) -> UpstreamError:
    return UpstreamError(f"{provider} returned a malformed answer: {what}", provider=provider)


JSON_ERRORS = (orjson.JSONDecodeError, ValueError, KeyError, TypeError, IndexError)
