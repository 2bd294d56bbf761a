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


MAX_WILDCARD_CREDENTIALS = 4096


class CredentialsTable(dict[str, Credentials]):
    """Each usable deployment's credentials (static key, Azure key, Google OAuth, AWS SigV4),
    made at start-up; a wildcard route's concrete deployment's are made the first time it
    calls (at most ``MAX_WILDCARD_CREDENTIALS`` kept)."""

    def __init__(self, config: ProxyConfig) -> None:
        super().__init__(
            (d.id, PROVIDERS[d.provider].credentials(d)) for d in config.deployments if d.available
        )
        self._config = config
        self._made: list[str] = []

    def __missing__(self, deployment_id: str) -> Credentials:
        deployment = self._config.wildcards.deployment(deployment_id)
        if deployment is None or not deployment.available:
            raise KeyError(deployment_id)
        if len(self._made) >= MAX_WILDCARD_CREDENTIALS:
            for made in self._made:
                self.pop(made, None)
            self._made.clear()
        credentials = self[deployment_id] = PROVIDERS[deployment.provider].credentials(deployment)
        self._made.append(deployment_id)
        return credentials


def credentials_for(config: ProxyConfig) -> CredentialsTable:
    return CredentialsTable(config)
