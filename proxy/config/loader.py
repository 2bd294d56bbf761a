"""The YAML configuration, validated once at start-up.

Keys follow the LiteLLM proxy's config (``model_list`` / ``litellm_params`` / ``model_info``,
``router_settings``, ``general_settings``, ``litellm_settings``) so existing files load
unchanged. ``os.environ/NAME`` values are resolved here, once. A missing variable does not
stop start-up: the deployment that needs it is marked unavailable with the reason.

What the loader cannot know by itself (the provider table, each feature's checks of its own
section) comes in as ``Checks`` from the top: ``proxy.configure`` composes them, so this
package imports no provider and no feature.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from proxy.config.credential_env import CredentialEnv
from proxy.config.deployment import Deployment, LiteLLMParams, ModelInfo
from proxy.config.errors import ConfigError, format_path
from proxy.config.fallback_pruning import without_skipped_fallbacks
from proxy.config.served import ModelKindTest, model_skip_reason, provider_skip_reason
from proxy.config.settings import GeneralSettings, ProxyConfig, RouterSettings
from proxy.config.unknown_keys import config_warnings, entry_warnings

ENV_PREFIX = "os.environ/"
DEFAULT_TIMEOUT = 600.0
MASTER_KEY_ENV = "LITELLM_MASTER_KEY"

# LiteLLM also reads the router's keys from ``litellm_settings``; they apply here too unless
# ``router_settings`` sets its own (``proxy.routing.settings`` checks the section itself).
FROM_LITELLM_SETTINGS = {
    "num_retries": "num_retries",
    "request_timeout": "timeout",
    "timeout": "timeout",
    "stream_timeout": "stream_timeout",
    "routing_strategy": "routing_strategy",
    "retry_after": "retry_after",
    "max_fallbacks": "max_fallbacks",
    "disable_cooldowns": "disable_cooldowns",
    "fallbacks": "fallbacks",
    "default_fallbacks": "default_fallbacks",
    "content_policy_fallbacks": "content_policy_fallbacks",
    "allowed_fails": "allowed_fails",
    "cooldown_time": "cooldown_time",
}


@dataclass
class EnvResolution:
    """Result of resolving ``os.environ/NAME`` values in one subtree."""

    missing: list[tuple[str, str]] = field(default_factory=list)  # (field path, variable)


def resolve_env(value: Any, path: str, result: EnvResolution, env: Mapping[str, str]) -> Any:
    if isinstance(value, str) and value.startswith(ENV_PREFIX):
        name = value[len(ENV_PREFIX) :]
        if name in env:
            return env[name]
        result.missing.append((path, name))
        return None
    if isinstance(value, dict):
        return {k: resolve_env(v, f"{path}.{k}", result, env) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_env(v, f"{path}[{i}]", result, env) for i, v in enumerate(value)]
    return value


class ModelEntry(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)  # unknown keys: warned

    model_name: str
    litellm_params: LiteLLMParams
    model_info: ModelInfo = Field(default_factory=ModelInfo)


class RawConfig(BaseModel):
    """The settings sections; ``model_list`` entries are validated one by one."""

    model_config = ConfigDict(extra="allow", frozen=True)

    general_settings: GeneralSettings = Field(default_factory=GeneralSettings)
    router_settings: RouterSettings = Field(default_factory=RouterSettings)
    litellm_settings: dict[str, Any] = Field(default_factory=dict)


ProviderCheck = Callable[[Deployment], str | None]  # a problem (field path: message) or None
RouterCheck = Callable[[RouterSettings, set[str]], tuple[str | None, list[str]]]
SectionCheck = Callable[[dict[str, Any]], Sequence[str]]  # raises ConfigError; warnings


def no_router_check(settings: RouterSettings, groups: set[str]) -> tuple[str | None, list[str]]:
    return None, []


@dataclass(frozen=True)
class Checks:
    """What the loader checks with knowledge from above it, handed in by the composition root
    (``proxy.configure``): the provider table, the router's own checks, other sections."""

    providers: Mapping[str, ProviderCheck]  # provider prefix -> its deployment check
    router: RouterCheck = no_router_check  # (router_settings, model groups) -> (error, warnings)
    sections: tuple[SectionCheck, ...] = ()  # the resolved config -> warnings, in this order
    # provider prefix -> the environment variables its deployments read (``Deployment.env``)
    environment: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # provider prefix -> LiteLLM's variables for its key / base / version, and its key rule
    credential_env: Mapping[str, CredentialEnv] = field(default_factory=dict)
    # provider prefix -> the kind of model a model id names (image / chat / other / None)
    model_kinds: Mapping[str, ModelKindTest] = field(default_factory=dict)
    chat_providers: frozenset[str] = frozenset()  # providers with a chat adapter


