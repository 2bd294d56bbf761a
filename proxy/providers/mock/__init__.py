"""``mock/<anything>``: an offline provider that renders placeholder PNGs locally.

It exists so the quickstart works with no provider keys and so users can test their own
apps offline. It is not a model: the picture is a flat colour derived from the prompt.

The server (``server.py``) is an httpx handler, served by an in-process ``MockTransport``
(``proxy.transport``) that the app routes the ``mock://`` scheme to. It and httpx load with a
config that has a mock deployment (``preload``), otherwise on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from proxy.config.settings import ProxyConfig

if TYPE_CHECKING:
    import httpx

MOCK_BASE = "mock://local/v1"


async def handle(request: httpx.Request) -> httpx.Response:
    """The ``mock://`` upstream: the handler of the app's in-process ``MockTransport``."""
    from proxy.providers.mock.server import handle as serve

    return await serve(request)


def preload(config: ProxyConfig) -> None:
    """Load the mock server (and with it httpx, which the in-process transport uses)
    at start-up, not on the event loop at the first request, when the config has a mock
    deployment."""
    if any(d.provider == "mock" for d in config.deployments):
        import proxy.providers.mock.server  # noqa: F401
