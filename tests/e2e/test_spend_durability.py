"""No spend record is lost: SIGTERM under load, and a database that is down, on SQLite and
(when TEST_DATABASE_URL names one) PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from proxy.db.database import LogFilter, Store
from proxy.db.journal import decode_line
from proxy.db.records import SpendRecord
from tests.conftest import MASTER_KEY
from tests.e2e.conftest import store_settings
from tests.fakes.server import FakeUpstream, Received, free_port

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}


async def slow_image(r: Received) -> Any:
    await asyncio.sleep(0.4)  # upstream latency: keeps requests in flight at SIGTERM
    return {"created": 1, "data": [{"url": "https://cdn.example/i.png"}]}


def config(base: str, general: dict[str, Any]) -> dict[str, Any]:
    return {
        "model_list": [
            {
                "model_name": "slow",
                "litellm_params": {
                    "model": "openai/dall-e-2",
                    "api_key": "sk-up",
                    "api_base": f"{base}/slow/v1",
                },
            },
            {"model_name": "mock", "litellm_params": {"model": "mock/placeholder"}},
        ],
        "general_settings": {"spend_flush_interval": 0.05, **general},
    }


async def test_sigterm_under_load_loses_no_record(
    proxy_factory: Any, fake: FakeUpstream, database: Store
) -> None:
    fake.route("POST", "/slow/v1/images/generations", slow_image)
    proxy = proxy_factory(config(fake.base, store_settings(database)))
    sent = 40

    async def one(client: httpx.AsyncClient, i: int) -> str | None:
        try:
            r = await client.post(
                "/v1/images/generations",
                headers=AUTH,
                json={"model": "slow" if i % 4 else "mock", "prompt": f"p{i}", "size": "256x256"},
            )
        except httpx.TransportError:
            return None  # refused once shutdown began: never reached the app
        return r.headers["x-request-id"]

    limits = httpx.Limits(max_connections=sent)
    async with httpx.AsyncClient(base_url=proxy.base_url, timeout=30, limits=limits) as client:
        tasks = [asyncio.create_task(one(client, i)) for i in range(sent)]
        deadline = time.monotonic() + 15
        while len(fake.received()) < 10:  # wait until requests are in flight upstream
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        stopper = threading.Thread(target=proxy.stop)  # SIGTERM, then wait for the exit
        stopper.start()
        answered = [rid for rid in await asyncio.gather(*tasks) if rid is not None]
        await asyncio.to_thread(stopper.join, 30)
    # uvicorn re-raises SIGTERM after its graceful shutdown: -15 is a clean exit (-9 would be
    # the harness killing a proxy that did not stop)
    assert proxy.proc.returncode in (0, -15), proxy.logs()
    assert len(answered) >= 10
    rows, total = await database.query_logs(LogFilter(), 0, 1000)
    assert total == len(answered), f"{sent} sent, {len(answered)} answered, {total} stored"
    assert {r.request_id for r in rows} == set(answered)


async def test_database_down_keeps_serving_and_loses_nothing(
    proxy_factory: Any, fake: FakeUpstream, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/test"  # nothing listens there
    settings = {"spend_journal_dir": str(journal)}
    proxy = proxy_factory(config(fake.base, {"database_url": dead, **settings}))
    ids = []
    with httpx.Client(base_url=proxy.base_url, timeout=30, headers=AUTH) as client:
        for i in range(7):
            r = client.post(
                "/v1/images/generations", json={"model": "mock", "prompt": f"p{i}", "size": "8x8"}
            )
            assert r.status_code == 200 and r.headers["x-response-cost"] == "0.0"
            ids.append(r.headers["x-request-id"])
        ready = client.get("/health/readiness").json()
        assert "database" in ready["degraded"]
        r = client.get("/spend/logs")
        assert r.status_code == 503 and r.json()["error"]["code"] == "store_unavailable"
        # a virtual key cannot be verified without the database: 503, not 401
        r = client.post(
            "/v1/images/generations",
            headers={"authorization": "Bearer sk-abc"},
            json={"model": "mock", "prompt": "p"},
        )
        assert r.status_code == 503
    proxy.stop()
    assert "database" in proxy.logs() and "sk-abc" not in proxy.logs()
    names: dict[str, list[str]] = {}
    journaled = [
        decode_line(line, names)
        for segment in journal.glob("spend-journal-*.jsonl")
        for line in segment.read_bytes().splitlines()
    ]
    records = [found[1] for found in journaled if found and found[0] == "record"]
    ids_journaled = {r.request_id for r in records if isinstance(r, SpendRecord)}
    assert set(ids) < ids_journaled  # and the 503's record

    # the next start, with a working database, writes the journaled records first
    revived = proxy_factory(config(fake.base, settings))
    with httpx.Client(base_url=revived.base_url, timeout=30, headers=AUTH) as client:
        deadline = time.monotonic() + 15
        while True:
            got = {r["request_id"] for r in client.get("/spend/logs").json()["data"]}
            if set(ids) <= got:
                break
            assert time.monotonic() < deadline, "journaled records never arrived"
            time.sleep(0.05)
    assert len(ids) + 1 == len(got)  # plus the 503 for the unverifiable key
    revived.stop()
    assert list(journal.iterdir()) == []
