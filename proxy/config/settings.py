"""``general_settings`` and ``router_settings``, and ``ProxyConfig``: the validated config as
every layer above reads it."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field, field_validator

from proxy.config.delivery import ImageFetchSettings, ImageStoreSettings
from proxy.config.deployment import Deployment, Section
from proxy.config.wildcards import NO_WILDCARDS, Wildcards
from proxy.upstream_request import DEFAULT_MAX_ANSWER_BYTES, DEFAULT_MAX_EVENT_BYTES, UpstreamLimits

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class GeneralSettings(Section):
    master_key: str | None = None
    allow_unauthenticated_access: bool = False
    # LiteLLM's: only these client addresses (IPs or CIDR networks) may call; unset: any
    allowed_ips: list[str] | None = None
    enforce_user_param: bool = False  # LiteLLM's: model requests must name their end user
    max_request_size_mb: float = Field(default=16.0, gt=0)
    max_upstream_response_bytes: int = Field(default=DEFAULT_MAX_ANSWER_BYTES, ge=1)
    max_upstream_event_bytes: int = Field(default=DEFAULT_MAX_EVENT_BYTES, ge=1)
    # /v1/images/edits and /variations uploads (proxy.api.uploads): per image file, per body
    max_image_upload_mb: float = Field(default=50.0, gt=0)
    max_image_request_size_mb: float = Field(default=100.0, gt=0)
    image_upload_memory_mb: float = Field(default=64.0, ge=0)  # past it, uploads spool to disk
    database_url: str | None = None
    public_base_url: str | None = Field(default=None, pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$")
    image_store: ImageStoreSettings | None = None
    image_fetch: ImageFetchSettings | None = None
    # The HTTP server (proxy.server.http): slow and oversized clients, and the graceful stop.
    request_header_timeout: float = Field(default=10.0, gt=0)  # s from a request's first byte
    request_body_timeout: float = Field(default=30.0, gt=0)  # s without a body byte
    max_request_header_bytes: int = Field(default=64 * 1024, ge=1024)
    max_request_headers: int = Field(default=100, ge=1)
    graceful_shutdown_timeout: int = Field(default=25, gt=0)  # s for requests in flight

    @field_validator("allowed_ips")
    @classmethod
    def _networks(cls, v: list[str] | None) -> list[str] | None:
        for entry in v or ():
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP address or network (e.g. 10.0.0.5, 10.0.0.0/8)"
                ) from None
        return v

    def allowed_networks(self) -> tuple[IPNetwork, ...] | None:
        """``allowed_ips`` as networks (an address is a one-address network); None: any."""
        if self.allowed_ips is None:
            return None
        return tuple(ipaddress.ip_network(e, strict=False) for e in self.allowed_ips)


ROUTING_STRATEGIES = (
    "simple-shuffle",
    "least-busy",
    "latency-based-routing",
    "usage-based-routing",
)
STRATEGY_ALIASES = {"usage-based-routing-v2": "usage-based-routing", "shuffle": "simple-shuffle"}
DEFAULT_REQUEST_DEADLINE = 900.0


class RoutingStrategyArgs(Section):
    """``router_settings.routing_strategy_args`` (latency-based routing)."""

    ttl: float = Field(default=3600.0, gt=0)  # forget a latency not refreshed for this long
    lowest_latency_buffer: float = Field(default=0.0, ge=0)  # pick among those within +x%
    exploration_rate: float = Field(default=0.05, ge=0, le=1)
    latency_smoothing: float = Field(default=0.3, gt=0, le=1)  # weight of the newest sample


class GroupAlias(Section):
    """A ``model_group_alias`` value in its long form: ``{"model": <group>, "hidden": true}``
    (hidden: served, not listed in ``/v1/models``)."""

    model: str
    hidden: bool = False


class RouterSettings(Section):
    """LiteLLM's ``router_settings``; every key and default is documented in the README."""

    routing_strategy: str = "simple-shuffle"
    routing_strategy_args: RoutingStrategyArgs = Field(default_factory=RoutingStrategyArgs)
    num_retries: int = Field(default=0, ge=0)
    failover: bool = True  # a failure moves on to an untried deployment even past num_retries
    retry_after: float = Field(default=0.0, ge=0)  # minimum wait before a same-deployment retry
    retry_backoff_base: float = Field(default=0.5, ge=0)
    retry_backoff_max: float = Field(default=8.0, ge=0)
    timeout: float | None = Field(default=None, gt=0)
    stream_timeout: float | None = Field(default=None, gt=0)
    request_deadline: float | None = Field(default=None, gt=0)
    allowed_fails: int = Field(default=3, ge=0)
    cooldown_time: float = Field(default=5.0, ge=0)
    disable_cooldowns: bool = False
    default_max_parallel_requests: int | None = Field(default=None, ge=1)
    fallbacks: list[dict[str, list[str]]] = Field(default_factory=list)
    default_fallbacks: list[str] = Field(default_factory=list)
    content_policy_fallbacks: list[dict[str, list[str]]] = Field(default_factory=list)
    max_fallbacks: int = Field(default=5, ge=0)
    # LiteLLM's other names for model groups: {"alias": "group"} or {"alias": {"model", "hidden"}}
    model_group_alias: dict[str, str | GroupAlias] = Field(default_factory=dict)
    # shared state for several replicas (proxy/state/settings.py); unset: in-process state
    redis_url: str | None = None
    redis_host: str | None = None
    redis_port: int | None = Field(default=None, ge=1, le=65535)
    redis_password: str | None = None
    redis_db: int | None = Field(default=None, ge=0)
    redis_key_prefix: str = Field(default="imgproxy:", max_length=200)
    redis_socket_timeout: float = Field(default=0.5, gt=0)  # seconds per operation
    redis_connect_timeout: float = Field(default=0.5, gt=0)
    redis_retry_interval: float = Field(default=2.0, gt=0)  # breaker: probe this often
    redis_lease_ttl: float = Field(default=15.0, ge=1)  # a dead replica's holds expire after

    def group_aliases(self) -> dict[str, GroupAlias]:
        """``model_group_alias`` with every value in its long form."""
        return {
            alias: target if isinstance(target, GroupAlias) else GroupAlias(model=target)
            for alias, target in self.model_group_alias.items()
        }

    @field_validator("routing_strategy")
    @classmethod
    def _known_strategy(cls, v: str) -> str:
        v = STRATEGY_ALIASES.get(v, v)
        if v not in ROUTING_STRATEGIES:
            known = ", ".join(ROUTING_STRATEGIES)
            raise ValueError(f"unknown routing strategy {v!r} (known: {known})")
        return v


