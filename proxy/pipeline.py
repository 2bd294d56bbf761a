"""Everything a model request needs on its way to the upstream: built once by
``proxy.app.create_app``, frozen."""

from __future__ import annotations

from dataclasses import dataclass

from proxy.attempt.caller import Caller
from proxy.auth import Authenticator
from proxy.config import ProxyConfig
from proxy.context import RequestContext
from proxy.credentials.base import Credentials
from proxy.hooks import Hooks
from proxy.pricing.cost import Pricer
from proxy.providers.registry import PROVIDERS
from proxy.routing.router import Router
from proxy.transport import Sender


@dataclass(frozen=True, slots=True)
class Pipeline:
    config: ProxyConfig
    auth: Authenticator
    router: Router
    transport: Sender
    caller: Caller
    hooks: Hooks
    pricer: Pricer

    def price(self, ctx: RequestContext) -> None:
        self.pricer(ctx)

    async def aclose(self) -> None:
        await self.transport.aclose()


def credentials_for(config: ProxyConfig) -> dict[str, Credentials]:
    """Each usable deployment's credentials (static key, Azure key, Google OAuth, AWS SigV4)."""
    return {d.id: PROVIDERS[d.provider].credentials(d) for d in config.deployments if d.available}
