"""One deployment of a public model name: ``litellm_params``, ``model_info`` and the resolved
``Deployment`` that providers, credentials and the router read. No I/O, no feature imports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

_HTTP_URL = re.compile(r"\Ahttps?://[^/?#\s]+(/[^?#\s]*)?\Z")


class Section(BaseModel):
    """A LiteLLM section: unknown keys are kept (``model_extra``), values frozen."""

    model_config = ConfigDict(extra="allow", frozen=True)


class LiteLLMParams(Section):
    model: str
    api_key: str | None = Field(default=None, repr=False)  # never in a log line
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


class ModelInfo(Section):
    id: str | None = None
    mode: str | None = None


@dataclass(frozen=True, slots=True, weakref_slot=True)
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
    # The environment variables the provider reads besides the config (a region, a project,
    # a key file, a token; the names come from the provider table), as they were when the
    # config loaded: request-path code reads them here, never from ``os.environ``.
    environment: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    # What the gateway learned from the upstream at run time, for the adapter to read (an
    # adapter that is a ``DiscoveringImages``): written only by ``proxy.attempt.discovery``.
    learned: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

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

    def env(self, *names: str) -> str | None:
        """The first of ``names`` the environment set (non-empty) when the config loaded."""
        found = dict(self.environment)
        return next((found[n] for n in names if found.get(n)), None)

    def missing_env_message(self) -> str:
        return "; ".join(
            f"{self.path}.{path}: environment variable {var} is not set"
            for path, var in self.missing_env
        )
