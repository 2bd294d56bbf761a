"""Guardrails: policy checks on the prompt before any upstream call.

Importing the package registers the built-in kinds (``keywords``, ``openai_moderation``,
``webhook``, ``max_prompt_length``); more are added with ``@register("kind")``.
"""

from __future__ import annotations

from proxy.guardrails import keywords, length, moderation, webhook
from proxy.guardrails.base import GUARDRAILS, Guardrail, GuardSubject, Verdict, register

__all__ = [
    "GUARDRAILS",
    "GuardSubject",
    "Guardrail",
    "Verdict",
    "keywords",
    "length",
    "moderation",
    "register",
    "webhook",
]
