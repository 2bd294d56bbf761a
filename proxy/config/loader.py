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

from proxy.config.deployment import Deployment, LiteLLMParams, ModelInfo
from proxy.config.errors import ConfigError, format_path
from proxy.config.settings import GeneralSettings, ProxyConfig, RouterSettings

ENV_PREFIX = "os.environ/"
DEFAULT_TIMEOUT = 600.0

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
    model_config = ConfigDict(extra="forbid", frozen=True)

    model_name: str
    litellm_params: LiteLLMParams
    model_info: ModelInfo = Field(default_factory=ModelInfo)


class RawConfig(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    model_list: list[ModelEntry] = Field(default_factory=list)
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


def stable_deployment_id(entry: ModelEntry) -> str:
    p = entry.litellm_params
    seed = f"{entry.model_name}|{p.model}|{p.api_base or ''}|{p.api_version or ''}"
    return hashlib.sha256(seed.encode()).hexdigest()[:16]


def read_config(
    data: Any, checks: Checks, *, env: Mapping[str, str] | None = None, source: str = "<memory>"
) -> ProxyConfig:
    """The validated config from already-parsed YAML ``data``; ``ConfigError`` names the first
    problem's field path."""
    env = os.environ if env is None else env
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping")
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
            if res.missing:
                path, var = res.missing[0]
                raise ConfigError(f"{path}: environment variable {var} is not set")
    resolved = with_litellm_router_keys(resolved)
    try:
        raw = RawConfig.model_validate(resolved)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(f"{format_path(err['loc'])}: {err['msg']}") from None

    known = set(checks.providers)
    deployments = []
    warnings = []
    seen_ids: set[str] = set()
    for i, entry in enumerate(raw.model_list):
        path = f"model_list[{i}]"
        try:
            provider, model = split_provider(
                entry.litellm_params.model, entry.litellm_params.custom_llm_provider, known
            )
        except ConfigError as exc:
            raise ConfigError(f"{path}.litellm_params.model: {exc}") from None
        dep_id = entry.model_info.id or stable_deployment_id(entry)
        if dep_id in seen_ids:
            if entry.model_info.id:
                raise ConfigError(f"{path}.model_info.id: duplicate deployment id {dep_id!r}")
            dep_id = f"{dep_id}-{i}"
        seen_ids.add(dep_id)
        timeout = entry.litellm_params.timeout or raw.router_settings.timeout or DEFAULT_TIMEOUT
        params = entry.litellm_params
        if params.stream_timeout is None and raw.router_settings.stream_timeout is not None:
            default_gap = raw.router_settings.stream_timeout
            params = params.model_copy(update={"stream_timeout": default_gap})
        dep = Deployment(
            index=i,
            model_name=entry.model_name,
            provider=provider,
            model=model,
            params=params,
            info=entry.model_info,
            id=dep_id,
            timeout=float(timeout),
            missing_env=tuple(missing_by_entry.get(i, ())),
            environment=tuple(
                (name, env[name]) for name in checks.environment.get(provider, ()) if env.get(name)
            ),
        )
        problem = checks.providers[provider](dep)
        if problem:
            raise ConfigError(f"{path}.{problem}")
        if not dep.available:
            warnings.append(dep.missing_env_message())
        deployments.append(dep)
    problem, router_warnings = checks.router(
        raw.router_settings, {d.model_name for d in deployments}
    )
    if problem:
        raise ConfigError(problem)
    warnings.extend(router_warnings)
    for check in checks.sections:  # sections owned by other packages: a bad entry stops start-up
        warnings.extend(check(resolved))
    return ProxyConfig(
        deployments=tuple(deployments),
        general=raw.general_settings,
        router=raw.router_settings,
        litellm_settings=raw.litellm_settings,
        raw=resolved,
        warnings=tuple(warnings),
        source=source,
    )


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
