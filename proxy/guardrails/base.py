"""The guardrail contract: what a guardrail sees, what it answers, and the registry of kinds.

A guardrail kind is a class with a pydantic ``Params`` model (its ``litellm_params``, unknown
keys refused at start-up) and one coroutine, ``check(subject) -> Verdict``. A guardrail that
cannot reach its service raises ``GuardrailServiceError``; the engine then applies the entry's
``on_error`` policy. Adding a kind = one class decorated with ``@register("kind")``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from proxy.errors import ContentPolicyError

if TYPE_CHECKING:  # httpx loads only when a guardrail calls a service
    import httpx


class GuardrailParams(BaseModel):
    """``litellm_params`` common to every kind."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    guardrail: str
    mode: str | list[str] = "pre_call"
    default_on: bool = False

    @field_validator("mode")
    @classmethod
    def _pre_call_only(cls, v: str | list[str]) -> str | list[str]:
        modes = [v] if isinstance(v, str) else v
        other = [m for m in modes if m != "pre_call"]
        if other or not modes:
            raise ValueError(
                f"only 'pre_call' is supported (got {other[0] if other else 'nothing'!r}); "
                "post_call and during_call guardrails are not implemented"
            )
        return v


class HTTPGuardrailParams(GuardrailParams):
    """``litellm_params`` of kinds that call a service."""

    api_base: str | None = None
    api_key: str | None = None
    timeout: float = Field(default=5.0, gt=0, le=600)
    on_error: Literal["block", "allow"] = "block"
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("api_base")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return v


@dataclass(frozen=True, slots=True)
class PromptPart:
    role: str  # "prompt" for an image prompt, else the chat message's role
    text: str


@dataclass(frozen=True, slots=True)
class GuardSubject:
    """What a pre-call guardrail inspects: the prompt texts and who sends them."""

    parts: tuple[PromptPart, ...]
    endpoint: str
    model: str | None
    request_id: str
    key_alias: str | None = None
    user_id: str | None = None
    end_user: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def texts(self) -> list[str]:
        return [p.text for p in self.parts if p.text]


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    reason: str = ""

    @classmethod
    def allow(cls) -> Verdict:
        return cls(True)

    @classmethod
    def deny(cls, reason: str) -> Verdict:
        return cls(False, reason)


class GuardrailServiceError(Exception):
    """The guardrail could not decide (service down, timeout, unreadable answer)."""


class GuardrailBlockedError(ContentPolicyError):
    """A guardrail refused the request: 400 ``content_policy_violation``."""

    def __init__(self, guardrail: str, reason: str) -> None:
        super().__init__(f"Blocked by guardrail '{guardrail}': {reason}", param="guardrails")
        self.guardrail = guardrail
        self.reason = reason

    def body(self) -> dict[str, Any]:
        out = super().body()
        out["error"]["guardrail"] = self.guardrail
        out["error"]["reason"] = self.reason
        return out


class GuardrailUnavailableError(GuardrailBlockedError):
    """A guardrail with ``on_error: block`` could not decide: the request is blocked like any
    other guardrail block (400 ``content_policy_violation``, the guardrail's name and why)."""

    def __init__(self, guardrail: str, problem: str) -> None:
        super().__init__(
            guardrail, f"the guardrail service failed ({problem}) and its on_error is 'block'"
        )
        self.problem = problem


class Guardrail(ABC):
    kind: ClassVar[str]
    Params: ClassVar[type[GuardrailParams]] = GuardrailParams
    needs_http: ClassVar[bool] = False  # True: built with the shared HTTP client

    def __init__(self, name: str, params: GuardrailParams, http: httpx.AsyncClient | None) -> None:
        self.name = name
        self.params = params
        self.http = http

    @property
    def on_error(self) -> str:
        return getattr(self.params, "on_error", "block")

    @abstractmethod
    async def check(self, subject: GuardSubject) -> Verdict: ...


GUARDRAILS: dict[str, type[Guardrail]] = {}

G = TypeVar("G", bound=type[Guardrail])


def register(kind: str) -> Callable[[G], G]:
    """Class decorator: make ``litellm_params.guardrail: <kind>`` build this class."""

    def add(cls: G) -> G:
        cls.kind = kind
        GUARDRAILS[kind] = cls
        return cls

    return add
