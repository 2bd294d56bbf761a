"""Extension points around every request.

``pre_call`` hooks run after authentication and validation, before any upstream call
(guardrails, budgets, rate limits); raising a ``ProxyError`` refuses the request.
``post_call`` hooks run once when the request is over, success or failure, streams included
(cost, spend logs, metrics, structured logs, callbacks); they must not raise or block.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from proxy.context import RequestContext

log = logging.getLogger("proxy.hooks")

PreCall = Callable[[RequestContext, Any], Awaitable[None]]
PostCall = Callable[[RequestContext], Awaitable[None] | None]


@dataclass
class Hooks:
    pre_call: list[PreCall] = field(default_factory=list)
    post_call: list[PostCall] = field(default_factory=list)

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
