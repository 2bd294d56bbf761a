"""The shapes of the API the console reads beyond the admin API (``proxy.schemas.admin``):
console sign-in, spend over time, the CSV export and the deployments view."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from proxy.schemas.admin import SpendFilter

# --- console sign-in -------------------------------------------------------------------------


class SessionRequest(BaseModel):
    key: str = Field(description="The master key or a virtual key, as sent in a bearer header.")


class SessionIdentity(BaseModel):
    is_master: bool
    key_alias: str | None
    models: list[str] = Field(description="Model groups this key may use ([] = all).")


class ConsoleFeatures(BaseModel):
    gallery: bool = Field(description="general_settings.console_gallery")


class SessionState(BaseModel):
    signed_in: bool
    features: ConsoleFeatures
    csrf_token: str | None = Field(
        description="Send it in `x-csrf-token` on every request that changes state."
    )
    expires: float | None = Field(description="Epoch seconds when the session ends.")
    identity: SessionIdentity | None


class SessionClosed(BaseModel):
    signed_out: Literal[True]


# --- spend over time -------------------------------------------------------------------------


class SpendReportQuery(SpendFilter):
    group_by: Literal["model", "key", "end_user", "deployment", "provider"] | None = Field(
        default="model", description="What each bucket is split by."
    )
    interval: Literal["hour", "day"] | None = Field(default="day", description="Bucket width.")


class SpendAmounts(BaseModel):
    spend: float
    requests: int
    images: int
    requests_cost_unknown: int = Field(description="Requests whose price is unknown.")


class SpendBucket(BaseModel):
    start: float = Field(description="Epoch seconds (UTC) the bucket begins.")
    start_iso: str
    groups: dict[str, SpendAmounts] = Field(description="Group name -> amounts (none if empty).")


class SpendReport(BaseModel):
    group_by: str
    interval: str
    start: float
    end: float
    groups: list[str] = Field(description="Every group seen, by total spend, largest first.")
    totals: SpendAmounts
    group_totals: dict[str, SpendAmounts]
    buckets: list[SpendBucket]


class SpendCsvQuery(SpendFilter):
    limit: int | None = Field(default=10_000, ge=1, le=100_000, description="Rows at most.")


# --- deployments -----------------------------------------------------------------------------


class Capabilities(BaseModel):
    generate: bool = Field(description="/v1/images/generations")
    edit: bool = Field(description="/v1/images/edits")
    chat_images: bool = Field(description="/v1/chat/completions with images in the answer")
    stream: bool = Field(description="`stream: true` on /v1/images/generations")
    edit_stream: bool = Field(description="`stream: true` on /v1/images/edits")


class RecentTraffic(BaseModel):
    window_seconds: int
    requests: int
    errors: int = Field(description="Requests answered with a status of 400 or more.")
    error_rate: float | None
    latency_ms_avg: float | None
    spend: float


class DeploymentView(BaseModel):
    deployment_id: str
    model_group: str
    provider: str
    mode: str | None = Field(description="model_info.mode from the config.")
    available: bool
    cooling_down: bool
    cooldown: dict[str, Any] | None
    in_flight: int
    latency_seconds: float | None = Field(description="The router's smoothed latency, if kept.")
    supports: Capabilities
    learned: dict[str, Any] = Field(
        default_factory=dict,
        description="What the gateway learned from the upstream about this deployment, e.g. "
        "OpenRouter's openrouter.images_api (its images API serves the model) and "
        "openrouter.streams.",
    )
    recent: RecentTraffic


class DeploymentList(BaseModel):
    routing_strategy: str
    deployments: list[DeploymentView]


# --- gallery ---------------------------------------------------------------------------------


class GalleryEntry(BaseModel):
    id: str
    time: float
    time_iso: str
    request_id: str
    image_index: int
    model_group: str | None
    key_alias: str | None
    prompt: str | None
    cost: float | None = Field(description="The request's cost divided by its images.")
    media_type: str
    url: str = Field(description="The image itself (same authentication).")


class GalleryPage(BaseModel):
    data: list[GalleryEntry]
    total: int
    page: int
    page_size: int
    total_pages: int


class GalleryQuery(BaseModel):
    model: str | None = None
    key_alias: str | None = Field(default=None, description="Master key only.")
    page: int | None = Field(default=1, ge=1)
    page_size: int | None = Field(default=50, ge=1, le=1000)


class GalleryDeleted(BaseModel):
    id: str
    deleted: Literal[True]