@dataclass(frozen=True)
class ProxyConfig:
    deployments: tuple[Deployment, ...]
    general: GeneralSettings
    router: RouterSettings
    litellm_settings: Mapping[str, Any]
    raw: Mapping[str, Any]
    warnings: tuple[str, ...] = ()
    source: str = "<memory>"
    # model_name patterns (``openai/*``, ``*``): concrete deployments per requested name
    wildcards: Wildcards = field(default=NO_WILDCARDS, compare=False)

    def groups(self) -> dict[str, list[Deployment]]:
        out: dict[str, list[Deployment]] = {}
        for d in self.deployments:
            out.setdefault(d.model_name, []).append(d)
        return out

    @property
    def max_request_bytes(self) -> int:
        return int(self.general.max_request_size_mb * 1024 * 1024)

    @property
    def upstream_limits(self) -> UpstreamLimits:
        general = self.general
        return UpstreamLimits(general.max_upstream_response_bytes, general.max_upstream_event_bytes)

    @property
    def max_image_upload_bytes(self) -> int:
        return int(self.general.max_image_upload_mb * 1024 * 1024)

    @property
    def max_image_request_bytes(self) -> int:
        return int(self.general.max_image_request_size_mb * 1024 * 1024)

    @property
    def image_upload_memory_bytes(self) -> int:
        return int(self.general.image_upload_memory_mb * 1024 * 1024)
