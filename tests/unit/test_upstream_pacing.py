"""Answers take turns (proxy.server.pacing) only while many calls are in flight: a wave of
slow calls can come back together then; with few, pacing would only cost."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from proxy.attempt import caller as upstream_mod
from proxy.attempt.caller import Caller
from proxy.context import RequestContext
from proxy.credentials.base import NoCredentials
from proxy.upstream_request import UpstreamRequest, UpstreamResponse
from tests.unit.routing.helpers import make_config


class HeldTransport:
    """Every call waits until released, so the test decides how many are in flight."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = 0

    async def send(self, req: UpstreamRequest, timeout: float, provider: str) -> UpstreamResponse:
        self.started += 1
        await self.release.wait()
        return UpstreamResponse(200, {}, b"{}")


class Mapper:
    def map_error(self, response: UpstreamResponse, deployment: Any) -> Any:
        raise AssertionError("no error expected")


@pytest.mark.parametrize(("calls", "paced"), [(3, 0), (6, 3)])
async def test_answers_are_paced_only_with_many_calls_in_flight(
    monkeypatch: pytest.MonkeyPatch, calls: int, paced: int
) -> None:
    monkeypatch.setattr(upstream_mod, "PACE_ABOVE", 3)
    (deployment,) = make_config({"g": [{}]}).deployments
    transport = HeldTransport()
    waits: list[int] = []
    up: Caller

    async def pace() -> None:
        waits.append(up.in_flight)

    # Test doubles, duck-typed
    up = Caller(transport, {deployment.id: NoCredentials()}, pace=pace)  # type: ignore[arg-type]

    async def one() -> None:
        request = UpstreamRequest.post_json("http://upstream.invalid/v1/x", {})
        await up.send_all(RequestContext("images"), deployment, [request], Mapper())

    tasks = [asyncio.create_task(one()) for _ in range(calls)]
    while transport.started < calls:
        await asyncio.sleep(0)
    assert up.in_flight == calls
    transport.release.set()
    await asyncio.gather(*tasks)
    # each answer counts the calls still out after it: paced while 3 or more remain
    assert len(waits) == paced and all(n >= 3 for n in waits)
    assert up.in_flight == 0
