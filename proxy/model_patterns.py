"""Model-name patterns, as LiteLLM's wildcard routing and key ``models`` lists read them:
``*`` matches any run of characters, everything else is literal (no ``?``, no ``[...]``)."""

from __future__ import annotations

import re


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """A model-name pattern as LiteLLM reads one: each ``*`` matches any run of characters
    (a capture group), everything else is literal."""
    return re.compile(re.escape(pattern).replace(r"\*", "(.*)"))


def is_pattern(name: str) -> bool:
    return "*" in name


def pattern_matches(pattern: str, name: str) -> bool:
    """``openai/*`` matches ``openai/gpt-image-2``; a name without ``*`` matches only itself."""
    if not is_pattern(pattern):
        return pattern == name
    return pattern_regex(pattern).fullmatch(name) is not None
