"""``kill -9`` under load loses no spend: every request whose answer was received has its
spend record after the restart, and every call that was in flight upstream at the kill has
an interrupted record. On SQLite, and on PostgreSQL with Redis when TEST_DATABASE_URL names
one (and the machine's Redis answers).

Several clients send image requests (priced), mock requests and streamed chat requests
through a virtual key while five calls are held open upstream (three plain, two streams
whose first bytes reached the client); the proxy is killed with SIGKILL, restarted on the
same database and journal directory, and the spend logs are read once it has replayed.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.responses import StreamingResponse

from proxy.db.database import LogFilter, Store
from proxy.db.journal import INTERRUPTED, INTERRUPTED_STATUS
from proxy.db.records import SpendRecord
from tests.conftest import MASTER_KEY
from tests.e2e.conftest import store_settings
from tests.fakes.redis_server import SHARED_REDIS, shared_redis_problem, unique_prefix
from tests.fakes.server import FakeUpstream, Received, sse

CLIENTS = 6
ANSWERED_BEFORE_KILL = 120  # a few seconds of load on a loaded 2-core machine
HELD_IMAGES = ("held-image-0", "held-image-1", "held-image-2")  # end users of the held calls
HELD_STREAMS = ("held-stream-0", "held-stream-1")
CHUNK = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "x"}
USAGE = {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100}


def image(r: Received) -> Any:
    return {"created": 1, "data": [{"url": "https://cdn.example/i.png"}]}


def first_chunk() -> bytes:
    delta = {"index": 0, "delta": {"content": "hi"}, "finish_reason": None}
    return sse([(None, {**CHUNK, "choices": [delta]})])


def last_chunks() -> bytes:
    done = {"index": 0, "delta": {}, "finish_reason": "stop"}
    events: list[tuple[str | None, Any]] = [
        (None, {**CHUNK, "choices": [done]}),
        (None, {**CHUNK, "choices": [], "usage": USAGE}),
    ]
    return sse(events, done=True)


def chat_stream(r: Received) -> StreamingResponse:
    return StreamingResponse(iter([first_chunk(), last_chunks()]), media_type="text/event-stream")


class Held:
    """Upstream calls that do not answer until ``release`` (after the kill)."""

    def __init__(self) -> None:
        self.released = threading.Event()

    async def image(self, r: Received) -> Any:
        await asyncio.to_thread(self.released.wait, 120)
        return image(r)

    def stream(self, r: Received) -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            yield first_chunk()
            await asyncio.to_thread(self.released.wait, 120)
            yield last_chunks()

        return StreamingResponse(body(), media_type="text/event-stream")

    def release(self) -> None:
        self.released.set()


@pytest.fixture
def held(fake: FakeUpstream) -> Iterator[Held]:
    calls = Held()
    fake.route("POST", "/fast/v1/images/generations", image)
    fake.route("POST", "/chat/v1/chat/completions", chat_stream)
    fake.route("POST", "/held/v1/images/generations", calls.image)
    fake.route("POST", "/heldchat/v1/chat/completions", calls.stream)
    yield calls
    calls.release()


def deployment(name: str, model: str, base: str, path: str) -> dict[str, Any]:
    return {
        "model_name": name,
        "litellm_params": {"model": model, "api_key": "sk-up", "api_base": f"{base}/{path}/v1"},
        "model_info": {"id": f"{name}-dep"},
    }


def config(base: str, database: Store, journal: Path) -> dict[str, Any]:
    out: dict[str, Any] = {
        "model_list": [
            deployment("fast", "openai/dall-e-3", base, "fast"),
            deployment("chat", "openai/gpt-4o-mini", base, "chat"),
            deployment("held", "openai/dall-e-3", base, "held"),
            deployment("held-chat", "openai/gpt-4o-mini", base, "heldchat"),
            {"model_name": "mock", "litellm_params": {"model": "mock/placeholder"}},
        ],
        # the default flush interval (0.5 s): what the database lacks at the kill
        "general_settings": {**store_settings(database), "spend_journal_dir": str(journal)},
    }
    if database.dialect == "postgresql":
        problem = shared_redis_problem()
        if problem:
            pytest.skip(problem)
        out["router_settings"] = {"redis_url": SHARED_REDIS, "redis_key_prefix": unique_prefix()}
    return out


async def load(client: httpx.AsyncClient, i: int, answered: list[str]) -> None:
    """Requests one after another until the proxy is gone; the id of every answer that was
    received in full goes to ``answered``."""
    chat = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    for n in itertools.count():
        try:
            if (i + n) % 3 == 0:
                r = await client.post(
                    "/v1/images/generations", json={"model": "fast", "prompt": "p"}
                )
            elif (i + n) % 3 == 1:
                r = await client.post(
                    "/v1/images/generations", json={"model": "mock", "prompt": "p"}
                )
            else:
                async with client.stream("POST", "/v1/chat/completions", json=chat) as r:
                    await r.aread()
        except httpx.TransportError:
            return  # killed: this answer was not received
        assert r.status_code == 200, r.text
        answered.append(r.headers["x-request-id"])


async def held_image(client: httpx.AsyncClient, user: str) -> str:
    body = {"model": "held", "prompt": "p", "user": user}
    try:
        await client.post("/v1/images/generations", json=body)
    except httpx.TransportError:
        return "cut"
    return "answered"


async def held_stream(client: httpx.AsyncClient, user: str, started: asyncio.Event) -> str:
    body = {"model": "held-chat", "messages": [{"role": "user", "content": "hi"}]}
    try:
        async with client.stream(
            "POST", "/v1/chat/completions", json={**body, "stream": True, "user": user}
        ) as r:
            async for _ in r.aiter_bytes():
                started.set()  # the answer has begun
    except httpx.TransportError:
        return "cut"
    return "answered"


async def until(check: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_kill_9_under_load_loses_no_spend(
    proxy_factory: Any, fake: FakeUpstream, held: Held, database: Store, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    settings = config(fake.base, database, journal)
    proxy = proxy_factory(settings)
    admin = {"authorization": f"Bearer {MASTER_KEY}"}
    limits = httpx.Limits(max_connections=CLIENTS + 10)
    async with httpx.AsyncClient(base_url=proxy.base_url, timeout=60, limits=limits) as c:
        minted = (await c.post("/key/generate", headers=admin, json={"key_alias": "k9"})).json()
    auth = {"authorization": f"Bearer {minted['key']}"}
    answered: list[str] = []
    async with httpx.AsyncClient(
        base_url=proxy.base_url, timeout=60, limits=limits, headers=auth
    ) as client:
        streams_started = [asyncio.Event() for _ in HELD_STREAMS]
        cut = [asyncio.create_task(held_image(client, user)) for user in HELD_IMAGES]
        cut += [
            asyncio.create_task(held_stream(client, user, started))
            for user, started in zip(HELD_STREAMS, streams_started, strict=True)
        ]
        loads = [asyncio.create_task(load(client, i, answered)) for i in range(CLIENTS)]

        async def in_flight() -> bool:
            upstream = len(fake.received("/held/v1/images/generations"))
            begun = all(e.is_set() for e in streams_started)
            return upstream == len(HELD_IMAGES) and begun and len(answered) >= ANSWERED_BEFORE_KILL

        await until(in_flight, "held calls in flight and answers under load")
        proxy.proc.kill()  # SIGKILL, mid-load
        await asyncio.gather(*loads)
        assert await asyncio.gather(*cut) == ["cut"] * len(cut)
    assert proxy.stop() == -9
    held.release()

    revived = proxy_factory(settings)
    sent = set(answered)
    held_users = set(HELD_IMAGES + HELD_STREAMS)

    async def rows() -> list[SpendRecord]:
        found, _ = await database.query_logs(LogFilter(), 0, 100_000)
        return found

    async def replayed() -> bool:
        found = await rows()
        users = {r.end_user for r in found}
        return sent <= {r.request_id for r in found} and held_users <= users

    try:
        await until(replayed, "the replay")
    finally:
        recorded = {r.request_id for r in await rows()}
        print(f"{len(sent)} answered, {len(sent & recorded)} of them recorded")
        print(*(line for line in revived.logs().splitlines() if "replaying" in line))
    stored = await rows()
    cut_off = [r for r in stored if r.error_class == INTERRUPTED]
    # the held calls, and perhaps load requests that were upstream at the kill: none answered
    assert not sent & {r.request_id for r in cut_off}
    interrupted = {r.end_user: r for r in cut_off if r.end_user in held_users}
    assert set(interrupted) == held_users
    for user, record in interrupted.items():
        stream = user in HELD_STREAMS
        assert record.status == INTERRUPTED_STATUS and record.cost is None
        assert record.key_hash == minted["key_hash"] and record.key_alias == "k9"
        assert record.model_group == ("held-chat" if stream else "held")
        assert record.deployment_id == ("held-chat-dep" if stream else "held-dep")
        assert record.stream is stream
    # replayed once: the key's spend is the sum of its records
    key = await database.get_key(minted["key_hash"])
    assert key is not None and key["spend"] > 0
    assert key["spend"] == pytest.approx(sum(r.cost or 0.0 for r in stored))
    # the dead process's segments are deleted once the database has their records
    dead = f"spend-journal-{proxy.proc.pid}-"

    async def trimmed() -> bool:
        return not any(p.name.startswith(dead) for p in journal.iterdir())

    await until(trimmed, "the dead process's segments to go")
    revived.stop()
