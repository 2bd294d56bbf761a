"""Prometheus metrics, filled by a post-call hook and the front door.

With ``PROMETHEUS_MULTIPROC_DIR`` set (the CLI sets one up for ``--workers`` > 1) every worker
writes its samples to that directory and ``/metrics`` aggregates them, whichever worker answers
the scrape. Label values come from the config (model groups, deployment ids) or from small
fixed sets; a model name a client made up is counted as ``unknown`` so clients cannot grow the
series without bound.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as prom_multiprocess

from proxy.context import RequestContext

PREFIX = "image_proxy"
UNKNOWN = "unknown"
REQUEST_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600)
OVERHEAD_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class InFlight(Protocol):
    """What the app's front door counts requests in flight on (``Metrics.in_flight``)."""

    def inc(self, amount: float = 1) -> None: ...
    def dec(self, amount: float = 1) -> None: ...


class Metrics:
    def __init__(
        self, model_groups: Collection[str] = (), deployment_groups: Mapping[str, str] = {}
    ) -> None:
        self.multiprocess = multiprocess_dir() is not None
        # Multiprocess samples live in files, not in a registry; single-process metrics get
        # a registry of their own so several apps in one process never collide.
        self.registry: CollectorRegistry | None = None if self.multiprocess else CollectorRegistry()
        self.groups = set(model_groups) | set(deployment_groups.values())
        self.deployment_groups = dict(deployment_groups)  # deployment id -> its model group
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        reg = self.registry
        p = PREFIX
        self.requests = Counter(
            f"{p}_requests",
            "Requests by model group, deployment, endpoint and HTTP status.",
            ["model_group", "deployment", "endpoint", "status"],
            registry=reg,
        )
        self.request_seconds = Histogram(
            f"{p}_request_duration_seconds",
            "Whole request, first byte in to last byte out.",
            ["model_group", "endpoint"],
            buckets=REQUEST_BUCKETS,
            registry=reg,
        )
        self.upstream_seconds = Histogram(
            f"{p}_upstream_duration_seconds",
            "Time spent waiting on the provider.",
            ["model_group", "deployment"],
            buckets=REQUEST_BUCKETS,
            registry=reg,
        )
        self.overhead_seconds = Histogram(
            f"{p}_gateway_overhead_seconds",
            "Request time minus upstream time.",
            ["endpoint"],
            buckets=OVERHEAD_BUCKETS,
            registry=reg,
        )
        self.in_flight = Gauge(
            f"{p}_in_flight_requests",
            "Requests being served right now.",
            registry=reg,
            multiprocess_mode="livesum",
        )
        self.retries = Counter(f"{p}_retries", "Retries made.", ["model_group"], registry=reg)
        self.fallbacks = Counter(
            f"{p}_fallbacks", "Fallbacks to another model group.", ["model_group"], registry=reg
        )
        self.cooldowns = Counter(
            f"{p}_cooldowns",
            "Deployments put in cooldown.",
            ["model_group", "deployment"],
            registry=reg,
        )
        self.guardrail_blocks = Counter(
            f"{p}_guardrail_blocks",
            "Requests refused by a guardrail.",
            ["guardrail", "endpoint"],
            registry=reg,
        )
        self.images = Counter(
            f"{p}_images_generated",
            "Images returned to clients.",
            ["model_group", "deployment"],
            registry=reg,
        )
        self.spend = Counter(
            f"{p}_spend_usd", "Spend in US dollars.", ["model_group"], registry=reg
        )
        self.callback_dropped = Counter(
            f"{p}_callback_records_dropped",
            "Callback records dropped (queue full or refused).",
            ["callback"],
            registry=reg,
        )
        # Unlabelled, so it is exported (as 0) from the start and an alert on its increase
        # works before the first refusal; the reason is in the dead-letter file and the log.
        self.spend_dead_lettered = Counter(
            f"{p}_spend_records_dead_lettered",
            "Spend records (or budget resets) the database refused, set aside in the spend "
            "journal directory's dead-letter file instead of being stored.",
            registry=reg,
        )

    def group_label(self, group: str | None) -> str:
        if not group:
            return ""
        return group if group in self.groups else UNKNOWN

    def _child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, looked up once per label set (all are bounded)."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def observe(self, ctx: RequestContext) -> None:
        """Post-call hook."""
        group = self.group_label(ctx.model_group)
        deployment = ctx.deployment_id or ""
        child = self._child
        child(self.requests, group, deployment, ctx.endpoint, str(ctx.status)).inc()
        child(self.request_seconds, group, ctx.endpoint).observe(ctx.latency)
        if ctx.deployment_id:
            child(self.upstream_seconds, group, deployment).observe(ctx.upstream_seconds)
            child(self.overhead_seconds, ctx.endpoint).observe(ctx.overhead)
        # retries and fallbacks count against the group the client asked for (a fallback
        # answer is served, and counted in requests_total, by another group)
        asked = self.group_label(ctx.requested_model or ctx.model_group)
        if ctx.retries:
            child(self.retries, asked).inc(ctx.retries)
        if ctx.fallbacks:
            child(self.fallbacks, asked).inc(ctx.fallbacks)
        for cooled in ctx.cooldowns or ():
            owner = self.deployment_groups.get(cooled)
            self.cooldowns.labels(self.group_label(owner) if owner else group, cooled).inc()
        if ctx.guardrail_blocked is not None:
            self.guardrail_blocks.labels(ctx.guardrail_blocked, ctx.endpoint).inc()
        if ctx.images:
            child(self.images, group, deployment).inc(ctx.images)
        if ctx.cost:
            child(self.spend, group).inc(ctx.cost)

    def exposition(self) -> bytes:
        """The text exposition (reads files in multiprocess mode: call off the event loop)."""
        if self.registry is not None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        prom_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)

    def worker_exit(self) -> None:
        if self.multiprocess:
            prom_multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
