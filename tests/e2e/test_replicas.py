"""Many replicas, one gateway: three proxy processes on loopback (one of them running two
uvicorn workers) sharing the machine's Redis and PostgreSQL, driven through the official SDK.

Every run uses its own Redis key prefix and its own table prefix, so parallel runs on one
machine never see each other's counters or keys. The Redis-outage test runs its own
``redis-server`` on a free port and stops it mid-run; the ``kill -9`` test runs two more
replicas with a 2 s ``redis_lease_ttl``.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

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
        "litellm_params": {
            "model": "openai/dall-e-3",
            "api_key": UPSTREAM_KEY,
            "api_base": f"{base}/{path}/v1",
            **params,
        },
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
    """``n`` proxies on one config, started side by side; the last runs two uvicorn workers
    (workers share Redis exactly as replicas do)."""

    def start(i: int) -> ProxyProcess:
        args = ["--workers", "2"] if i == n - 1 and n > 1 else None
        return factory(copy.deepcopy(config), name=f"replica{i}", args=args)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(start, range(n)))


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


PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
DALLE_COST = 0.04  # openai/dall-e-3, standard, 1024x1024


def database_url() -> str:
    return os.environ.get("TEST_DATABASE_URL") or PG_DEFAULT


@pytest.fixture(scope="module")
def database() -> Iterator[tuple[str, str]]:
    """(url, table prefix): the machine's PostgreSQL, tables of this test only."""
    url = database_url()
    if not url.startswith(("postgresql://", "postgres://")):
        pytest.skip(f"TEST_DATABASE_URL={url!r} is not a PostgreSQL URL; replicas share one")
    parsed = urlsplit(url)
    try:
        socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 5432), 1).close()
    except OSError as exc:
        pytest.skip(
            f"no PostgreSQL answers at {parsed.hostname}:{parsed.port} ({exc}); "
            "set TEST_DATABASE_URL"
        )
    yield from tables_of(url)


@pytest.fixture
def own_tables(database: tuple[str, str]) -> Iterator[tuple[str, str]]:
    """(url, table prefix) of this test alone: a spend log no other test has written to."""
    yield from tables_of(database[0])


def tables_of(url: str) -> Iterator[tuple[str, str]]:
    """(url, a new table prefix), the tables dropped when the caller is done with them."""
    prefix = f"r{uuid.uuid4().hex[:10]}_"
    yield url, prefix
    from proxy.db.database import Store

    async def drop() -> None:
        store = Store(url, prefix)
        try:
            await store.drop_all()
        finally:
            await store.aclose()

    asyncio.run(drop())


def keyed_config(
    base: str, redis_url: str, database: tuple[str, str], **router: Any
) -> dict[str, Any]:
    url, prefix = database
    return {
        "model_list": [
            deployment("dalle", base, "dalle", "dalle-1", max_parallel_requests=50),
            deployment("slow-dalle", base, "slow", "slow-1"),
            deployment("parked", base, "parked", "parked-1"),  # answers when a test says so
            {"model_name": "mock", "litellm_params": {"model": "mock/placeholder"}},
            # "bad" is tried first everywhere (weight), until it rests
            deployment("pair", base, "bad", "pair-bad", weight=1),
            deployment("pair", base, "good", "pair-good", weight=0),
        ],
        "general_settings": {
            "database_url": url,
            "database_table_prefix": prefix,
            "key_cache_ttl": 600,
            "spend_flush_interval": 0.1,
        },
        "router_settings": {"redis_url": redis_url, "redis_key_prefix": unique_prefix(), **router},
    }


def admin(proxy: ProxyProcess, method: str, path: str, **kwargs: Any) -> Any:
    r = httpx.request(
        method,
        f"{proxy.base_url}{path}",
        timeout=10,
        headers={"authorization": f"Bearer {MASTER_KEY}"},
        **kwargs,
    )
    assert r.status_code == 200, r.text
    return r.json()


def generate_key(proxy: ProxyProcess, **fields: Any) -> str:
    key: str = admin(proxy, "POST", "/key/generate", json=fields)["key"]
    return key


