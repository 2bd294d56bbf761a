"""The adapter contract's optional capabilities are named protocols, checked with
``isinstance``: an adapter or credentials object without one is treated as not having it."""

from __future__ import annotations

from typing import Any

import pytest

from proxy.attempt.caller import Caller
from proxy.config import Deployment
from proxy.configure import parse_config
from proxy.context import RequestContext
from proxy.credentials.base import HeaderKey, NoCredentials, RevocableCredentials
from proxy.credentials.google import GoogleOAuth
from proxy.errors import ProxyError, UpstreamError
from proxy.providers.base import FanOutChat
from proxy.providers.google.gemini_chat import GeminiChat
from proxy.providers.openai.chat import OpenAIChat
from proxy.providers.registry import PROVIDERS
from proxy.upstream_request import UpstreamRequest, UpstreamResponse


def test_fan_out_is_a_capability_only_gemini_chat_has() -> None:
    assert isinstance(GeminiChat("gemini"), FanOutChat)
    assert not isinstance(OpenAIChat(), FanOutChat)
    fanning = {name for name, spec in PROVIDERS.items() if isinstance(spec.chat, FanOutChat)}
    assert fanning == {"gemini", "vertex_ai"}


def test_every_image_adapter_declares_its_image_hosts() -> None:
    for name, spec in PROVIDERS.items():
        if spec.images is not None:
            hosts = spec.images.image_hosts
            assert isinstance(hosts, tuple), name
            assert all(isinstance(h, str) and h for h in hosts), name
    assert PROVIDERS["recraft"].images is not None
    assert PROVIDERS["recraft"].images.image_hosts == ("img.recraft.ai",)
    assert PROVIDERS["mock"].images is not None
    assert PROVIDERS["mock"].images.image_hosts == ()


def test_revocable_credentials_are_recognised() -> None:
    assert isinstance(GoogleOAuth({"type": "service_account"}), RevocableCredentials)
    assert not isinstance(HeaderKey("authorization", "Bearer k"), RevocableCredentials)
    assert not isinstance(NoCredentials(), RevocableCredentials)


class _Revocable:
    def __init__(self) -> None:
        self.rejected_requests: list[UpstreamRequest] = []

    async def authorize(self, request: UpstreamRequest) -> None:
        request.headers["authorization"] = "Bearer t"

    def rejected(self, request: UpstreamRequest) -> None:
        self.rejected_requests.append(request)


class _Answers:
    """A sender answering every request with one status."""

    def __init__(self, status: int) -> None:
        self.status = status

    async def send(self, req: UpstreamRequest, timeout: float, provider: str) -> UpstreamResponse:
        return UpstreamResponse(self.status, {}, b"{}")

    async def open_stream(self, *args: Any) -> Any:
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


class _Mapper:
    def map_error(self, response: UpstreamResponse, deployment: Deployment) -> ProxyError:
        return UpstreamError(f"status {response.status}", provider=deployment.provider)


def _deployment() -> Deployment:
    config = parse_config(
        {
            "model_list": [
                {"model_name": "m", "litellm_params": {"model": "openai/x", "api_key": "k"}}
            ]
        },
        env={},
    )
    return config.deployments[0]


async def _send(upstream: Caller, status: int) -> UpstreamRequest:
    request = UpstreamRequest.post_json("https://x/v1/images/generations", {})
    d = _deployment()
    if status >= 400:
        with pytest.raises(UpstreamError):
            await upstream.send_all(RequestContext("images"), d, [request], _Mapper())
    else:
        await upstream.send_all(RequestContext("images"), d, [request], _Mapper())
    return request


@pytest.mark.parametrize("status", [401, 403, 200])
async def test_only_a_401_reaches_revocable_credentials(status: int) -> None:
    revocable = _Revocable()
    upstream = Caller(_Answers(status), {_deployment().id: revocable})
    request = await _send(upstream, status)
    assert revocable.rejected_requests == ([request] if status == 401 else [])


async def test_a_401_on_credentials_that_cannot_revoke_is_only_an_error() -> None:
    credentials = HeaderKey("authorization", "Bearer k")
    await _send(Caller(_Answers(401), {_deployment().id: credentials}), 401)
