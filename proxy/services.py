"""What the application is made of, built once by ``proxy.app.create_app`` and frozen.

``Services`` holds every long-lived object a route may need; the routes read it as
``request.app.services``. Its ``Lifecycle`` lists what starts with the app, what stops with
it (in reverse order) and the checks behind ``/health/readiness``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from proxy.blob import MemoryBudget
from proxy.db.database import Store
from proxy.db.writer import SpendWriter
from proxy.guardrails.engine import GuardrailEngine
from proxy.images.gallery_keeper import GalleryKeeper
from proxy.images.service import Delivery
from proxy.keys.accounting import Accounting
from proxy.keys.service import KeyService
from proxy.lifecycle import Lifecycle
from proxy.observability.metrics import Metrics
from proxy.observability.settings import ObservabilitySettings
from proxy.pipeline import Pipeline

if TYPE_CHECKING:  # the redis client library loads only when a Redis is configured
    from proxy.keys.replicas import ReplicaKeys


@dataclass(frozen=True, slots=True)
class Services:
    pipeline: Pipeline
    delivery: Delivery
    store: Store
    spend_writer: SpendWriter
    keys: KeyService
    accounting: Accounting
    metrics: Metrics
    observability: ObservabilitySettings
    guardrails: GuardrailEngine
    replica_keys: ReplicaKeys | None
    lifecycle: Lifecycle
    upload_memory: MemoryBudget  # upload bytes held in memory, all requests together
    gallery: GalleryKeeper | None = None  # the console gallery (None: it is off)

    def degraded(self) -> list[str]:
        """The readiness checks that fail now."""
        return [name for name, check in self.lifecycle.readiness if not check()]