def answers(proxy: ProxyProcess, key: str, model: str, status: int) -> Callable[[], bool]:
    """A check for ``until``: an image request with ``key`` for ``model`` gets ``status``."""
    return lambda: image_request(proxy, key, model).status_code == status


def degraded_by_redis(proxy: ProxyProcess) -> Callable[[], bool]:
    return lambda: "redis" in readiness(proxy)["degraded"]


def ready(proxy: ProxyProcess) -> Callable[[], bool]:
    return lambda: readiness(proxy)["status"] == "ok"


def image_request(proxy: ProxyProcess, key: str, model: str = "dalle") -> httpx.Response:
    return httpx.post(
        f"{proxy.base_url}/v1/images/generations",
        timeout=30,
        headers={"authorization": f"Bearer {key}"},
        json={"model": model, "prompt": "fox", "size": "1024x1024", "quality": "standard"},
    )


def spread(replicas: list[ProxyProcess], weights: list[int], total: int) -> list[ProxyProcess]:
    """``total`` targets, replica i getting a share ``weights[i]``, interleaved."""
    pool = [p for p, w in zip(replicas, weights, strict=True) for _ in range(w)]
    return [pool[i % len(pool)] for i in range(total)]


def send_all(targets: list[ProxyProcess], key: str, model: str) -> list[httpx.Response]:
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda p: image_request(p, key, model), targets))


def spend_records(proxy: ProxyProcess, key: str) -> int:
    body = admin(proxy, "GET", "/spend/logs", params={"key": key, "page_size": 1})
    return int(body["total"])


@pytest.fixture(scope="module")
def replicas(
    database: tuple[str, str], shared_redis: str, upstream: FakeUpstream, proxy_factory: Any
) -> list[ProxyProcess]:
    """Three replicas on the machine's Redis and PostgreSQL, for every test but the outage."""
    return start_replicas(
        proxy_factory, keyed_config(upstream.base, shared_redis, database, cooldown_time=120)
    )


# --- cooldowns ----------------------------------------------------------------------------


def test_a_deployment_cooled_down_through_one_replica_is_skipped_by_the_others(
    replicas: list[ProxyProcess], fake: FakeUpstream
) -> None:
    fake.route(
        "POST",
        "/bad/v1/images/generations",
        lambda r: JSONResponse({"error": {"message": "invalid key"}}, 401),
    )
    fake.route("POST", "/good/v1/images/generations", image_ok)

    raw = client(replicas[0]).images.with_raw_response.generate(model="pair", prompt="fox")
    assert raw.headers["x-model-id"] == "pair-good"
    assert len(fake.received("/bad/v1/images/generations")) == 1  # the 401 cooled it

    for proxy in replicas[1:]:
        cooldowns = httpx.get(
            f"{proxy.base_url}/router/cooldowns", headers={"authorization": f"Bearer {MASTER_KEY}"}
        ).json()
        bad = next(d for d in cooldowns["deployments"] if d["deployment_id"] == "pair-bad")
        assert bad["cooling_down"] and bad["cooldown"]["remaining_seconds"] > 60
        for _ in range(4):
            raw = client(proxy).images.with_raw_response.generate(model="pair", prompt="fox")
            assert raw.headers["x-model-id"] == "pair-good"
    assert len(fake.received("/bad/v1/images/generations")) == 1  # nobody tried it again
    assert len(fake.received("/good/v1/images/generations")) == 9


def test_key_rpm_limit_holds_across_replicas_however_requests_are_spread(
    replicas: list[ProxyProcess],
) -> None:
    for weights in ([1, 1, 1], [4, 1, 0], [0, 0, 1]):
        key = generate_key(replicas[0], rpm_limit=30)
        answers = send_all(spread(replicas, weights, 40), key, "mock")
        statuses = sorted(r.status_code for r in answers)
        assert statuses == [200] * 30 + [429] * 10, (weights, statuses)
        refused = next(r for r in answers if r.status_code == 429)
        assert int(refused.headers["retry-after"]) >= 1
        assert "rpm_limit 30" in refused.json()["error"]["message"]


