"""``max_prompt_length``: refuse prompts longer than ``max_length`` characters in total."""

from __future__ import annotations

from pydantic import Field

from proxy.guardrails.base import Guardrail, GuardrailParams, GuardSubject, Verdict, register


class MaxLengthParams(GuardrailParams):
    max_length: int = Field(gt=0)


@register("max_prompt_length")
class MaxPromptLengthGuardrail(Guardrail):
    Params = MaxLengthParams

    async def check(self, subject: GuardSubject) -> Verdict:
        assert isinstance(self.params, MaxLengthParams)
        total = sum(len(t) for t in subject.texts)
        if total > self.params.max_length:
            return Verdict.deny(
                f"the prompt is {total} characters long; the limit is {self.params.max_length}"
            )
        return Verdict.allow()
