"""``keywords``: refuse prompts containing a blocked word or matching a blocked regex.

Words match whole words, case-insensitively, after Unicode NFKC folding (so full-width or
ligature spellings do not slip through). ``/pattern/flags`` entries are regular expressions
(flags among ``i``, ``m``, ``s``, ``x``), compiled once at start-up.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

from pydantic import Field, field_validator

from proxy.guardrails.base import Guardrail, GuardrailParams, GuardSubject, Verdict, register

if TYPE_CHECKING:
    import httpx

_REGEX = re.compile(r"^/(.+)/([imsx]*)$", re.DOTALL)
_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}


def fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def compile_term(term: str) -> re.Pattern[str]:
    m = _REGEX.match(term)
    if m:
        flags = 0
        for f in m.group(2):
            flags |= _FLAGS[f]
        return re.compile(m.group(1), flags)
    return re.compile(rf"(?<!\w){re.escape(fold(term))}(?!\w)")


class KeywordParams(GuardrailParams):
    blocked: list[str] = Field(min_length=1)

    @field_validator("blocked")
    @classmethod
    def _compiles(cls, terms: list[str]) -> list[str]:
        for i, term in enumerate(terms):
            if not term.strip():
                raise ValueError(f"entry {i} is empty")
            try:
                compile_term(term)
            except re.error as exc:
                raise ValueError(f"entry {i} ({term!r}) is not a valid regex: {exc}") from None
        return terms


@register("keywords")
class KeywordGuardrail(Guardrail):
    Params = KeywordParams

    def __init__(self, name: str, params: GuardrailParams, http: httpx.AsyncClient | None) -> None:
        super().__init__(name, params, http)
        assert isinstance(params, KeywordParams)
        self.terms = [(t, compile_term(t), bool(_REGEX.match(t))) for t in params.blocked]

    async def check(self, subject: GuardSubject) -> Verdict:
        for text in subject.texts:
            folded = fold(text)
            for term, pattern, is_regex in self.terms:
                if pattern.search(text if is_regex else folded):
                    what = "pattern" if is_regex else "term"
                    return Verdict.deny(f"the prompt contains a blocked {what} ({term})")
        return Verdict.allow()
