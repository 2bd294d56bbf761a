"""What adapters learn from their upstream before they translate (``DiscoveringImages``).

One question per URL (OpenRouter's image model list), shared by every deployment that asks
it, kept for ``ANSWER_TTL``. Start-up asks in the background; a request that finds no answer
asks (the requests that arrive meanwhile wait for the same answer), bounded by
``QUESTION_TIMEOUT``; once an answer is old, the next request asks again in the background
and goes on with the old one. A question that fails (a refused key, a timeout) teaches nothing
for ``FAILURE_TTL``, a 404 (a server without the list) for ``ANSWER_TTL``: the adapter's default
holds and the request goes on, never failing for want of an answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

from proxy.config import Deployment
from proxy.credentials.base import Credentials
from proxy.errors import ProxyError
from proxy.providers.base import DiscoveringImages, capable
from proxy.providers.registry import PROVIDERS
from proxy.transport import Sender
from proxy.upstream_request import UpstreamRequest, UpstreamResponse

log = logging.getLogger("proxy.discovery")

ANSWER_TTL = 3600.0  # model lists change by the week
FAILURE_TTL = 60.0
QUESTION_TIMEOUT = 10.0


LEARNED_FROM = "discovery.answer"  # in ``deployment.learned``: the answer its facts come from


class Unanswered(Exception):
    """The upstream answered the question with an error status."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


@dataclass(frozen=True, slots=True)
class Answer:
    response: UpstreamResponse | None  # None: the question failed
    expires: float


class Discovery:
    def __init__(
        self,
        transport: Sender,
        credentials: dict[str, Credentials],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.transport = transport
        self.credentials = credentials
        self.clock = clock
        self.answers: dict[str, Answer] = {}
        self.asking: dict[str, asyncio.Task[Answer]] = {}
        self.starting: set[asyncio.Task[None]] = set()

    def start(self, deployments: Iterable[Deployment]) -> None:
        """Teach the deployments in the background: start-up does not wait, and the first
        requests usually find them taught (one question per URL all the same)."""
        loop = asyncio.get_running_loop()
        for deployment in deployments:
            adapter = PROVIDERS[deployment.provider].images
            if deployment.available and capable(adapter, DiscoveringImages):
                task = loop.create_task(self.prepare(deployment, adapter))
                self.starting.add(task)
                task.add_done_callback(self.starting.discard)

    async def aclose(self) -> None:
        tasks = [*self.starting, *self.asking.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def prepare(self, deployment: Deployment, adapter: object) -> None:
        """Teach ``deployment`` what its adapter needs to know; at most one question's wait."""
        if not capable(adapter, DiscoveringImages):
            return
        discovering = cast(DiscoveringImages, adapter)
        question = discovering.discovery(deployment)
        if question is None:
            return
        answer = self.answers.get(question.url)
        if answer is None or (answer.response is None and answer.expires <= self.clock()):
            answer = await asyncio.shield(self._asking(question, deployment))
        elif answer.expires <= self.clock():
            self._asking(question, deployment)  # the old answer serves meanwhile
        if deployment.learned.get(LEARNED_FROM) is answer:
            return
        facts: dict[str, Any] = {}
        if answer.response is not None:
            try:
                facts = discovering.learn(answer.response, deployment)
            except (ProxyError, ValueError, TypeError, KeyError) as exc:
                log.warning(
                    "%s: the %s model list could not be read (%s); going on without it",
                    deployment.path, deployment.provider, type(exc).__name__,
                )  # fmt: skip
        if facts and facts != learned_facts(deployment):
            log.info("%s (%s): %s", deployment.path, deployment.model_name, _said(facts))
        deployment.learned.clear()
        deployment.learned.update(facts)
        deployment.learned[LEARNED_FROM] = answer

    def _asking(self, question: UpstreamRequest, deployment: Deployment) -> asyncio.Task[Answer]:
        task = self.asking.get(question.url)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._ask(question, deployment))
            self.asking[question.url] = task
        return task

    async def _ask(self, question: UpstreamRequest, deployment: Deployment) -> Answer:
        try:
            answer = Answer(await self._send(question, deployment), self.clock() + ANSWER_TTL)
        except Exception as exc:  # whatever went wrong, the request goes on without it
            why = str(exc) if isinstance(exc, Unanswered) else type(exc).__name__
            # A 404 is an answer: this server has no such list (an OpenRouter-compatible one).
            ttl = ANSWER_TTL if isinstance(exc, Unanswered) and exc.status == 404 else FAILURE_TTL
            log.warning(
                "%s: the %s model list was not read (%s); asking again in %gs",
                deployment.path, deployment.provider, why, ttl,
            )  # fmt: skip
            answer = Answer(None, self.clock() + ttl)
        finally:
            self.asking.pop(question.url, None)
        self.answers[question.url] = answer
        return answer

    async def _send(self, question: UpstreamRequest, deployment: Deployment) -> UpstreamResponse:
        await self.credentials[deployment.id].authorize(question)
        timeout = min(QUESTION_TIMEOUT, deployment.timeout)
        async with asyncio.timeout(timeout):
            response = await self.transport.send(question, timeout, deployment.provider)
        if response.status >= 400:
            raise Unanswered(response.status)
        return response


def learned_facts(deployment: Deployment) -> dict[str, Any]:
    """What ``deployment`` has learned (for the admin API), without where it came from."""
    return {k: v for k, v in deployment.learned.items() if k != LEARNED_FROM}


def _said(facts: dict[str, Any]) -> str:
    return ", ".join(f"{name} = {value}" for name, value in sorted(facts.items()))
