"""The YAML configuration, validated once at start-up.

Keys follow the LiteLLM proxy's config (``model_list`` / ``litellm_params`` / ``model_info``,
``router_settings``, ``general_settings``, ``litellm_settings``) so existing files load
unchanged. ``os.environ/NAME`` values are resolved here, once. A missing variable does not
stop start-up: the deployment that needs it is marked unavailable with the reason.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from proxy.delivery.settings import ImageFetchSettings, ImageStoreSettings

ENV_PREFIX = "os.environ/"
_HTTP_URL = re.compile(r"\Ahttps?://[^/?#\s]+(/[^?#\s]*)?\Z")
DEFAULT_TIMEOUT = 600.0


class ConfigError(Exception):
    """A configuration problem; ``str()`` is one line naming the field path."""


def format_path(loc: tuple[Any, ...] | list[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


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


class _Section(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class LiteLLMParams(_Section):
    model: str
    api_key: str | None = None
    api_base: str | None = None
    api_version: str | None = None
    timeout: float | None = Field(default=None, gt=0)
    stream_timeout: float | None = Field(default=None, gt=0)
    custom_llm_provider: str | None = None
    weight: float | None = Field(default=None, ge=0)
    rpm: int | None = Field(default=None, ge=0)
    tpm: int | None = Field(default=None, ge=0)
    max_parallel_requests: int | None = Field(default=None, ge=1)
    num_retries: int | None = Field(default=None, ge=0)
    image_response_format: Literal["url", "b64_json"] | None = None  # chat images

    @field_validator("model")
    @classmethod
    def _model_not_empty(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v

    @field_validator("api_base")
    @classmethod
    def _api_base_is_http_url(cls, v: str | None) -> str | None:
        if v is not None and not _HTTP_URL.match(v):
            raise ValueError("must be an http(s) URL like https://host/v1 (no query string)")
        return v


class ModelInfo(_Section):
    id: str | None = None
    mode: str | None = None


class ModelEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model_name: str
    litellm_params: LiteLLMParams
    model_info: ModelInfo = Field(default_factory=ModelInfo)


class GeneralSettings(_Section):
    master_key: str | None = None
    allow_unauthenticated_access: bool = False
    max_request_size_mb: float = Field(default=16.0, gt=0)
    database_url: str | None = None
    public_base_url: str | None = Field(default=None, pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$")
    image_store: ImageStoreSettings | None = None
    image_fetch: ImageFetchSettings | None = None


ROUTING_STRATEGIES = (
    "simple-shuffle",
    "least-busy",
    "latency-based-routing",
    "usage-based-routing",
)
STRATEGY_ALIASES = {"usage-based-routing-v2": "usage-based-routing", "shuffle": "simple-shuffle"}
DEFAULT_REQUEST_DEADLINE = 900.0


class RoutingStrategyArgs(_Section):
    """``router_settings.routing_strategy_args`` (latency-based routing)."""

    ttl: float = Field(default=3600.0, gt=0)  # forget a latency not refreshed for this long
    lowest_latency_buffer: float = Field(default=0.0, ge=0)  # pick among those within +x%
    exploration_rate: float = Field(default=0.05, ge=0, le=1)
    latency_smoothing: float = Field(default=0.3, gt=0, le=1)  # weight of the newest sample


class RouterSettings(_Section):
    """LiteLLM's ``router_settings``; every key and default is documented in the README."""

    routing_strategy: str = "simple-shuffle"
    routing_strategy_args: RoutingStrategyArgs = Field(default_factory=RoutingStrategyArgs)
    num_retries: int = Field(default=0, ge=0)
    failover: bool = True  # a failure moves on to an untried deployment even past num_retries
    retry_after: float = Field(default=0.0, ge=0)  # minimum wait before a same-deployment retry
    retry_backoff_base: float = Field(default=0.5, ge=0)
    retry_backoff_max: float = Field(default=8.0, ge=0)
    timeout: float | None = Field(default=None, gt=0)
    stream_timeout: float | None = Field(default=None, gt=0)
    request_deadline: float | None = Field(default=None, gt=0)
    allowed_fails: int = Field(default=3, ge=0)
    cooldown_time: float = Field(default=5.0, ge=0)
    disable_cooldowns: bool = False
    default_max_parallel_requests: int | None = Field(default=None, ge=1)
    fallbacks: list[dict[str, list[str]]] = Field(default_factory=list)
    default_fallbacks: list[str] = Field(default_factory=list)
    content_policy_fallbacks: list[dict[str, list[str]]] = Field(default_factory=list)
    max_fallbacks: int = Field(default=5, ge=0)
    # shared state for several replicas (proxy/state/settings.py); unset: in-process state
    redis_url: str | None = None
    redis_host: str | None = None
    redis_port: int | None = Field(default=None, ge=1, le=65535)
    redis_password: str | None = None
    redis_db: int | None = Field(default=None, ge=0)
    redis_key_prefix: str = Field(default="imgproxy:", max_length=200)
    redis_socket_timeout: float = Field(default=0.5, gt=0)  # seconds per operation
    redis_connect_timeout: float = Field(default=0.5, gt=0)
    redis_retry_interval: float = Field(default=2.0, gt=0)  # breaker: probe this often
    redis_lease_ttl: float = Field(default=15.0, ge=1)  # a dead replica's holds expire after

    @field_validator("routing_strategy")
    @classmethod
    def _known_strategy(cls, v: str) -> str:
        v = STRATEGY_ALIASES.get(v, v)
        if v not in ROUTING_STRATEGIES:
            known = ", ".join(ROUTING_STRATEGIES)
            raise ValueError(f"unknown routing strategy {v!r} (known: {known})")
        return v