def test_budget_is_not_overshot_across_replicas(
    replicas: list[ProxyProcess], fake: FakeUpstream
) -> None:
    async def slow(r: Received) -> Any:
        await asyncio.sleep(0.2)  # upstream latency, so requests overlap (not synchronisation)
        return {"created": 1, "data": [{"url": "https://cdn.example/i.png"}]}

    fake.route("POST", "/slow/v1/images/generations", slow)
    max_budget = 5 * DALLE_COST
    key = generate_key(replicas[1], max_budget=max_budget)
    answers = send_all(spread(replicas, [1, 1, 1], 24), key, "slow-dalle")
    ok = [r for r in answers if r.status_code == 200]
    refused = [r for r in answers if r.status_code == 429]
    assert len(ok) + len(refused) == 24
    # each replica alone would admit five: together, one budget (plus at most the one request
    # whose reservation was admitted just below the limit)
    assert 5 <= len(ok) <= 6, [r.status_code for r in answers]
    assert all(r.json()["error"]["code"] == "budget_exceeded" for r in refused)
    until(lambda: spend_records(replicas[2], key) == 24, what="every spend record written")
    info = admin(replicas[2], "GET", "/key/info", params={"key": key})["info"]
    assert info["spend"] == pytest.approx(len(ok) * DALLE_COST)
    assert info["spend"] <= max_budget + DALLE_COST + 1e-9


def test_key_deleted_or_changed_on_one_replica_takes_effect_on_the_others(
    replicas: list[ProxyProcess], fake: FakeUpstream
) -> None:
    fake.route("POST", "/dalle/v1/images/generations", image_ok)
    key = generate_key(replicas[0], models=["mock", "dalle"])
    for proxy in replicas:  # every replica has it cached now (key_cache_ttl is 600 s)
        assert image_request(proxy, key, "dalle").status_code == 200

    admin(replicas[0], "POST", "/key/update", json={"key": key, "models": ["mock"]})
    for proxy in replicas[1:]:
        until(
            answers(proxy, key, "dalle", 403), timeout=5, what="the update reached another replica"
        )
        assert image_request(proxy, key, "mock").status_code == 200

    admin(replicas[0], "POST", "/key/delete", json={"keys": [key]})
    started = time.monotonic()
    for proxy in replicas[1:]:
        # the cache TTL is 600 s: only the published change can make this happen
        until(
            answers(proxy, key, "mock", 401), timeout=5, what="the delete reached another replica"
        )
    elapsed = time.monotonic() - started
    print(f"delete reached both other replicas after {elapsed:.3f}s")


# --- Redis outage -------------------------------------------------------------------------


def test_redis_stopped_mid_run_requests_keep_succeeding_and_no_spend_record_is_lost(
    proxy_factory: Any, fake: FakeUpstream, own_redis: RedisServer, database: tuple[str, str]
) -> None:
    fake.route("POST", "/dalle/v1/images/generations", image_ok)
    config = keyed_config(fake.base, own_redis.url, database, redis_retry_interval=0.2)
    replicas = start_replicas(proxy_factory, config)
    try:
        for proxy in replicas:
            assert readiness(proxy)["status"] == "ok"
        key = generate_key(replicas[0], rpm_limit=1000, max_budget=100)

        def round_of_requests(count: int) -> None:
            for i in range(count):
                answer = image_request(replicas[i % len(replicas)], key)
                assert answer.status_code == 200, answer.text

        round_of_requests(6)
        own_redis.stop()
        round_of_requests(9)  # every replica notices on its own, none fails a request
        for proxy in replicas:
            until(degraded_by_redis(proxy), what="readiness degraded")
            assert readiness(proxy)["status"] == "degraded"

        own_redis.start()
        for proxy in replicas:
            until(ready(proxy), what=f"{proxy.port} ready")
        round_of_requests(6)
        assert len(fake.received("/dalle/v1/images/generations")) == 21
        until(lambda: spend_records(replicas[1], key) == 21, what="all 21 spend records")
        info = admin(replicas[2], "GET", "/key/info", params={"key": key})["info"]
        assert info["spend"] == pytest.approx(21 * DALLE_COST)
    finally:
        for proxy in replicas:
            proxy.stop()


