"""The top-level ``guardrails:`` list, validated at start-up with the path of any bad field.

```yaml
guardrails:
  - guardrail_name: no-brands
    litellm_params: {guardrail: keywords, mode: pre_call, default_on: true, blocked: [acme]}
```
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from proxy.config.errors import ConfigError, format_path
from proxy.guardrails.base import GUARDRAILS, Guardrail, GuardrailParams

ENTRY_KEYS = {"guardrail_name", "litellm_params", "guardrail_info", "guardrail_id"}


@dataclass(frozen=True, slots=True)
class GuardrailSpec:
    name: str
    cls: type[Guardrail]
    params: GuardrailParams

    @property
    def default_on(self) -> bool:
        return self.params.default_on


def parse_guardrails(section: Any) -> tuple[GuardrailSpec, ...]:
    if section is None:
        return ()
    if not isinstance(section, list):
        raise ConfigError("guardrails: must be a list")
    specs: list[GuardrailSpec] = []
    seen: set[str] = set()
    for i, entry in enumerate(section):
        path = f"guardrails[{i}]"
        specs.append(parse_entry(entry, path, seen))
    return tuple(specs)


def parse_entry(entry: Any, path: str, seen: set[str]) -> GuardrailSpec:
    if not isinstance(entry, dict):
        raise ConfigError(f"{path}: must be a mapping with guardrail_name and litellm_params")
    unknown = sorted(set(entry) - ENTRY_KEYS)
    if unknown:
        raise ConfigError(f"{path}.{unknown[0]}: unknown field")
    name = entry.get("guardrail_name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{path}.guardrail_name: must be a non-empty string")
    if name in seen:
        raise ConfigError(f"{path}.guardrail_name: duplicate guardrail name {name!r}")
    seen.add(name)
    params = entry.get("litellm_params")
    if not isinstance(params, dict):
        raise ConfigError(f"{path}.litellm_params: must be a mapping")
    kind = params.get("guardrail")
    cls = GUARDRAILS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ConfigError(
            f"{path}.litellm_params.guardrail: unknown guardrail kind {kind!r} "
            f"(known: {', '.join(sorted(GUARDRAILS))})"
        )
    try:
        validated = cls.Params.model_validate(params)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = format_path(["litellm_params", *err["loc"]])
        message = err["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{path}.{where}: {message}") from None
    return GuardrailSpec(name=name, cls=cls, params=validated)
