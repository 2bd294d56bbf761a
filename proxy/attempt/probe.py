"""A health probe of one deployment that costs nothing: a ``GET`` of the URL a request to it
would ``POST`` to, signed with its credentials as a real call would be.

Every provider's image or chat API generates only on ``POST``; a ``GET`` of the same URL is
answered without generating (404, 405, 400, ...). The probe is healthy when the upstream
answers at all, below 500 and without refusing the credentials (401, 403, 407): that proves
the host resolves and is reachable, TLS holds and, for the providers that check the key before
the route, that the key is accepted. Nothing of the answer is kept but its status.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from proxy.attempt.caller import Caller
from proxy.config import Deployment
from proxy.errors import ProxyError
from proxy.providers.registry import PROVIDERS
from proxy.schemas import ChatRequest, ImageRequest
from proxy.upstream_request import UpstreamRequest

REFUSED = (401, 403, 407)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    deployment: Deployment
    status: int | None  # the upstream's answer; None when there was none
    error: str | None  # None: healthy

    @property
    def healthy(self) -> bool:
        return self.error is None


def probe_request(deployment: Deployment) -> UpstreamRequest | None:
    """The ``GET`` (URL and query, no body, no headers yet) or None when no adapter builds a
    request for this deployment without a real one."""
    spec = PROVIDERS[deployment.provider]
    built: UpstreamRequest | None = None
    try:
        if spec.images is not None:
            image = ImageRequest.from_body({"model": deployment.model_name, "prompt": "probe"})
            built = spec.images.build(image, deployment)[0]
        elif spec.chat is not None:
            messages = [{"role": "user", "content": "probe"}]
            chat = ChatRequest.from_body({"model": deployment.model_name, "messages": messages})
            built = spec.chat.build(chat, deployment)
    except (ProxyError, ValueError, KeyError, IndexError):
        return None
    if built is None:
        return None
    return UpstreamRequest("GET", built.url, params=built.params)


async def probe(caller: Caller, deployment: Deployment, timeout: float) -> ProbeResult:
    if not deployment.available:
        missing = ", ".join(name for name, _ in deployment.missing_env)
        return ProbeResult(deployment, None, f"not configured: {missing} not set")
    request = probe_request(deployment)
    if request is None:
        return ProbeResult(deployment, None, "no probe URL for this deployment")
    try:
        async with asyncio.timeout(timeout):
            await caller.credentials[deployment.id].authorize(request)
            response = await caller.transport.send(request, timeout, deployment.provider)
    except TimeoutError:
        return ProbeResult(deployment, None, f"no answer within {timeout:g} s")
    except ProxyError as exc:
        return ProbeResult(deployment, None, f"{exc.error_class}: unreachable")
    except Exception as exc:  # a credential that cannot be minted, a refused connection
        return ProbeResult(deployment, None, f"{type(exc).__name__}: unreachable")
    if response.status in REFUSED:
        return ProbeResult(deployment, response.status, f"credentials refused ({response.status})")
    if response.status >= 500:
        return ProbeResult(deployment, response.status, f"upstream error ({response.status})")
    return ProbeResult(deployment, response.status, None)


async def probe_all(
    caller: Caller, deployments: list[Deployment], timeout: float
) -> list[ProbeResult]:
    """Every deployment at once, each bounded by ``timeout``."""
    return list(await asyncio.gather(*(probe(caller, d, timeout) for d in deployments)))
