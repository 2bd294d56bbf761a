"""``webhook``: POST the prompt and request metadata to your policy service.

Request body::

    {"guardrail": "my-policy", "request_id": "...", "endpoint": "images" | "chat",
     "model": "<model group>", "input": [{"role": "prompt" | "user" | ..., "text": "..."}],
     "metadata": {"key_alias": ..., "user_id": ..., "end_user": ...}}

Expected answer: ``{"action": "allow"}`` or ``{"action": "deny", "reason": "..."}``
(``"decision"`` is accepted as a synonym of ``"action"``). Anything else, a non-2xx status or
no answer within ``timeout`` is an error, handled by ``on_error`` (``block`` by default).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from proxy.guardrails.base import (
    GuardrailServiceError,
    GuardSubject,
    HTTPGuardrailParams,
    Verdict,
    register,
)
from proxy.guardrails.http import HTTPGuardrail

MAX_REASON = 300


class WebhookParams(HTTPGuardrailParams):
    api_base: str = Field(...)


@register("webhook")
class WebhookGuardrail(HTTPGuardrail):
    Params = WebhookParams

    def payload(self, subject: GuardSubject) -> dict[str, Any]:
        return {
            "guardrail": self.name,
            "request_id": subject.request_id,
            "endpoint": subject.endpoint,
            "model": subject.model,
            "input": [{"role": p.role, "text": p.text} for p in subject.parts],
            "metadata": {
                "key_alias": subject.key_alias,
                "user_id": subject.user_id,
                "end_user": subject.end_user,
                **subject.metadata,
            },
        }

    async def check(self, subject: GuardSubject) -> Verdict:
        assert isinstance(self.params, WebhookParams)
        answer = await self.post_json(self.params.api_base, self.payload(subject))
        if not isinstance(answer, dict):
            raise GuardrailServiceError("the answer is not a JSON object")
        action = answer.get("action", answer.get("decision"))
        if action == "allow":
            return Verdict.allow()
        if action == "deny":
            reason = answer.get("reason")
            text = reason if isinstance(reason, str) and reason.strip() else "denied by policy"
            return Verdict.deny(text[:MAX_REASON])
        raise GuardrailServiceError("the answer has no 'action' of 'allow' or 'deny'")
