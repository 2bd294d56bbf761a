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

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from proxy.config.checks import Checks
from proxy.config.errors import ConfigError
from proxy.config.fallback_pruning import without_skipped_fallbacks
from proxy.config.model_list import ModelList, validation_problems
from proxy.config.settings import GeneralSettings, ProxyConfig, RouterSettings
from proxy.config.unknown_keys import config_warnings, entry_warnings
from proxy.config.wildcards import Wildcards

ENV_PREFIX = "os.environ/"
# general_settings keys LiteLLM takes from the environment when the config leaves them unset
GENERAL_FROM_ENV = {"master_key": "LITELLM_MASTER_KEY", "database_url": "DATABASE_URL"}

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


class RawConfig(BaseModel):
    """The settings sections; ``model_list`` entries are validated one by one."""

    model_config = ConfigDict(extra="allow", frozen=True)

    general_settings: GeneralSettings = Field(default_factory=GeneralSettings)
    router_settings: RouterSettings = Field(default_factory=RouterSettings)
    litellm_settings: dict[str, Any] = Field(default_factory=dict)


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


def with_env_general(data: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """``LITELLM_MASTER_KEY`` is the master key and ``DATABASE_URL`` the database when
    ``general_settings`` leaves them unset (LiteLLM's habit)."""
    general = data.get("general_settings")
    if general is not None and not isinstance(general, dict):
        return data  # RawConfig names the problem
    general = dict(general or {})
    filled = {
        key: env[name]
        for key, name in GENERAL_FROM_ENV.items()
        if general.get(key) is None and env.get(name)
    }
    return {**data, "general_settings": {**general, **filled}} if filled else data


def with_config_environment(
    data: dict[str, Any], env: Mapping[str, str], problems: list[str]
) -> Mapping[str, str]:
    """``env`` with the config's own ``environment_variables`` over it, as LiteLLM sets them
    before it reads the rest (here for this config only: ``os.environ`` is not changed)."""
    own = data.get("environment_variables")
    if own is None:
        return env
    if not isinstance(own, dict) or not all(
        isinstance(v, str | int | float) and not isinstance(v, bool) for v in own.values()
    ):
        problems.append("environment_variables: must map variable names to strings")
        return env
    return {**env, **{str(k): str(v) for k, v in own.items()}}


def resolve_sections(
    data: dict[str, Any], env: Mapping[str, str]
) -> tuple[dict[str, Any], list[tuple[str, str]], dict[int, list[tuple[str, str]]]]:
    """``os.environ/NAME`` resolved everywhere, with the unset variables found: by field path
    in the settings sections, by ``model_list`` entry (paths inside the entry) there."""
    resolved: dict[str, Any] = {}
    missing: list[tuple[str, str]] = []
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
            missing.extend(res.missing)
    return resolved, missing, missing_by_entry


def warned_paths(warnings: Iterable[str]) -> tuple[str, ...]:
    """The field paths that ``warnings`` (``"<path>: <why>"``) say are ignored."""
    return tuple(w.partition(": ")[0] for w in warnings)


def under(path: str, ignored: tuple[str, ...]) -> bool:
    """Whether ``path`` is one of ``ignored`` or inside one: an unset variable there is read by
    nothing, so it stops nothing (LiteLLM's example config names some in sections it alone
    reads, such as ``finetune_settings``)."""
    return any(path == p or path.startswith((f"{p}.", f"{p}[")) for p in ignored)


def read_missing(
    missing: list[tuple[str, str]], ignored: tuple[str, ...], prefix: str = ""
) -> list[tuple[str, str]]:
    return [(path, var) for path, var in missing if not under(prefix + path, ignored)]


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
    env = with_config_environment(data, env, problems)
    resolved, missing, missing_by_entry = resolve_sections(data, env)
    warnings = config_warnings(resolved, FROM_LITELLM_SETTINGS)
    ignored = warned_paths(warnings)
    problems.extend(
        f"{path}: environment variable {var} is not set"
        for path, var in read_missing(missing, ignored)
    )
    resolved = with_env_general(with_litellm_router_keys(resolved), env)
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
    loading = ModelList(checks, env, raw.router_settings, problems=problems, warnings=warnings)
    for i, entry in enumerate(model_list):
        entry_ignored = warned_paths(entry_warnings(entry, f"model_list[{i}]"))
        entry_missing = read_missing(
            missing_by_entry.get(i, []), entry_ignored, f"model_list[{i}]."
        )
        loading.add(i, entry, entry_missing)
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
        except ConfigError as exc:  # a line per problem when a section finds several
            problems.extend(line for line in str(exc).splitlines() if line.strip())
    if problems:
        raise ConfigError(config_problems(problems))
    return ProxyConfig(
        deployments=tuple(loading.deployments),
        wildcards=Wildcards(loading.wildcards, loading.concrete),
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
