"""Extension points around every request.

``pre_call`` hooks run after authentication and validation, before any upstream call
(guardrails, budgets, rate limits); raising a ``ProxyError`` refuses the request.
``post_call`` hooks run once when the request is over, success or failure, streams included
(budgets, spend records); they must not raise or block. ``observers`` (metrics, structured
logs, callbacks) read the finished request after them, synchronously; while the event loop
is busy they wait for it to quiet down (``proxy.pacing``), since no client waits for them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from proxy.context import RequestContext
from proxy.pacing import NoPacing, Pacer

log = logging.getLogger("proxy.hooks")

PreCall = Callable[[RequestContext, Any], Awaitable[None]]
PostCall = Callable[[RequestContext], Awaitable[None] | None]
Observer = Callable[[RequestContext], None]


@dataclass(frozen=True, slots=True)
class Hooks:
    """The stages around every request, in order; listed once, in ``proxy.app``."""

    pre_call: tuple[PreCall, ...] = ()
    post_call: tuple[PostCall, ...] = ()
    observers: tuple[Observer, ...] = ()
    pacer: Pacer = field(default_factory=NoPacing)

    async def before(self, ctx: RequestContext, request: Any) -> None:
        for hook in self.pre_call:
            await hook(ctx, request)

    async def after(self, ctx: RequestContext) -> None:
        for hook in self.post_call:
            try:
                result = hook(ctx)
                if result is not None:
                    await result
            except Exception as exc:  # a broken hook must not break the answer
                log.error("post-call hook %s failed: %s", getattr(hook, "__name__", hook), exc)
        if self.observers:
            self.pacer.run(partial(self._observe, ctx))

    def _observe(self, ctx: RequestContext) -> None:
        for observer in self.observers:
            try:
                observer(ctx)
            except Exception as exc:  # a broken observer must not stop the others
                name = getattr(observer, "__name__", observer)
                log.error("observer %s failed: %s", name, exc)
