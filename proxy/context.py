"""Per-request facts gathered along the pipeline, read by cost, logs and metrics at the end."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

from proxy.model_patterns import is_pattern, pattern_matches


@dataclass(slots=True)
class KeyInfo:
    """Who is calling: the master key or a virtual key (never the key itself)."""

    key_hash: str
    alias: str | None = None
    is_master: bool = False
    models: tuple[str, ...] = ()
    user_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    guardrails: tuple[str, ...] = ()
    aliases: dict[str, str] = field(default_factory=dict)  # model name -> model group

    def may_use(self, group: str) -> bool:
        """Whether this key may be served by the model group ``group``: the master key and
        a key without ``models`` may use every group, any other key only those it lists.
        Asked of the group requested and of every group a fallback would reach. A listed
        name with ``*`` is a pattern (``openai/*``, ``*``): ``*`` matches any characters."""
        if self.is_master or not self.models or group in self.models:
            return True
        return any(is_pattern(m) and pattern_matches(m, group) for m in self.models)


CHAT_ID_PREFIX = "chatcmpl-"


def chat_completion_id(request_id: str) -> str:
    """A chat completion's ``id`` (every chunk of a stream shares it): the proxy's request id,
    never the provider's (whose format would tell the client who served it), so the answer's
    own id finds its spend record (``/spend/logs?request_id=``)."""
    return CHAT_ID_PREFIX + request_id


def request_id_of(value: str) -> str:
    """The request id a ``chatcmpl-<request id>`` (or a bare request id) names."""
    return value.removeprefix(CHAT_ID_PREFIX)


@dataclass(slots=True)
class RequestContext:
    endpoint: str
    # Unique, not secret: 128 bits from the module generator (seeded from the OS, reseeded in
    # forked children) without a system call per request.
    request_id: str = field(default_factory=lambda: f"{random.getrandbits(128):032x}")
    started: float = field(default_factory=time.perf_counter)
    wall_time: float = field(default_factory=time.time)
    key: KeyInfo | None = None
    end_user: str | None = None
    model_group: str | None = None
    deployment_id: str | None = None
    # The deployment object itself (typed loosely: the context sits below the config). Holding
    # it keeps a wildcard route's concrete deployment findable by its id while the request lives.
    deployment: object | None = field(default=None, repr=False)
    provider: str | None = None
    stream: bool = False
    upstream_seconds: float = 0.0
    retries: int = 0
    fallbacks: int = 0
    images: int = 0
    input_images: int = 0  # images the client sent (edits, variations): a count, never bytes
    input_bytes: int = 0
    usage: dict[str, Any] | None = None
    cost: float | None = None
    status: int = 200
    error_class: str | None = None
    error_message: str | None = None
    guardrails: list[str] = field(default_factory=list)
    finished: float | None = None
    # What the stages learn along the way, each set by the stage named (None: not (yet) set).
    requested_model: str | None = None  # routing: the group asked for, before any fallback
    attempts: list[dict[str, Any]] | None = None  # routing: every try, in order
    cooldowns: list[str] | None = None  # routing: deployments this request cooled down
    fallbacks_disabled: bool = False  # routing: the request's disable_fallbacks
    requested_fallbacks: tuple[str, ...] | None = None  # routing: the request's own fallbacks
    image_response_format: str | None = None  # delivery: chat's image_response_format
    guardrail_blocked: str | None = None  # guardrails: the one that refused the request
    guardrail_errors: list[str] | None = None  # guardrails: failed open (service errors)
    price_inputs: Any = None  # pricing: PriceInputs, the request's billing parameters
    cost_basis: str | None = None  # pricing: how the cost was found
    budget_holds: list[Any] | None = None  # keys: accounting's Holds, settled after the call
    shared_holds: list[Any] | None = None  # keys: ReplicaKeys' SharedHolds, released after
    accounted: bool = False  # keys: the spend record is queued (once per request)
    key_spend: float | None = None  # keys: the key's spend when the request was admitted
    spend_prompt: str | None = None  # keys: the prompt kept in the spend log (when asked)
    logged_prompt: str | None = None  # observability: the prompt for the log line (when asked)
    prompt_source: Any = None  # observability: the request, to scrub an echoed prompt
    log_record: dict[str, Any] | None = None  # observability: the request's log record
    kept_images: tuple[str, ...] | None = None  # gallery: the answer's base64 images, to keep
    kept_prompt: str | None = None  # gallery: the prompt kept beside them

    @property
    def latency(self) -> float:
        end = self.finished if self.finished is not None else time.perf_counter()
        return end - self.started

    @property
    def overhead(self) -> float:
        return max(0.0, self.latency - self.upstream_seconds)

    def response_headers(self) -> dict[str, str]:
        """Our headers and, beside each, the name LiteLLM's tooling reads (its "response
        headers" page): built once per answer from what the request already holds."""
        rid, retries, fallbacks = self.request_id, str(self.retries), str(self.fallbacks)
        h = {
            "x-request-id": rid,
            "x-litellm-call-id": rid,
            "x-attempted-retries": retries,
            "x-litellm-attempted-retries": retries,
            "x-attempted-fallbacks": fallbacks,
            "x-litellm-attempted-fallbacks": fallbacks,
        }
        if self.deployment_id and header_safe(self.deployment_id):
            h["x-model-id"] = h["x-litellm-model-id"] = self.deployment_id
        if self.model_group and header_safe(self.model_group):
            h["x-model-group"] = h["x-litellm-model-group"] = self.model_group
        if self.cost is not None:
            h["x-response-cost"] = h["x-litellm-response-cost"] = format_cost(self.cost)
        if self.key_spend is not None:
            h["x-litellm-key-spend"] = format_cost(self.key_spend)
        if self.guardrails:
            h["x-applied-guardrails"] = ",".join(self.guardrails)
        return h


def header_safe(value: str) -> bool:
    """Printable ASCII only. The model group is the name the client sent until routing
    resolves it, and a header carries bytes: a character latin-1 cannot encode made the
    response fail (a 500), and a CR or LF would split the header. Such a value is left out
    of the headers, not mangled; the body and the logs still carry it."""
    return value.isascii() and value.isprintable()


def format_cost(cost: float) -> str:
    text = f"{cost:.10f}".rstrip("0")
    return text + "0" if text.endswith(".") else text
