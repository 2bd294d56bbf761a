"""LiteLLM's environment habits for a deployment's key, base URL and API version.

A deployment that names no ``api_key`` / ``api_base`` / ``api_version`` takes the standard
variable LiteLLM reads for its provider (``OPENAI_API_KEY``, ``AZURE_API_BASE``, ...); the
provider table declares the names (``ProviderSpec.credential_env``), the loader applies them
once, at start-up. A provider that needs a key and finds none anywhere is refused then, so no
request ever leaves without credentials.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any


class KeyRule(Enum):
    REQUIRED = "required"  # a key (or another credential the provider names) is needed
    UNLESS_BASE = "unless_base"  # needed unless api_base names a (self-hosted) server
    NONE = "none"  # keyless, or the provider checks its own credentials (AWS, Google OAuth)


@dataclass(frozen=True)
class CredentialEnv:
    key: tuple[str, ...] = ()
    base: tuple[str, ...] = ()
    version: tuple[str, ...] = ()
    key_rule: KeyRule = KeyRule.UNLESS_BASE
    other_credentials: tuple[str, ...] = ()  # litellm_params that authenticate instead
    # (litellm_param, its variables): another credential taken from the environment when no
    # key was found anywhere (Azure's AZURE_AD_TOKEN), as LiteLLM uses it only without a key
    other_env: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def fill(self, params: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
        """``params`` with ``api_key`` / ``api_base`` / ``api_version`` taken from the first
        set variable of each where the config does not give them."""
        out = dict(params)
        for field, names in (
            ("api_key", self.key),
            ("api_base", self.base),
            ("api_version", self.version),
        ):
            if out.get(field) is None:
                value = next((env[n] for n in names if env.get(n)), None)
                if value is not None:
                    out[field] = value
        if out.get("api_key") is None and not any(out.get(n) for n in self.other_credentials):
            for field, names in self.other_env:
                value = next((env[n] for n in names if env.get(n)), None)
                if value is not None:
                    out[field] = value
                    break
        return out

    def missing_key(self, provider: str, params: Mapping[str, Any]) -> str | None:
        """The start-up error of a deployment with no key anywhere, or None."""
        if self.key_rule is KeyRule.NONE or params.get("api_key"):
            return None
        if any(params.get(name) for name in self.other_credentials):
            return None
        if self.key_rule is KeyRule.UNLESS_BASE and params.get("api_base"):
            return None
        ways = ["set it", *(f"litellm_params.{n}" for n in self.other_credentials)]
        if self.key:
            ways.append(f"the environment variable {' / '.join(self.key)}")
        ways += [f"the environment variable {' / '.join(names)}" for _, names in self.other_env]
        return f"litellm_params.api_key: required for {provider} ({', or '.join(ways)})"