class RawConfig(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    model_list: list[ModelEntry] = Field(default_factory=list)
    general_settings: GeneralSettings = Field(default_factory=GeneralSettings)
    router_settings: RouterSettings = Field(default_factory=RouterSettings)
    litellm_settings: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Deployment:
    """One provider deployment of a public model name, ready to route to."""

    index: int
    model_name: str
    provider: str
    model: str  # the provider's model id (prefix removed)
    params: LiteLLMParams
    info: ModelInfo
    id: str
    timeout: float
    missing_env: tuple[tuple[str, str], ...] = ()

    @property
    def available(self) -> bool:
        return not self.missing_env

    @property
    def path(self) -> str:
        return f"model_list[{self.index}]"

    def param(self, *names: str) -> Any:
        """First non-empty value among LiteLLM's alternative spellings of a parameter."""
        extra = self.params.model_extra or {}
        for name in names:
            value = getattr(self.params, name, None) if name in LiteLLMParams.model_fields else None
            if value is None:
                value = extra.get(name)
            if value is not None:
                return value
        return None

    def missing_env_message(self) -> str:
        return "; ".join(
            f"{self.path}.{path}: environment variable {var} is not set"
            for path, var in self.missing_env
        )


@dataclass(frozen=True)
class ProxyConfig:
    deployments: tuple[Deployment, ...]
    general: GeneralSettings
    router: RouterSettings
    litellm_settings: Mapping[str, Any]
    raw: Mapping[str, Any]
    warnings: tuple[str, ...] = ()
    source: str = "<memory>"

    def groups(self) -> dict[str, list[Deployment]]:
        out: dict[str, list[Deployment]] = {}
        for d in self.deployments:
            out.setdefault(d.model_name, []).append(d)
        return out

    @property
    def max_request_bytes(self) -> int:
        return int(self.general.max_request_size_mb * 1024 * 1024)


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


def parse_config(
    data: Any, *, env: Mapping[str, str] | None = None, source: str = "<memory>"
) -> ProxyConfig:
    from proxy.providers.registry import PROVIDERS

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
    from proxy.routing.settings import check_router_settings, with_litellm_router_keys

    resolved = with_litellm_router_keys(resolved)
    try:
        raw = RawConfig.model_validate(resolved)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(f"{format_path(err['loc'])}: {err['msg']}") from None

    known = set(PROVIDERS)
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
        )
        problem = PROVIDERS[provider].validate(dep)
        if problem:
            raise ConfigError(f"{path}.{problem}")
        if not dep.available:
            warnings.append(dep.missing_env_message())
        deployments.append(dep)
    problem, router_warnings = check_router_settings(
        raw.router_settings, {d.model_name for d in deployments}
    )
    if problem:
        raise ConfigError(problem)
    warnings.extend(router_warnings)
    warnings.extend(validate_extensions(resolved))
    return ProxyConfig(
        deployments=tuple(deployments),
        general=raw.general_settings,
        router=raw.router_settings,
        litellm_settings=raw.litellm_settings,
        raw=resolved,
        warnings=tuple(warnings),
        source=source,
    )


def validate_extensions(resolved: dict[str, Any]) -> list[str]:
    """Sections owned by other packages, checked here so a bad entry stops start-up too."""
    from proxy.guardrails.spec import parse_guardrails
    from proxy.observability.settings import parse_observability

    parse_guardrails(resolved.get("guardrails"))
    return list(parse_observability(resolved).warnings)


def load_config(path: str | Path, *, env: Mapping[str, str] | None = None) -> ProxyConfig:
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
    return parse_config(data, env=env, source=str(p))
