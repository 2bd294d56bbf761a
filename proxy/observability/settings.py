"""Logging, callback and metrics settings, read from the LiteLLM-shaped config.

```yaml
general_settings:
  log_format: json            # or text (LiteLLM's litellm_settings.json_logs: true|false too)
  log_level: info             # --log-level / PROXY_LOG_LEVEL win over this
  log_prompts: false          # prompts appear in logs and callback records only when true
litellm_settings:
  success_callback: [webhook]
  failure_callback: [webhook, mypkg.hooks.AuditSink]
  callbacks: [mypkg.hooks.Everything]      # success and failure
  callback_settings:
    webhook: {url: https://collector.internal/ingest, headers: {authorization: ...}}
  require_auth_for_metrics_endpoint: true
```
Validated once at start-up (a bad entry stops the proxy with the field's path); custom
callback classes are imported then, so a typo in an import path is caught before serving.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from proxy.config.errors import ConfigError, format_path

BUILTIN_CALLBACKS = {"webhook"}
IGNORED_CALLBACKS = {"prometheus"}  # LiteLLM's switch for /metrics: always on here
LOG_LEVELS = {"critical", "error", "warning", "info", "debug"}


class WebhookSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    batch_size: int = Field(default=50, ge=1, le=10_000)
    flush_interval: float = Field(default=1.0, gt=0, le=300)
    max_queue_size: int = Field(default=10_000, ge=1)
    timeout: float = Field(default=10.0, gt=0, le=300)
    retry_initial_delay: float = Field(default=0.5, gt=0, le=60)
    retry_max_delay: float = Field(default=30.0, gt=0, le=3600)
    shutdown_timeout: float = Field(default=5.0, ge=0, le=300)

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return v


@dataclass(frozen=True)
class CallbackSpec:
    name: str  # "webhook" or an import path
    on_success: bool
    on_failure: bool
    cls: type | None = None  # the imported class of a custom callback
    instance: Any = None  # or the imported instance (LiteLLM's ``module.handler_instance``)
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ObservabilitySettings:
    log_format: Literal["json", "text"] = "json"
    log_level: str | None = None
    log_prompts: bool = False
    callbacks: tuple[CallbackSpec, ...] = ()
    webhook: WebhookSettings | None = None
    metrics_require_auth: bool = False
    warnings: tuple[str, ...] = ()  # LiteLLM integrations this proxy does not ship


def parse_observability(raw: dict[str, Any]) -> ObservabilitySettings:
    general = raw.get("general_settings") or {}
    litellm = raw.get("litellm_settings") or {}
    fmt = general.get("log_format")
    if fmt is None and "json_logs" in litellm:
        fmt = "json" if _bool(litellm, "json_logs", "litellm_settings") else "text"
    if fmt not in (None, "json", "text"):
        raise ConfigError(f"general_settings.log_format: must be 'json' or 'text', got {fmt!r}")
    level = general.get("log_level")
    if level is not None and (not isinstance(level, str) or level.lower() not in LOG_LEVELS):
        raise ConfigError(
            f"general_settings.log_level: must be one of {', '.join(sorted(LOG_LEVELS))}"
        )
    options = litellm.get("callback_settings") or {}
    if not isinstance(options, dict):
        raise ConfigError("litellm_settings.callback_settings: must be a mapping")
    skipped: list[str] = []
    callbacks = _callbacks(litellm, options, skipped)
    webhook = None
    if any(c.name == "webhook" for c in callbacks):
        webhook = _webhook(options.get("webhook"))
    return ObservabilitySettings(
        log_format=fmt or "json",
        log_level=level.lower() if isinstance(level, str) else None,
        log_prompts=_bool(general, "log_prompts", "general_settings"),
        callbacks=callbacks,
        webhook=webhook,
        metrics_require_auth=_bool(
            litellm, "require_auth_for_metrics_endpoint", "litellm_settings"
        ),
        warnings=tuple(skipped),
    )


def _bool(section: dict[str, Any], key: str, where: str) -> bool:
    value = section.get(key, False)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}.{key}: must be true or false")
    return value


def _names(litellm: dict[str, Any], key: str) -> list[tuple[str, str]]:
    value = litellm.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ConfigError(f"litellm_settings.{key}: must be a list of callback names")
    out = []
    for i, name in enumerate(value):
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"litellm_settings.{key}[{i}]: must be a non-empty string")
        out.append((f"litellm_settings.{key}[{i}]", name.strip()))
    return out


def _callbacks(
    litellm: dict[str, Any], options: dict[str, Any], skipped: list[str]
) -> tuple[CallbackSpec, ...]:
    """The callbacks to run. A bare name that is not built in (``langfuse``, ``datadog``…) is
    one of LiteLLM's integrations: an existing config still loads, with a start-up warning
    (and ``--check-config`` fails), instead of the proxy refusing to start."""
    wanted: dict[str, tuple[str, bool, bool]] = {}  # name -> (path, success, failure)
    for key, success, failure in (
        ("success_callback", True, False),
        ("failure_callback", False, True),
        ("callbacks", True, True),
    ):
        for path, name in _names(litellm, key):
            if name in IGNORED_CALLBACKS:
                continue
            if "." not in name and name not in BUILTIN_CALLBACKS:
                skipped.append(
                    f"{path}: {name!r} is a LiteLLM integration image-proxy does not ship; "
                    "not called (use the built-in webhook callback or a custom class)"
                )
                continue
            prev = wanted.get(name, (path, False, False))
            wanted[name] = (prev[0], prev[1] or success, prev[2] or failure)
    specs = []
    for name, (path, success, failure) in wanted.items():
        if name in BUILTIN_CALLBACKS:
            specs.append(CallbackSpec(name, success, failure))
        else:
            target = import_callback(name, path, success, failure)
            kwargs = options.get(name) or {}
            if not isinstance(kwargs, dict):
                raise ConfigError(f"litellm_settings.callback_settings.{name}: must be a mapping")
            if isinstance(target, type):
                specs.append(CallbackSpec(name, success, failure, target, kwargs=dict(kwargs)))
            elif kwargs:
                raise ConfigError(
                    f"litellm_settings.callback_settings.{name}: {name} is an instance, "
                    "not a class; it takes no settings"
                )
            else:
                specs.append(CallbackSpec(name, success, failure, instance=target))
    return tuple(specs)


def import_callback(name: str, path: str, success: bool, failure: bool) -> Any:
    """The class (or ready-made instance) a custom callback's import path names."""
    module_name, dot, attr = name.rpartition(".")
    if not dot:
        raise ConfigError(
            f"{path}: unknown callback {name!r} (built-in: webhook; or an import path "
            "'package.module.ClassName')"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"{path}: cannot import module {module_name!r} ({exc})") from None
    target = getattr(module, attr, None)
    if target is None or inspect.ismodule(target) or inspect.isroutine(target):
        raise ConfigError(f"{path}: {module_name!r} has no class {attr!r}")
    needed = [m for m, on in (("on_success", success), ("on_failure", failure)) if on]
    present = [m for m in needed if inspect.iscoroutinefunction(getattr(target, m, None))]
    if not present or (not (success and failure) and len(present) != len(needed)):
        raise ConfigError(f"{path}: {name} must define async {' / '.join(needed)}")
    return target


def _webhook(value: Any) -> WebhookSettings:
    where = "litellm_settings.callback_settings.webhook"
    if value is None:
        raise ConfigError(f"{where}.url: required by the webhook callback")
    try:
        return WebhookSettings.model_validate(value)
    except ValidationError as exc:
        err = exc.errors()[0]
        message = err["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{format_path([where, *err['loc']])}: {message}") from None
