"""The shapes of the operator API (keys, spend, router state, health) for the OpenAPI document.

Query models list the query parameters a route reads (its handler parses them, refusing a bad
one with a 400 naming it); response models list the fields the handler writes. The key
request bodies are the ones the handlers validate with (``proxy.keys.records``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from proxy.names import MAX_NAME_LENGTH, name_problem

MAX_PAGE_SIZE = 1000


# --- query parameters ------------------------------------------------------------------------


class PageQuery(BaseModel):
    page: int | None = Field(default=1, ge=1, le=10_000_000)
    page_size: int | None = Field(default=50, ge=1, le=MAX_PAGE_SIZE)


class KeyListQuery(PageQuery):
    size: int | None = Field(default=None, ge=1, le=MAX_PAGE_SIZE, description="LiteLLM's name.")
    return_full_object: bool | None = Field(
        default=False, description="Each key as an object (else its token, the key's hash)."
    )
    key_alias: str | None = None
    user_id: str | None = None
    team_id: str | None = None


class KeyRef(BaseModel):
    """One key by the key itself, its hash or its alias (``/key/block``, ``/key/unblock``)."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)

    @field_validator("key")
    @classmethod
    def _key(cls, v: str) -> str:
        """Held to ``proxy.names`` before any lookup (a 400 naming ``key``)."""
        problem = name_problem(v)
        if problem is not None:
            raise ValueError(problem)
        return v


class KeyInfoQuery(BaseModel):
    key: str | None = Field(
        default=None,
        description="A key, key hash or alias: the master key reads any, a key itself "
        "(named, or without `key`).",
    )


class SpendFilter(BaseModel):
    """Every parameter the spend routes read; any other is refused with a 400 naming it."""

    request_id: str | None = Field(
        default=None,
        description="A request's id: its `x-request-id` (= `x-litellm-call-id`) header.",
    )
    call_id: str | None = Field(default=None, description="Same as `request_id`.")
    key: str | None = Field(default=None, description="A key, key hash or alias.")
    api_key: str | None = Field(default=None, description="LiteLLM's name for `key`.")
    key_hash: str | None = None
    key_alias: str | None = None
    user_id: str | None = Field(default=None, description="The key owner's `user_id`.")
    end_user: str | None = None
    user: str | None = Field(default=None, description="Same as `end_user`.")
    model: str | None = Field(default=None, description="A public model name.")
    status: int | None = Field(default=None, ge=100, le=599)
    start: str | None = Field(default=None, description="Epoch seconds or ISO 8601 (inclusive).")
    end: str | None = Field(default=None, description="Epoch seconds or ISO 8601 (exclusive).")
    start_date: str | None = Field(default=None, description="LiteLLM's name for `start`.")
    end_date: str | None = Field(default=None, description="LiteLLM's name for `end`.")
    start_time: str | None = None
    end_time: str | None = None


class SpendQuery(SpendFilter, PageQuery):
    size: int | None = Field(default=None, ge=1, le=MAX_PAGE_SIZE, description="Page size.")


class HealthQuery(BaseModel):
    model: str | None = Field(default=None, description="Only this model group's deployments.")
    model_id: str | None = Field(default=None, description="Only this deployment.")


class ImageFileQuery(BaseModel):
    expires: str = Field(description="Expiry of the link (epoch seconds), as signed.")
    sig: str = Field(description="The link's signature.")


# --- keys ------------------------------------------------------------------------------------


class KeyView(BaseModel):
    """A key as the admin API shows it: never the key itself, only its hash. LiteLLM's key
    settings this proxy stores but does not act on are shown too, under their own names."""

    model_config = ConfigDict(extra="allow")

    token: str = Field(description="The key's hash: LiteLLM's `token`.")
    key_hash: str
    key_name: str = Field(description="The key masked for display (`sk-...wxyz`).")
    key_alias: str | None
    models: list[str]
    max_budget: float | None
    budget_duration: str | None
    budget_reset_at: str | None
    spend: float
    reserved: float = Field(description="Estimated cost of this key's requests in flight.")
    rpm_limit: int | None
    expires: str | None
    metadata: dict[str, Any]
    guardrails: list[str]
    user_id: str | None
    team_id: str | None
    blocked: bool = Field(description="A blocked key is refused (401) until unblocked.")
    max_parallel_requests: int | None = Field(description="Requests in flight at most (429).")
    aliases: dict[str, str] = Field(description="Model names of this key -> model groups.")
    created_at: str | None
    updated_at: str | None


