"""What the loader checks with knowledge from above it (``Checks``), handed in by the
composition root (``proxy.configure``): the provider table's checks, LiteLLM's variables and
skipping rule per provider, the router's and other sections' checks."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from proxy.config.credential_env import CredentialEnv
from proxy.config.deployment import Deployment
from proxy.config.served import ModelKindTest
from proxy.config.settings import RouterSettings

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
