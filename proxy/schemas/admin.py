"""The shapes of the operator API (keys, spend, router state, health) for the OpenAPI document.

Query models list the query parameters a route reads (its handler parses them, refusing a bad
one with a 400 naming it); response models list the fields the handler writes. The key
request bodies are the ones the handlers validate with (``proxy.keys.records``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

MAX_PAGE_SIZE = 1000


# --- query parameters ------------------------------------------------------------------------


class PageQuery(BaseModel):
    page: int | None = Field(default=1, ge=1, le=10_000_000)
    page_size: int | None = Field(default=50, ge=1, le=MAX_PAGE_SIZE)


class KeyInfoQuery(BaseModel):
    key: str | None = Field(
        default=None,
        description="A key, key hash or alias (master key only); without it a key reads itself.",
    )


class SpendFilter(BaseModel):
    key: str | None = Field(default=None, description="A key, key hash or alias.")
    key_hash: str | None = None
    key_alias: str | None = None
    end_user: str | None = None
    model: str | None = Field(default=None, description="A public model name.")
    status: int | None = Field(default=None, ge=100, le=599)
    start: str | None = Field(default=None, description="Epoch seconds or ISO 8601 (inclusive).")
    end: str | None = Field(default=None, description="Epoch seconds or ISO 8601 (exclusive).")


class SpendQuery(SpendFilter, PageQuery):
    pass


class ImageFileQuery(BaseModel):
    expires: str = Field(description="Expiry of the link (epoch seconds), as signed.")
    sig: str = Field(description="The link's signature.")


# --- keys ------------------------------------------------------------------------------------


class KeyView(BaseModel):
    """A key as the admin API shows it: never the key itself, only its hash."""

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
    created_at: str | None
    updated_at: str | None


class GeneratedKey(KeyView):
    key: str = Field(description="The new key; shown this once, stored only as its hash.")


class KeyInfoResponse(BaseModel):
    key: str = Field(description="The key's hash.")
    info: KeyView


class KeyPage(BaseModel):
    keys: list[KeyView]
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


class Liveness(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ok", "degraded"]
    degraded: list[str] = Field(description="Names of the checks that fail.")
    model_groups: int
    deployments: int
    deployments_usable: int
