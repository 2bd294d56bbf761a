"""``openai_moderation``: ask an OpenAI-compatible ``/v1/moderations`` endpoint.

All prompt texts go in one call (``input`` as an array). Without ``categories`` a result with
``flagged: true`` blocks; with ``categories`` only those categories block (a typo in a
category name is refused at start-up rather than silently never matching). Without
``api_base`` the ``OPENAI_API_BASE`` / ``OPENAI_BASE_URL`` environment variables are used, as
the OpenAI SDK and LiteLLM do, else ``https://api.openai.com``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from pydantic import field_validator

from proxy.guardrails.base import (
    GuardrailParams,
    GuardrailServiceError,
    GuardSubject,
    HTTPGuardrailParams,
    Verdict,
    register,
)
from proxy.guardrails.http import HTTPGuardrail

if TYPE_CHECKING:
    import httpx

OPENAI_BASE = "https://api.openai.com"
CATEGORIES = frozenset(
    {
        "harassment", "harassment/threatening", "hate", "hate/threatening", "illicit",
        "illicit/violent", "self-harm", "self-harm/instructions", "self-harm/intent", "sexual",
        "sexual/minors", "violence", "violence/graphic",
    }
)  # fmt: skip


class ModerationParams(HTTPGuardrailParams):
    model: str = "omni-moderation-latest"
    categories: list[str] | None = None

    @field_validator("categories")
    @classmethod
    def _known(cls, v: list[str] | None) -> list[str] | None:
        for name in v or ():
            if name not in CATEGORIES:
                raise ValueError(
                    f"unknown moderation category {name!r} (known: {', '.join(sorted(CATEGORIES))})"
                )
        return v


def moderations_url(api_base: str | None) -> str:
    base = (
        api_base
        or os.environ.get("OPENAI_API_BASE")
        or os.environ.get("OPENAI_BASE_URL")
        or OPENAI_BASE
    ).rstrip("/")
    return f"{base}/moderations" if base.endswith("/v1") else f"{base}/v1/moderations"


@register("openai_moderation")
class OpenAIModerationGuardrail(HTTPGuardrail):
    Params = ModerationParams

    def __init__(self, name: str, params: GuardrailParams, http: httpx.AsyncClient | None) -> None:
        super().__init__(name, params, http)
        assert isinstance(params, ModerationParams)
        self.url = moderations_url(params.api_base)

    async def check(self, subject: GuardSubject) -> Verdict:
        params = self.params
        assert isinstance(params, ModerationParams)
        texts = subject.texts
        if not texts:
            return Verdict.allow()
        body = await self.post_json(self.url, {"model": params.model, "input": texts})
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list) or not results:
            raise GuardrailServiceError("the moderation answer has no results")
        wanted = set(params.categories or ())
        for result in results:
            hits = flagged_categories(result)
            if wanted:
                blocked = sorted(hits & wanted)
                if blocked:
                    return Verdict.deny(f"flagged by moderation: {', '.join(blocked)}")
            elif isinstance(result, dict) and result.get("flagged") is True:
                what = ", ".join(sorted(hits)) or "flagged"
                return Verdict.deny(f"flagged by moderation: {what}")
        return Verdict.allow()


def flagged_categories(result: Any) -> set[str]:
    if not isinstance(result, dict):
        raise GuardrailServiceError("a moderation result is not an object")
    categories = result.get("categories")
    if not isinstance(categories, dict):
        raise GuardrailServiceError("a moderation result has no categories")
    return {name for name, hit in categories.items() if hit is True}
