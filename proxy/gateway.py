"""Everything a request needs, built once from the config and shared by the routers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from proxy.attempt.upstream import Upstream
from proxy.auth import Authenticator
from proxy.config import ProxyConfig
from proxy.context import RequestContext
from proxy.credentials.base import Credentials
from proxy.hooks import Hooks
from proxy.providers import mock
from proxy.providers.registry import PROVIDERS
from proxy.routing.router import Router
from proxy.state.build import build_state
from proxy.transport import Transport

Pricer = Callable[[RequestContext], None]


@dataclass
class Gateway:
    config: ProxyConfig
    auth: Authenticator
    router: Router
    transport: Transport
    upstream: Upstream
    hooks: Hooks = field(default_factory=Hooks)
    pricer: Pricer | None = None

    @classmethod
    def build(cls, config: ProxyConfig) -> Gateway:
        transport = Transport(local={"mock": mock.handle})
        mock.preload(config)
        credentials: dict[str, Credentials] = {
            d.id: PROVIDERS[d.provider].credentials(d) for d in config.deployments if d.available
        }
        hooks = Hooks()
        upstream = Upstream(transport, credentials, pace=hooks.quiet.take_turn)
        router = Router(config, upstream, state=build_state(config))
        hooks.pre_call.append(router.fallbacks.take_from_request)
        auth = Authenticator(
            config.general.master_key, open_access=config.general.allow_unauthenticated_access
        )
        return cls(
            config=config,
            auth=auth,
            router=router,
            transport=transport,
            upstream=upstream,
            hooks=hooks,
        )

    def price(self, ctx: RequestContext) -> None:
        if self.pricer is not None:
            self.pricer(ctx)

    async def aclose(self) -> None:
        await self.transport.aclose()