class GeneratedKey(KeyView):
    """LiteLLM's GenerateKeyResponse fields (``key``, ``token``, ``key_name``, ``expires``, …)
    and ours."""

    key: str = Field(description="The new key; shown this once, stored only as its hash.")
    warnings: list[str] = Field(
        description="One line per field given a value this proxy stores but does not act on."
    )


class UpdatedKey(KeyView):
    warnings: list[str] = Field(
        description="One line per field given a value this proxy stores but does not act on."
    )


class KeyInfoResponse(BaseModel):
    key: str = Field(description="The key's hash.")
    info: KeyView


class KeyPage(BaseModel):
    keys: list[KeyView] | list[str] = Field(
        description="Tokens (key hashes); objects with `return_full_object=true`."
    )
    total_count: int
    current_page: int
    total: int
    page: int
    page_size: int
    total_pages: int


class DeletedKeys(BaseModel):
    deleted_keys: list[str]


# --- spend -----------------------------------------------------------------------------------


class SpendLog(BaseModel):
    """One request's spend record; never a prompt image, never a key."""

    request_id: str
    time: float
    time_iso: str
    endpoint: str
    status: int
    key_hash: str | None
    key_alias: str | None
    user_id: str | None
    end_user: str | None
    model_group: str | None
    deployment_id: str | None
    provider: str | None
    stream: bool
    latency_ms: float
    upstream_ms: float
    retries: int
    fallbacks: int
    images: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost: float | None = Field(description="USD; null when the price is unknown, never a 0.")
    cost_basis: str
    error_class: str | None
    usage: dict[str, Any] | None
    prompt: str | None


class SpendLogPage(BaseModel):
    data: list[SpendLog]
    total: int
    page: int
    page_size: int
    total_pages: int


class EndUserSpend(BaseModel):
    end_user: str
    spend: float
    requests: int
    images: int
    last_seen: float


class EndUserSpendPage(BaseModel):
    data: list[EndUserSpend]
    total: int
    page: int
    page_size: int
    total_pages: int


class SpendTotals(BaseModel):
    spend: float
    requests: int
    requests_cost_unknown: int
    images: int
    total_tokens: int
    records_pending: int = Field(description="Records not yet written to the database.")


# --- router state and health -----------------------------------------------------------------


class DeploymentState(BaseModel):
    deployment_id: str
    model_group: str
    provider: str
    available: bool
    cooling_down: bool
    cooldown: dict[str, Any] | None
    in_flight: int
    latency_seconds: float | None


class RouterState(BaseModel):
    routing_strategy: str
    cooling_down: list[str]
    deployments: list[DeploymentState]


class CooldownCleared(BaseModel):
    deployment_id: str
    cooling_down: Literal[False]


class ModelInfoEntry(BaseModel):
    model_name: str
    litellm_params: dict[str, Any] = Field(description="Allow-listed: never a key.")
    model_info: dict[str, Any] = Field(
        description="`id`, `mode`, the known prices (`output_cost_per_image`, ...), `supports_*`."
    )


class ModelInfoList(BaseModel):
    data: list[ModelInfoEntry]


class ModelGroupInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    model_group: str
    providers: list[str]
    mode: str
    deployments: int
    rpm: int | None
    tpm: int | None
    supports_image_edit: bool


class ModelGroupInfoList(BaseModel):
    data: list[ModelGroupInfo]


class EndpointHealth(BaseModel):
    model: str = Field(description="`provider/model`.")
    model_name: str
    model_id: str
    api_base: str | None
    status_code: int | None = Field(description="The probe's answer; null when none came.")
    error: str | None = Field(default=None, description="Why it is unhealthy.")


class HealthReport(BaseModel):
    healthy_endpoints: list[EndpointHealth]
    unhealthy_endpoints: list[EndpointHealth]
    healthy_count: int
    unhealthy_count: int


class Liveness(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ok", "degraded"]
    degraded: list[str] = Field(description="Names of the checks that fail.")
    model_groups: int
    deployments: int
    deployments_usable: int
