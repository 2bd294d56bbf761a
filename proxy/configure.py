"""The whole config check, composed at the top: the loader (``proxy.config``) with the provider
table and each feature's check of its own section, in this order after the deployments: the
router's (``router_settings``: fallbacks, keys not implemented), the guardrails', the
observability settings', the budgets' (``litellm_settings``), the console gallery's switch.
``load_config`` / ``parse_config`` are what start-up and tests call.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from proxy.config import ProxyConfig
from proxy.config.checks import Checks
from proxy.config.loader import read_config, read_config_file
from proxy.guardrails.spec import parse_guardrails
from proxy.images.gallery import check_gallery
from proxy.keys.settings import check_budget_settings
from proxy.observability.settings import parse_observability
from proxy.providers.registry import PROVIDERS
from proxy.routing.settings import check_router_settings


def check_guardrails(resolved: dict[str, Any]) -> list[str]:
    parse_guardrails(resolved.get("guardrails"))
    return []


def check_observability(resolved: dict[str, Any]) -> list[str]:
    return list(parse_observability(resolved).warnings)


CHECKS = Checks(
    providers={name: spec.check for name, spec in PROVIDERS.items()},
    environment={name: spec.environment for name, spec in PROVIDERS.items()},
    credential_env={name: spec.credential_env for name, spec in PROVIDERS.items()},
    model_kinds={name: spec.model_kind for name, spec in PROVIDERS.items() if spec.model_kind},
    chat_providers=frozenset(name for name, spec in PROVIDERS.items() if spec.chat),
    router=check_router_settings,
    sections=(check_guardrails, check_observability, check_budget_settings, check_gallery),
)


def parse_config(
    data: Any, *, env: Mapping[str, str] | None = None, source: str = "<memory>"
) -> ProxyConfig:
    return read_config(data, CHECKS, env=env, source=source)


def load_config(path: str | Path, *, env: Mapping[str, str] | None = None) -> ProxyConfig:
    return read_config_file(path, CHECKS, env=env)
