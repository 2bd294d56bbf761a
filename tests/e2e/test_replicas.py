"""Many replicas, one gateway: three proxy processes on loopback (one of them running two
uvicorn workers) sharing the machine's Redis and PostgreSQL, driven through the official SDK.

Every run uses its own Redis key prefix and its own table prefix, so parallel runs on one
machine never see each other's counters or keys. The Redis-outage test runs its own
``redis-server`` on a free port and stops it mid-run.
"""

from __future__ import annotations

import base64
import copy
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest
from starlette.responses import JSONResponse

from tests.conftest import MASTER_KEY
from tests.fakes.proxy_process import ProxyProcess
from tests.fakes.redis_server import (
    SHARED_REDIS,
    RedisServer,
    redis_server_problem,
    shared_redis_problem,
    unique_prefix,
)
from tests.fakes.server import FakeUpstream, Received

PNG_B64 = base64.b64encode(b"\x89PNG\r\n\x1a\nreplicas").decode()
UPSTREAM_KEY = "sk-upstream-replicas-5e2b"


def image_ok(r: Received | None = None) -> dict[str, Any]:
    return {"created": 1, "data": [{"b64_json": PNG_B64}]}


def deployment(name: str, base: str, path: str, dep_id: str, **params: Any) -> dict[str, Any]:
    return {
        "model_name": name,
        "litellm_params": {"model": "openai/dall-e-3", "api_key": UPSTREAM_KEY,
                           "api_base": f"{base}/{path}/v1", **params},
        "model_info": {"id": dep_id},
    }


def until(check: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout}s")
        time.sleep(0.02)


def start_replicas(
    factory: Callable[..., ProxyProcess], config: dict[str, Any], n: int = 3
) -> list[ProxyProcess]:
    """``n`` proxies on one config; the last runs two uvicorn workers (workers share Redis
    exactly as replicas do)."""
    return [
        factory(copy.deepcopy(config), name=f"replica{i}",
                args=["--workers", "2"] if i == n - 1 and n > 1 else None)
        for i in range(n)
    ]


def client(proxy: ProxyProcess, key: str = MASTER_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=key, max_retries=0)


def readiness(proxy: ProxyProcess) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{proxy.base_url}/health/readiness", timeout=5).json()
    return body


@pytest.fixture(scope="module")
def shared_redis() -> str:
    problem = shared_redis_problem()
    if problem:
        pytest.skip(problem)
    return SHARED_REDIS


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    problem = redis_server_problem()
    if problem:
        pytest.skip(problem)
    server = RedisServer().start()
    yield server
    server.stop()


# --- cooldowns ----------------------------------------------------------------------------


def test_a_deployment_cooled_down_through_one_replica_is_skipped_by_the_others(
    proxy_factory: Any, fake: FakeUpstream, shared_redis: str
) -> None:
    base = fake.base
    config = {
        "model_list": [
            # "bad" is tried first everywhere (weight), until it rests
            deployment("pair", base, "bad", "pair-bad", weight=1),
            deployment("pair", base, "good", "pair-good", weight=0),
        ],
        "router_settings": {"redis_url": shared_redis, "redis_key_prefix": unique_prefix(),
                            "cooldown_time": 120},
    }
    fake.route("POST", "/bad/v1/images/generations",
               lambda r: JSONResponse({"error": {"message": "invalid key"}}, 401))
    fake.route("POST", "/good/v1/images/generations", image_ok)
    replicas = start_replicas(proxy_factory, config)

    raw = client(replicas[0]).images.with_raw_response.generate(model="pair", prompt="fox")
    assert raw.headers["x-model-id"] == "pair-good"
    assert len(fake.received("/bad/v1/images/generations")) == 1  # the 401 cooled it

    for proxy in replicas[1:]:
        cooldowns = httpx.get(f"{proxy.base_url}/router/cooldowns",
                              headers={"authorization": f"Bearer {MASTER_KEY}"}).json()
        bad = next(d for d in cooldowns["deployments"] if d["deployment_id"] == "pair-bad")
        assert bad["cooling_down"] and bad["cooldown"]["remaining_seconds"] > 60
        for _ in range(4):
            raw = client(proxy).images.with_raw_response.generate(model="pair", prompt="fox")
            assert raw.headers["x-model-id"] == "pair-good"
    assert len(fake.received("/bad/v1/images/generations")) == 1  # nobody tried it again
    assert len(fake.received("/good/v1/images/generations")) == 9


# --- Redis outage -------------------------------------------------------------------------


def test_redis_stopped_mid_run_requests_keep_succeeding_and_redis_is_used_again(
    proxy_factory: Any, fake: FakeUpstream, own_redis: RedisServer
) -> None:
    base = fake.base
    config = {
        "model_list": [deployment("img", base, "img", "img-1", max_parallel_requests=50)],
        "router_settings": {"redis_url": own_redis.url, "redis_key_prefix": unique_prefix(),
                            "redis_retry_interval": 0.2},
    }
    fake.route("POST", "/img/v1/images/generations", image_ok)
    replicas = start_replicas(proxy_factory, config)
    for proxy in replicas:
        assert readiness(proxy)["status"] == "ok"

    def round_of_requests(count: int) -> None:
        for i in range(count):
            proxy = replicas[i % len(replicas)]
            raw = client(proxy).images.with_raw_response.generate(model="img", prompt="fox")
            assert raw.status_code == 200

    round_of_requests(6)
    own_redis.stop()
    round_of_requests(9)  # every replica notices on its own, none fails a request
    for proxy in replicas:
        state = readiness(proxy)
        assert state["status"] == "degraded" and "redis" in state["degraded"]

    own_redis.start()
    for proxy in replicas:
        until(lambda p=proxy: readiness(p)["status"] == "ok", what=f"{proxy.port} ready again")
    round_of_requests(6)
    assert len(fake.received("/img/v1/images/generations")) == 21