# --- a replica killed mid-call --------------------------------------------------------------


class Holding:
    """An upstream that answers only when the test lets it: the calls stay in flight."""

    def __init__(self) -> None:
        self.released = threading.Event()

    async def __call__(self, r: Received) -> dict[str, Any]:
        await asyncio.to_thread(self.released.wait)
        return image_ok(r)


def in_flight(proxy: ProxyProcess, dep_id: str) -> int:
    body = admin(proxy, "GET", "/router/cooldowns")
    return int(next(d["in_flight"] for d in body["deployments"] if d["deployment_id"] == dep_id))


def test_a_replica_killed_mid_call_gives_its_slots_and_reservations_back_within_the_lease(
    proxy_factory: Any, fake: FakeUpstream, shared_redis: str, database: tuple[str, str]
) -> None:
    lease_ttl = 2.0  # router_settings.redis_lease_ttl (default 15 s)
    holding = Holding()
    fake.route("POST", "/held/v1/images/generations", holding)
    config = keyed_config(fake.base, shared_redis, database, redis_lease_ttl=lease_ttl)
    config["model_list"].append(
        deployment("held", fake.base, "held", "held-1", max_parallel_requests=2)
    )
    doomed = proxy_factory(copy.deepcopy(config), name="doomed")
    survivor = proxy_factory(copy.deepcopy(config), name="survivor")
    key = generate_key(doomed, max_budget=2 * DALLE_COST)  # two requests in flight fill it
    calls = ThreadPoolExecutor(max_workers=4)
    try:
        for _ in range(2):
            calls.submit(image_request, doomed, key, "held")
        until(
            lambda: len(fake.received("/held/v1/images/generations")) == 2,
            what="two calls in flight through the doomed replica",
        )
        # the survivor counts them: the deployment is full, the key's budget is reserved
        assert in_flight(survivor, "held-1") == 2
        full = image_request(survivor, MASTER_KEY, "held")
        assert full.status_code == 429, full.text
        assert full.json()["error"]["code"] == "deployments_at_capacity"
        broke = image_request(survivor, key, "mock")
        assert broke.status_code == 429 and broke.json()["error"]["code"] == "budget_exceeded"

        killed = time.monotonic()
        doomed.stop(signal.SIGKILL)  # no shutdown, no release: only the lease can end it
        until(
            lambda: in_flight(survivor, "held-1") == 0,
            timeout=15 * lease_ttl,
            what="the killed replica's slots given back",
        )
        slots_back = time.monotonic() - killed
        until(
            lambda: image_request(survivor, key, "mock").status_code == 200,
            timeout=15 * lease_ttl,
            what="the killed replica's reservations given back",
        )
        budget_back = time.monotonic() - killed
        print(
            f"lease {lease_ttl}s: slots back {slots_back:.2f}s, budget {budget_back:.2f}s "
            "after kill -9"
        )

        # all of it: two calls fit again (the budget admits both), a third is over capacity
        admitted = [calls.submit(image_request, survivor, key, "held") for _ in range(2)]
        until(
            lambda: len(fake.received("/held/v1/images/generations")) == 4,
            what="two calls in flight through the survivor",
        )
        full = image_request(survivor, MASTER_KEY, "held")
        assert full.status_code == 429, full.text
        assert full.json()["error"]["code"] == "deployments_at_capacity"
    finally:
        holding.released.set()
        calls.shutdown(wait=True)
    assert [f.result().status_code for f in admitted] == [200, 200]
    until(lambda: in_flight(survivor, "held-1") == 0, what="the survivor's slots released")


# --- a key's requests in flight, the proxy-wide budget ------------------------------------


