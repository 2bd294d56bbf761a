"""Wiring: build the guardrails named in the config and register the pre-call hook."""

from __future__ import annotations

from typing import TYPE_CHECKING

from proxy.gateway import Gateway
from proxy.guardrails.engine import GuardrailEngine
from proxy.guardrails.spec import GuardrailSpec, parse_guardrails

if TYPE_CHECKING:
    import httpx
    from starlette.applications import Starlette

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


def install_guardrails(app: Starlette, gateway: Gateway) -> GuardrailEngine:
    specs = parse_guardrails(gateway.config.raw.get("guardrails"))
    http = http_client(specs)
    engine = GuardrailEngine(specs, http)
    # Always installed, even with no guardrails configured: the hook also removes the
    # request's "guardrails" field and refuses unknown names.
    gateway.hooks.pre_call.append(engine.pre_call)
    app.state.guardrails = engine
    if http is not None:
        app.state.on_shutdown.append(http.aclose)
    return engine
