"""Wildcard routing as LiteLLM does it: a ``model_name`` with ``*`` serves every requested
name it matches, calling ``litellm_params.model`` with each ``*`` replaced by what the
request's ``*`` matched.

``model_name: "openai/*"`` + ``model: "openai/*"``: ``openai/gpt-image-2`` calls OpenAI's
``gpt-image-2``. ``model_name: "*"`` + ``model: "*"``: any name, its own prefix choosing the
provider (``gemini/...`` goes to Gemini; a bare name to OpenAI). ``model_name: "*"`` +
``model: "openai/*"``: any name, at OpenAI. When the model has fewer ``*`` than the name
matched, the whole requested name is the model (LiteLLM's rule).

Exact names win over patterns (the router asks here only for a name no group has); among
patterns the longer wins, then the one with more ``*``. The concrete deployment is built and
checked like a configured one (provider, skipping rule, LiteLLM's variables, key) the first
time a name is asked for, then remembered (at most ``MAX_REMEMBERED`` names; past that the
memory starts over). A concrete deployment stays findable by its id (for its cost and
credentials) for as long as anything holds it, a request in flight included, however many
names come after it. A concrete model the gateway would skip is not served (a 404 naming why).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from weakref import WeakValueDictionary

from proxy.config.deployment import Deployment
from proxy.model_patterns import pattern_regex

MAX_REMEMBERED = 4096

# (index, raw entry with the concrete model, requested name) -> the deployment, or why not
BuildConcrete = Callable[[int, dict[str, Any], str], "Deployment | str"]


@dataclass(frozen=True)
class WildcardEntry:
    index: int
    pattern: str  # its model_name
    raw: dict[str, Any]  # the entry, environment resolved
    regex: re.Pattern[str]

    @property
    def specificity(self) -> tuple[int, int]:
        return len(self.pattern), self.pattern.count("*")


def concrete_model(model: str, groups: Sequence[str], requested: str) -> str:
    """``model`` with each ``*`` replaced by the matching group, in order."""
    if "*" not in model:
        return model
    if len(groups) > model.count("*"):
        return requested
    for group in groups:
        model = model.replace("*", group, 1)
    return model


class Wildcards:
    """The config's wildcard groups; ``match(name)`` gives the concrete deployments."""

    def __init__(self, entries: Sequence[WildcardEntry], build: BuildConcrete) -> None:
        self.entries = sorted(entries, key=lambda e: e.specificity, reverse=True)
        self._build = build
        self._memo: dict[str, tuple[tuple[Deployment, ...], str | None]] = {}
        # by id, while something holds the deployment: the memo, or a request in flight
        self._by_id: WeakValueDictionary[str, Deployment] = WeakValueDictionary()

    @property
    def patterns(self) -> list[str]:
        return list(dict.fromkeys(e.pattern for e in self.entries))

    def __bool__(self) -> bool:
        return bool(self.entries)

    def match(self, name: str) -> tuple[tuple[Deployment, ...], str | None]:
        """(the concrete deployments serving ``name``, why none when it matched a pattern
        whose concrete model is not served); ``((), None)`` when no pattern matches."""
        found = self._memo.get(name)
        if found is None:
            if len(self._memo) >= MAX_REMEMBERED:
                self._memo.clear()
            found = self._memo[name] = self._resolve(name)
            for d in found[0]:
                self._by_id[d.id] = d
        return found

    def listed(self, known: Sequence[str]) -> list[str]:
        """Which ``known`` model names (``provider/model``) the routes serve as themselves,
        as LiteLLM's ``/v1/models`` lists a wildcard route's known models: a name is listed
        when a route matches it and its concrete deployment is that very provider and model,
        usable (configured key, variables set)."""
        out = []
        for name in known:
            if not any(e.regex.fullmatch(name) for e in self.entries):
                continue
            deps, _ = self.match(name)
            if any(d.available and f"{d.provider}/{d.model}" == name for d in deps):
                out.append(name)
        return out

    def deployment(self, deployment_id: str) -> Deployment | None:
        """A concrete deployment built for a request (cost, admin and chat look it up)."""
        return self._by_id.get(deployment_id)

    def _resolve(self, name: str) -> tuple[tuple[Deployment, ...], str | None]:
        for entry in self.entries:
            hit = entry.regex.fullmatch(name)
            if hit is None:
                continue
            same = [e for e in self.entries if e.pattern == entry.pattern]
            built, reasons = [], []
            for e in same:
                groups = e.regex.fullmatch(name)
                assert groups is not None
                params = dict(e.raw["litellm_params"])
                params["model"] = concrete_model(str(params["model"]), groups.groups(), name)
                result = self._build(e.index, {**e.raw, "litellm_params": params}, name)
                if isinstance(result, Deployment):
                    built.append(result)
                else:
                    reasons.append(result)
            return tuple(built), "; ".join(reasons) if not built else None
        return (), None


def wildcard_entry(index: int, raw: dict[str, Any]) -> WildcardEntry:
    pattern = str(raw["model_name"])
    return WildcardEntry(index, pattern, raw, pattern_regex(pattern))


NO_WILDCARDS = Wildcards((), lambda i, raw, name: "no wildcard routes")