def with_litellm_router_keys(data: dict[str, Any]) -> dict[str, Any]:
    """The raw config with ``litellm_settings`` router keys copied into ``router_settings``
    where that does not set them itself."""
    litellm = data.get("litellm_settings")
    if not isinstance(litellm, dict):
        return data
    router = data.get("router_settings")
    router = dict(router) if isinstance(router, dict) else {}
    for source, target in FROM_LITELLM_SETTINGS.items():
        if source in litellm and target not in router:
            router[target] = litellm[source]
    return {**data, "router_settings": router}


def with_env_master_key(data: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """``LITELLM_MASTER_KEY`` is the master key when ``general_settings.master_key`` is unset
    (LiteLLM's habit)."""
    general = data.get("general_settings")
    general = dict(general) if isinstance(general, dict) else {}
    if general.get("master_key") is None and env.get(MASTER_KEY_ENV):
        general["master_key"] = env[MASTER_KEY_ENV]
        return {**data, "general_settings": general}
    return data


def split_provider(model: str, custom_provider: str | None, known: set[str]) -> tuple[str, str]:
    """``openai/gpt-image-1`` -> (``openai``, ``gpt-image-1``); bare names mean OpenAI."""
    if custom_provider:
        prefix = f"{custom_provider}/"
        return custom_provider, model[len(prefix) :] if model.startswith(prefix) else model
    head, sep, rest = model.partition("/")
    if not sep:
        return "openai", model
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


def resolve_sections(
    data: dict[str, Any], env: Mapping[str, str], problems: list[str]
) -> tuple[dict[str, Any], dict[int, list[tuple[str, str]]]]:
    """``os.environ/NAME`` resolved everywhere: a missing variable marks a deployment
    unavailable, anywhere else it is a problem."""
    resolved: dict[str, Any] = {}
    missing_by_entry: dict[int, list[tuple[str, str]]] = {}
    for key, value in data.items():
        if key == "model_list" and isinstance(value, list):
            entries = []
            for i, entry in enumerate(value):
                res = EnvResolution()
                entries.append(resolve_env(entry, "", res, env))
                if res.missing:
                    missing_by_entry[i] = [(p.lstrip("."), v) for p, v in res.missing]
            resolved[key] = entries
        else:
            res = EnvResolution()
            resolved[key] = resolve_env(value, key, res, env)
            problems.extend(
                f"{path}: environment variable {var} is not set" for path, var in res.missing
            )
    return resolved, missing_by_entry


@dataclass
class Loading:
    """What one ``read_config`` gathers: deployments, skipped groups, problems, warnings."""

    checks: Checks
    env: Mapping[str, str]
    router: RouterSettings
    deployments: list[Deployment] = field(default_factory=list)
    skipped_groups: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seen_ids: set[str] = field(default_factory=set)

    def skip_reason(self, raw: Any) -> str | None:
        """Why a raw ``model_list`` entry is not served (``proxy.config.served``), or None."""
        if not isinstance(raw, dict) or not isinstance(raw.get("litellm_params"), dict):
            return None
        params = raw["litellm_params"]
        model, custom = params.get("model"), params.get("custom_llm_provider")
        if not isinstance(model, str) or not isinstance(custom, str | None):
            return None
        prefix, model_id = provider_of(model, custom)
        if prefix not in self.checks.providers:
            return provider_skip_reason(prefix, self.checks.providers)
        info = raw.get("model_info")
        mode = info.get("mode") if isinstance(info, dict) else None
        if "*" in model_id:
            return None  # a wildcard: each concrete model is judged when it is asked for
        return model_skip_reason(
            prefix,
            model_id,
            mode if isinstance(mode, str) else None,
            self.checks.model_kinds,
            self.checks.chat_providers,
        )

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
        if isinstance(raw, dict) and isinstance(raw.get("litellm_params"), dict):
            params = raw["litellm_params"]
            prefix, _ = provider_of(str(params.get("model")), params.get("custom_llm_provider"))
            defaults = self.checks.credential_env.get(prefix)
            if defaults is not None:
                # a variable the config names (os.environ/X) and is unset stays missing
                named = {p.rpartition(".")[2] for p, _ in missing}
                params = {
                    **defaults.fill(params, self.env),
                    **{k: params.get(k) for k in named},
                }
                raw = {**raw, "litellm_params": params}
        try:
            entry = ModelEntry.model_validate(raw)
        except ValidationError as exc:
            self.problems.extend(validation_problems(exc, path))
            return
        self.build(i, entry, missing)

    def build(self, i: int, entry: ModelEntry, missing: list[tuple[str, str]]) -> None:
        path = f"model_list[{i}]"
        provider, model = split_provider(
            entry.litellm_params.model,
            entry.litellm_params.custom_llm_provider,
            set(self.checks.providers),
        )
        dep_id = entry.model_info.id or stable_deployment_id(entry)
        if dep_id in self.seen_ids:
            if entry.model_info.id:
                self.problems.append(f"{path}.model_info.id: duplicate deployment id {dep_id!r}")
                return
            dep_id = f"{dep_id}-{i}"
        self.seen_ids.add(dep_id)
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
        defaults = self.checks.credential_env.get(provider)
        no_key = defaults.missing_key(provider, params.model_dump()) if defaults else None
        problem = no_key if dep.available else None
        if problem is None and not dep.is_wildcard:
            problem = self.checks.providers[provider](dep)
        if problem:
            self.problems.append(f"{path}.{problem}")
            return
        if not dep.available:
            self.warnings.append(dep.missing_env_message())
        self.deployments.append(dep)


def read_config(
    data: Any, checks: Checks, *, env: Mapping[str, str] | None = None, source: str = "<memory>"
) -> ProxyConfig:
    """The validated config from already-parsed YAML ``data``. Every problem is found before
    one ``ConfigError`` names them all, a line each with its field path; what is only
    ignored or skipped is a warning (``ProxyConfig.warnings``, logged at start-up)."""
    env = os.environ if env is None else env
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping")
    problems: list[str] = []
    resolved, missing_by_entry = resolve_sections(data, env, problems)
    warnings = config_warnings(resolved, FROM_LITELLM_SETTINGS)
    resolved = with_env_master_key(with_litellm_router_keys(resolved), env)
    sections = {k: v for k, v in resolved.items() if k != "model_list"}
    try:
        raw = RawConfig.model_validate(sections)
    except ValidationError as exc:
        problems.extend(validation_problems(exc))
        raw = RawConfig()
    model_list = resolved.get("model_list") or []
    if not isinstance(model_list, list):
        problems.append("model_list: must be a list of deployments")
        model_list = []
    loading = Loading(checks, env, raw.router_settings, problems=problems, warnings=warnings)
    for i, entry in enumerate(model_list):
        loading.add(i, entry, missing_by_entry.get(i, []))
    groups = {d.model_name for d in loading.deployments}
    router, dropped = without_skipped_fallbacks(
        raw.router_settings, loading.skipped_groups - groups
    )
    loading.warnings.extend(dropped)
    problem, router_warnings = checks.router(router, groups)
    if problem:
        problems.append(problem)
    loading.warnings.extend(router_warnings)
    for check in checks.sections:  # sections owned by other packages
        try:
            loading.warnings.extend(check(resolved))
        except ConfigError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigError(config_problems(problems))
    return ProxyConfig(
        deployments=tuple(loading.deployments),
        general=raw.general_settings,
        router=router,
        litellm_settings=raw.litellm_settings,
        raw=resolved,
        warnings=tuple(loading.warnings),
        source=source,
    )


def config_problems(problems: list[str]) -> str:
    if len(problems) == 1:
        return problems[0]
    return f"{len(problems)} problems:\n" + "\n".join(f"  {p}" for p in problems)


def read_config_file(
    path: str | Path, checks: Checks, *, env: Mapping[str, str] | None = None
) -> ProxyConfig:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config file ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not UTF-8 text (byte {exc.start})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}:" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{p}:{where} {problem}") from None
    return read_config(data, checks, env=env, source=str(p))
