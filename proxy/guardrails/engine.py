"""Which guardrails run on a request, running them, and the pre-call hook.

A request runs, in config order: every ``default_on`` guardrail, every guardrail its key pins
(``KeyInfo.guardrails``), and those it opts into with ``"guardrails": ["name"]`` (or the
LiteLLM mapping form ``{"name": true}``). The ``guardrails`` field is removed from the body
so it never reaches the provider. A request cannot switch off a default-on or key-pinned
guardrail: ``{"name": false}`` for one of those is refused with a 400 rather than ignored.

Selected guardrails run concurrently; the first refusal in config order wins.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from proxy.context import RequestContext
from proxy.errors import InvalidRequestError, ServiceUnavailableError
from proxy.guardrails.base import (
    Guardrail,
    GuardrailBlockedError,
    GuardrailServiceError,
    GuardrailUnavailableError,
    GuardSubject,
    PromptPart,
    Verdict,
)
from proxy.guardrails.spec import GuardrailSpec

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("proxy.guardrails")

REQUEST_FIELD = "guardrails"


def prompt_parts(request: Any) -> tuple[PromptPart, ...]:
    """The texts a pre-call guardrail inspects: an image prompt, or every chat message's text."""
    parts: list[PromptPart] = []
    prompt = getattr(request, "prompt", None)
    if isinstance(prompt, str):
        parts.append(PromptPart("prompt", prompt))
    messages = getattr(request, "messages", None)
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict):
                role = str(message.get("role", ""))
                parts.extend(PromptPart(role, t) for t in message_texts(message.get("content")))
    return tuple(parts)


def message_texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [
            p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        ]
    return []


class GuardrailEngine:
    def __init__(self, specs: tuple[GuardrailSpec, ...], http: httpx.AsyncClient | None) -> None:
        self.guardrails: dict[str, Guardrail] = {
            s.name: s.cls(s.name, s.params, http) for s in specs
        }
        self.order = {s.name: i for i, s in enumerate(specs)}
        self.default_on = {s.name for s in specs if s.default_on}
        self.defaults = [self.guardrails[s.name] for s in specs if s.default_on]

    def requested(self, body: dict[str, Any]) -> tuple[set[str], set[str]]:
        """(opted in, switched off) from the request body; the field is removed."""
        value = body.pop(REQUEST_FIELD, None)
        if value is None:
            return set(), set()
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            on, off = set(value), set()
        elif isinstance(value, dict) and all(isinstance(v, bool) for v in value.values()):
            on = {k for k, v in value.items() if v}
            off = {k for k, v in value.items() if not v}
        else:
            raise InvalidRequestError(
                "'guardrails' must be a list of guardrail names.", param=REQUEST_FIELD
            )
        unknown = sorted((on | off) - set(self.guardrails))
        if unknown:
            raise InvalidRequestError(
                f"Unknown guardrail '{unknown[0]}'"
                + (f" (available: {', '.join(self.guardrails)})." if self.guardrails else "."),
                param=REQUEST_FIELD,
                code="unknown_guardrail",
            )
        return on, off

    def select(self, ctx: RequestContext, body: dict[str, Any]) -> list[Guardrail]:
        if REQUEST_FIELD not in body and (ctx.key is None or not ctx.key.guardrails):
            return self.defaults  # nothing asked for, nothing pinned: the usual request
        on, off = self.requested(body)
        pinned = set(ctx.key.guardrails) if ctx.key is not None else set()
        missing = sorted(pinned - set(self.guardrails))
        if missing:
            log.error("key %s pins unknown guardrail %s", ctx.key and ctx.key.alias, missing[0])
            raise ServiceUnavailableError(
                f"This key requires guardrail '{missing[0]}', which is not configured.",
                code="guardrail_unavailable",
            )
        locked = sorted(off & (self.default_on | pinned))
        if locked:
            raise InvalidRequestError(
                f"Guardrail '{locked[0]}' is always on for this key and cannot be switched off.",
                param=REQUEST_FIELD,
                code="guardrail_required",
            )
        names = self.default_on | pinned | on
        return [self.guardrails[n] for n in sorted(names, key=self.order.__getitem__)]

    async def pre_call(self, ctx: RequestContext, request: Any) -> None:
        body = getattr(request, "body", None)
        selected = self.select(ctx, body if isinstance(body, dict) else {})
        if not selected:
            return
        ctx.guardrails.extend(g.name for g in selected)
        subject = GuardSubject(
            parts=prompt_parts(request),
            endpoint=ctx.endpoint,
            model=ctx.model_group,
            request_id=ctx.request_id,
            key_alias=ctx.key.alias if ctx.key else None,
            user_id=ctx.key.user_id if ctx.key else None,
            end_user=ctx.end_user,
        )
        outcomes = await asyncio.gather(*(self._run(g, subject, ctx) for g in selected))
        for guardrail, outcome in zip(selected, outcomes, strict=True):
            if isinstance(outcome, GuardrailUnavailableError):
                ctx.guardrail_blocked = guardrail.name
                raise outcome
            if not outcome.allowed:
                ctx.guardrail_blocked = guardrail.name
                raise GuardrailBlockedError(guardrail.name, outcome.reason)

    async def _run(
        self, guardrail: Guardrail, subject: GuardSubject, ctx: RequestContext
    ) -> Verdict | GuardrailUnavailableError:
        """The verdict, or the error to raise; a failing check obeys its ``on_error``."""
        try:
            return await guardrail.check(subject)
        except GuardrailServiceError as exc:
            problem = str(exc)
        except Exception as exc:  # a broken custom guardrail is a failing one, not a 500
            problem = f"internal error {type(exc).__name__}"
        if ctx.guardrail_errors is None:
            ctx.guardrail_errors = []
        ctx.guardrail_errors.append(guardrail.name)
        if guardrail.on_error == "allow":
            log.warning(
                "guardrail %s failed (%s); letting request %s through (on_error: allow)",
                guardrail.name,
                problem,
                ctx.request_id,
            )
            return Verdict.allow()
        log.warning(
            "guardrail %s failed (%s); refusing request %s (on_error: block)",
            guardrail.name,
            problem,
            ctx.request_id,
        )
        return GuardrailUnavailableError(guardrail.name, problem)