def test_a_keys_max_parallel_requests_counts_its_requests_in_flight_on_every_replica(
    replicas: list[ProxyProcess], fake: FakeUpstream
) -> None:
    holding = Holding()
    fake.route("POST", "/parked/v1/images/generations", holding)
    key = generate_key(replicas[0], max_parallel_requests=1)
    calls = ThreadPoolExecutor(max_workers=1)
    try:
        parked = calls.submit(image_request, replicas[0], key, "parked")
        until(
            lambda: len(fake.received("/parked/v1/images/generations")) == 1,
            what="the key's one request in flight through replica 0",
        )
        for proxy in replicas[1:]:  # each alone has none of the key's requests in flight
            refused = image_request(proxy, key, "mock")
            assert refused.status_code == 429, refused.text
            assert refused.headers["retry-after"] == "1"
            error = refused.json()["error"]
            assert error["code"] == "max_parallel_requests_exceeded"
            assert "max_parallel_requests 1" in error["message"]
            assert "across all replicas" in error["message"]
    finally:
        holding.released.set()
        calls.shutdown(wait=True)
    assert parked.result().status_code == 200
    # the slot is given back before the answer leaves replica 0 (post-call hooks run first)
    for proxy in replicas[1:]:
        answer = image_request(proxy, key, "mock")
        assert answer.status_code == 200, answer.text


def test_the_proxy_wide_budget_spent_through_one_replica_refuses_on_another(
    proxy_factory: Any, fake: FakeUpstream, shared_redis: str, own_tables: tuple[str, str]
) -> None:
    fake.route("POST", "/dalle/v1/images/generations", image_ok)
    config = keyed_config(fake.base, shared_redis, own_tables)
    config["litellm_settings"] = {"max_budget": 2 * DALLE_COST, "budget_duration": "30d"}
    spender = proxy_factory(copy.deepcopy(config), name="spender")
    bystander = proxy_factory(copy.deepcopy(config), name="bystander")
    try:
        for _ in range(2):
            answer = image_request(spender, MASTER_KEY, "dalle")
            assert answer.status_code == 200, answer.text
        messages = []
        for proxy in (bystander, spender):
            refused = image_request(proxy, MASTER_KEY, "dalle")
            assert refused.status_code == 429, refused.text
            error = refused.json()["error"]
            assert error["code"] == "budget_exceeded"
            assert "the proxy (litellm_settings.max_budget)" in error["message"]
            assert int(refused.headers["retry-after"]) >= 1
            messages.append(error["message"])
        # the bystander's own view (the spend log at its start: nothing) would have admitted
        assert "across all replicas $0.080000" in messages[0]
        assert len(fake.received("/dalle/v1/images/generations")) == 2
    finally:
        spender.stop()
        bystander.stop()


# --- console sessions -----------------------------------------------------------------------


def test_a_console_session_opened_on_one_replica_is_good_on_every_replica(
    replicas: list[ProxyProcess],
) -> None:
    """Behind a load balancer without sticky sessions: signed in on one replica, signed in on
    all; signed out on another, signed out everywhere at once; a key revoked since sign-in
    stops working through a session on any replica."""
    key = generate_key(replicas[0], models=["mock"])
    first, second, third = (httpx.Client(base_url=p.base_url) for p in replicas)
    signed = first.post("/console/session", json={"key": key})
    assert signed.status_code == 200, signed.text
    cookie = signed.cookies["imgproxy_console"]
    csrf = signed.json()["csrf_token"]
    for browser in (second, third):
        browser.cookies.set("imgproxy_console", cookie)
        seen = browser.get("/console/session").json()
        assert seen["signed_in"] and seen["csrf_token"] == csrf
        listed = browser.get("/v1/models")  # the API, with the session instead of a key
        assert listed.status_code == 200 and [m["id"] for m in listed.json()["data"]] == ["mock"]
    refused = second.request("DELETE", "/console/session")  # no CSRF token
    assert refused.status_code == 403
    out = second.request("DELETE", "/console/session", headers={"x-csrf-token": csrf})
    assert out.status_code == 200
    assert first.get("/console/session").json()["signed_in"] is False
    assert third.get("/v1/models").status_code == 401

    key = generate_key(replicas[1], models=["mock"])
    cookie = first.post("/console/session", json={"key": key}).cookies["imgproxy_console"]
    third.cookies.set("imgproxy_console", cookie)
    assert third.get("/v1/models").status_code == 200
    admin(replicas[2], "POST", "/key/delete", json={"keys": [key]})
    until(lambda: third.get("/v1/models").status_code == 401, what="the revoked key refused")
    for browser in (first, second, third):
        browser.close()
