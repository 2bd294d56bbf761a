"""Build the guardrails the config names, with the HTTP client the service-calling ones share."""

from __future__ import annotations

from typing import TYPE_CHECKING

from proxy.config import ProxyConfig
from proxy.guardrails.engine import GuardrailEngine
from proxy.guardrails.spec import GuardrailSpec, parse_guardrails
from proxy.lifecycle import Lifecycle

if TYPE_CHECKING:
    import httpx

MAX_CONNECTIONS = 100


def http_client(specs: tuple[GuardrailSpec, ...]) -> httpx.AsyncClient | None:
    """The pooled client the service-calling guardrails share; None (and no httpx) without one."""
    if not any(s.cls.needs_http for s in specs):
        return None
    import httpx

    return httpx.AsyncClient(
        limits=httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=20),
        follow_redirects=False,
        trust_env=False,
        headers={"user-agent": "image-proxy-guardrails"},
    )


def build_guardrails(config: ProxyConfig) -> tuple[GuardrailEngine, Lifecycle]:
    """The engine (always: with no guardrail configured its pre-call stage still removes the
    request's "guardrails" field and refuses unknown names) and what closes its client."""
    specs = parse_guardrails(config.raw.get("guardrails"))
    http = http_client(specs)
    engine = GuardrailEngine(specs, http)
    return engine, Lifecycle(shutdown=(http.aclose,) if http is not None else ())
