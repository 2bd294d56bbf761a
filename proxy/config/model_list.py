"""The ``model_list`` entries: which are served (``proxy.config.served``), each one's
``Deployment`` (LiteLLM's variables applied, the provider's checks run), and the wildcard
routes (``proxy.config.wildcards``), whose concrete deployments are built here too, when a
request first names them."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from proxy.config.checks import Checks
from proxy.config.deployment import Deployment, LiteLLMParams, ModelInfo
from proxy.config.errors import ConfigError, format_path
from proxy.config.served import model_skip_reason, provider_skip_reason
from proxy.config.settings import RouterSettings
from proxy.config.unknown_keys import entry_warnings
from proxy.config.wildcards import WildcardEntry, wildcard_entry

DEFAULT_TIMEOUT = 600.0


class ModelEntry(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)  # unknown keys: warned

    model_name: str
    litellm_params: LiteLLMParams
    model_info: ModelInfo = Field(default_factory=ModelInfo)


def split_provider(model: str, custom_provider: str | None, known: set[str]) -> tuple[str, str]:
    """``openai/gpt-image-1`` -> (``openai``, ``gpt-image-1``); bare names mean OpenAI."""
    head, rest = provider_of(model, custom_provider)
    if head in known:
        return head, rest
    raise ConfigError(f"unknown provider prefix {head!r} (known: {', '.join(sorted(known))})")


def provider_of(model: str, custom_provider: str | None) -> tuple[str, str]:
    """The provider prefix and model id a ``litellm_params.model`` names, known or not."""
    if custom_provider:
        prefix = f"{custom_provider}/"
        return custom_provider, model[len(prefix) :] if model.startswith(prefix) else model
    head, sep, rest = model.partition("/")
    return (head, rest) if sep else ("openai", model)


def stable_deployment_id(entry: ModelEntry) -> str:
    p = entry.litellm_params
    seed = f"{entry.model_name}|{p.model}|{p.api_base or ''}|{p.api_version or ''}"
    return hashlib.sha256(seed.encode()).hexdigest()[:16]


def validation_problems(exc: ValidationError, prefix: str = "") -> list[str]:
    out = []
    for err in exc.errors():
        path = format_path(err["loc"])
        where = f"{prefix}.{path}" if prefix and path else (prefix or path)
        out.append(f"{where}: {err['msg']}")
    return out


def model_of(raw: Any) -> tuple[str, str | None] | None:
    """(``litellm_params.model``, ``custom_llm_provider``) of a raw entry, when well-formed."""
    if not isinstance(raw, dict) or not isinstance(raw.get("litellm_params"), dict):
        return None
    params = raw["litellm_params"]
    model, custom = params.get("model"), params.get("custom_llm_provider")
    if not isinstance(model, str) or not isinstance(custom, str | None):
        return None
    return model, custom


@dataclass
class ModelList:
    """What reading ``model_list`` gathers: deployments, wildcard routes, skipped groups,
    problems (each with its path) and warnings."""

    checks: Checks
    env: Mapping[str, str]
    router: RouterSettings
    deployments: list[Deployment] = field(default_factory=list)
    wildcards: list[WildcardEntry] = field(default_factory=list)
    missing: dict[int, list[tuple[str, str]]] = field(default_factory=dict)
    skipped_groups: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seen_ids: set[str] = field(default_factory=set)

    def skip_reason(self, raw: Any) -> str | None:
        """Why a raw entry is not served (``proxy.config.served``), or None."""
        found = model_of(raw)
        if found is None:
            return None
        prefix, model_id = provider_of(*found)
        if prefix == "*":
            return None  # any provider: each concrete model is judged when it is asked for
        if prefix not in self.checks.providers:
            return provider_skip_reason(prefix, self.checks.providers)
        if "*" in model_id:
            return None  # a served provider's wildcard: judged per concrete model too
        info = raw.get("model_info")
        mode = info.get("mode") if isinstance(info, dict) else None
        return model_skip_reason(
            prefix,
            model_id,
            mode if isinstance(mode, str) else None,
            self.checks.model_kinds,
            self.checks.chat_providers,
        )

    def with_env_defaults(self, raw: Any, missing: list[tuple[str, str]]) -> Any:
        """``raw`` with LiteLLM's variables filled in where it names no key / base / version;
        a variable the config names (``os.environ/X``) and is unset stays missing."""
        found = model_of(raw)
        if found is None:
            return raw
        defaults = self.checks.credential_env.get(provider_of(*found)[0])
        if defaults is None:
            return raw
        params = raw["litellm_params"]
        named = {
            p.split(".")[1]
            for p, _ in missing
            if p.count(".") == 1 and p.startswith("litellm_params.")
        }
        filled = {**defaults.fill(params, self.env), **{k: params.get(k) for k in named}}
        return {**raw, "litellm_params": filled}

    def add(self, i: int, raw: Any, missing: list[tuple[str, str]]) -> None:
        path = f"model_list[{i}]"
        reason = self.skip_reason(raw)
        if reason is not None:
            name = raw.get("model_name")
            if isinstance(name, str):
                self.skipped_groups.add(name)
            self.warnings.append(f"{path}: skipped, {reason}")
            return
        self.warnings.extend(entry_warnings(raw, path))
        try:
            entry = ModelEntry.model_validate(self.with_env_defaults(raw, missing))
        except ValidationError as exc:
            self.problems.extend(validation_problems(exc, path))
            return
        if "*" in entry.model_name:
            self.add_wildcard(i, raw, entry, missing)
            return
        dep_id = entry.model_info.id or stable_deployment_id(entry)
        if dep_id in self.seen_ids:
            if entry.model_info.id:
                self.problems.append(f"{path}.model_info.id: duplicate deployment id {dep_id!r}")
                return
            dep_id = f"{dep_id}-{i}"
        self.seen_ids.add(dep_id)
        built = self.deployment(i, entry, dep_id, missing)
        if isinstance(built, str):
            self.problems.append(f"{path}.{built}")
            return
        if not built.available:
            self.warnings.append(built.missing_env_message())
        self.deployments.append(built)

    def add_wildcard(
        self, i: int, raw: dict[str, Any], entry: ModelEntry, missing: list[tuple[str, str]]
    ) -> None:
        """A wildcard route; with a provider in its model, that provider's key is checked
        now (a ``*`` model's provider is known only per request)."""
        params = entry.litellm_params
        prefix, _ = provider_of(params.model, params.custom_llm_provider)
        any_provider = "/" not in params.model and not params.custom_llm_provider
        defaults = None if any_provider else self.checks.credential_env.get(prefix)
        if defaults is not None and not missing:
            problem = defaults.missing_key(prefix, params.model_dump())
            if problem:
                self.problems.append(f"model_list[{i}].{problem}")
                return
        self.missing[i] = missing
        self.wildcards.append(wildcard_entry(i, raw))

    def concrete(self, i: int, raw: dict[str, Any], name: str) -> Deployment | str:
        """The deployment serving the requested ``name`` through wildcard entry ``i``
        (``raw`` holds the concrete model), or why it cannot."""
        reason = self.skip_reason(raw)
        if reason is not None:
            return reason
        missing = self.missing.get(i, [])
        try:
            entry = ModelEntry.model_validate(
                {**self.with_env_defaults(raw, missing), "model_name": name}
            )
        except ValidationError as exc:
            return "; ".join(validation_problems(exc))
        base = entry.model_info.id or stable_deployment_id(entry)
        built = self.deployment(i, entry, f"{base}:{entry.litellm_params.model}", missing)
        return built if isinstance(built, Deployment) else f"model_list[{i}].{built}"

    def deployment(
        self, i: int, entry: ModelEntry, dep_id: str, missing: list[tuple[str, str]]
    ) -> Deployment | str:
        """The deployment of a served entry, or its problem (a path below the entry)."""
        provider, model = split_provider(
            entry.litellm_params.model,
            entry.litellm_params.custom_llm_provider,
            set(self.checks.providers),
        )
        timeout = entry.litellm_params.timeout or self.router.timeout or DEFAULT_TIMEOUT
        params = entry.litellm_params
        if params.stream_timeout is None and self.router.stream_timeout is not None:
            params = params.model_copy(update={"stream_timeout": self.router.stream_timeout})
        env = self.env
        dep = Deployment(
            index=i,
            model_name=entry.model_name,
            provider=provider,
            model=model,
            params=params,
            info=entry.model_info,
            id=dep_id,
            timeout=float(timeout),
            missing_env=tuple(missing),
            environment=tuple(
                (n, env[n]) for n in self.checks.environment.get(provider, ()) if env.get(n)
            ),
        )
        if not dep.available:
            return dep
        defaults = self.checks.credential_env.get(provider)
        problem = defaults.missing_key(provider, params.model_dump()) if defaults else None
        return problem or self.checks.providers[provider](dep) or dep
