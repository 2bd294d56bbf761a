"""Names with control characters, or too long, are refused at the edge with an OpenAI 400
naming the field and never echoing the value; and a record the database refuses anyway is set
aside without stopping spend logging. Through the real proxy process and the official OpenAI
SDK, on SQLite and (when TEST_DATABASE_URL names one) PostgreSQL, where a NUL in ``user``
used to stop every later spend record from being written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import openai
import orjson
import pytest

from proxy.db.database import LogFilter, Store
from proxy.db.writer import op_fields
from tests.conftest import MASTER_KEY
from tests.db.conftest import spend_record
from tests.e2e.conftest import store_settings

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
MARK = "evil"  # in every refused value: no answer may contain it

REFUSED: list[tuple[str, str]] = [
    ("model", f"mock-image\x00{MARK}"),
    ("model", f"mock-image\r{MARK}"),
    ("model", f"mock-image\n{MARK}"),
    ("model", f"{MARK}-" + "m" * 300),
    ("user", f"poison\x00{MARK}"),
    ("user", f"{MARK}\r"),
    ("user", f"{MARK}\nx-injected: 1"),
    ("user", f"{MARK}-" + "u" * 300),
]


def config(general: dict[str, Any]) -> dict[str, Any]:
    return {
        "model_list": [{"model_name": "mock-image", "litellm_params": {"model": "mock/x"}}],
        "general_settings": {"spend_flush_interval": 0.05, **general},
    }


@pytest.fixture
def clients(proxy_factory: Any, database: Store) -> Iterator[tuple[openai.OpenAI, httpx.Client]]:
    proxy = proxy_factory(config(store_settings(database)))
    sdk = openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=MASTER_KEY, max_retries=0)
    admin = httpx.Client(base_url=proxy.base_url, headers=AUTH, timeout=30)
    with sdk, admin:
        yield sdk, admin
    proxy.stop()  # before the database goes: a writer left without tables waits out its drain


def assert_refused(answer: httpx.Response | httpx2.Response, field: str) -> None:
    """``answer`` is the admin client's (httpx) or the OpenAI SDK's (httpx2) response."""
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["param"] == field
    assert field in error["message"]
    assert MARK not in answer.text


def test_a_control_character_or_a_long_name_is_a_400_naming_the_field(
    clients: tuple[openai.OpenAI, httpx.Client],
) -> None:
    sdk, admin = clients
    for field, value in REFUSED:
        model = value if field == "model" else "mock-image"
        user = value if field == "user" else openai.omit
        with pytest.raises(openai.BadRequestError) as image:
            sdk.images.generate(model=model, prompt="a lighthouse", user=user)
        assert_refused(image.value.response, field)
        assert not any(MARK in v for v in image.value.response.headers.values())
        with pytest.raises(openai.BadRequestError) as chat:
            sdk.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "hi"}], user=user
            )
        assert_refused(chat.value.response, field)

    # every refused request is still logged, and spend logging goes on
    sdk.images.generate(model="mock-image", prompt="a lighthouse", user="alice")
    logs = admin.get("/spend/logs", params={"page_size": 100}).json()  # flushes first
    statuses = sorted(r["status"] for r in logs["data"])
    assert statuses == [200] + [400] * (2 * len(REFUSED))
    assert [r["end_user"] for r in logs["data"] if r["status"] == 200] == ["alice"]
    assert "database" not in admin.get("/health/readiness").json()["degraded"]


def test_the_end_user_header_and_header_echoes_are_held_to_the_same_rules(
    clients: tuple[openai.OpenAI, httpx.Client],
) -> None:
    _, admin = clients
    body = {"model": "mock-image", "prompt": "a lighthouse"}
    long = admin.post("/v1/images/generations", json=body, headers={"x-end-user": MARK + "e" * 300})
    assert_refused(long, "x-end-user")
    ok = admin.post("/v1/images/generations", json=body, headers={"x-end-user": "bob"})
    assert ok.status_code == 200 and ok.headers["x-model-group"] == "mock-image"
    # a model name a header cannot carry: a 404 as for any unknown model, without the header
    # (it used to be a 500: the header could not be encoded)
    cat = admin.post("/v1/images/generations", json={**body, "model": "猫"})
    assert cat.status_code == 404 and cat.json()["error"]["code"] == "model_not_found"
    assert "x-model-group" not in cat.headers


def test_the_admin_api_refuses_control_characters_in_names(
    clients: tuple[openai.OpenAI, httpx.Client],
) -> None:
    _, admin = clients
    for field, value in [
        ("key_alias", f"team\x00{MARK}"),
        ("key_alias", f"team\n{MARK}"),
        ("key_alias", MARK + "a" * 300),
        ("user_id", f"owner\r{MARK}"),
    ]:
        assert_refused(admin.post("/key/generate", json={field: value}), field)
    assert_refused(admin.post("/key/generate", json={"metadata": {f"{MARK}\x00": 1}}), "metadata")
    nested = {"metadata": {"a": [{"b": {f"{MARK}\n": 1}}]}}
    assert_refused(admin.post("/key/generate", json=nested), "metadata")
    for field in ("models", "guardrails"):
        assert_refused(admin.post("/key/generate", json={field: [f"{MARK}\x00"]}), field)
    key = admin.post("/key/generate", json={"key_alias": "team"}).json()
    assert_refused(
        admin.post("/key/update", json={"key": key["key"], "key_alias": "t\x00"}), "key_alias"
    )
    # what the admin API looks up is held to the same rules, before the database sees it
    # (on PostgreSQL a NUL was a 400 "value refused" by the database, naming nothing)
    assert_refused(admin.post("/key/update", json={"key": f"{MARK}\x00"}), "key")
    for field in ("keys", "key_aliases"):
        assert_refused(admin.post("/key/delete", json={field: ["team", f"{MARK}\x00"]}), field)
    assert_refused(admin.get("/key/info", params={"key": f"{MARK}\x00"}), "key")
    for path in ("/spend/logs", "/spend/users", "/global/spend"):
        for field in ("key", "api_key", "key_hash", "key_alias", "end_user", "user", "model"):
            assert_refused(admin.get(path, params={field: f"{MARK}\x00"}), field)
        assert_refused(admin.get(path, params={"user": MARK + "u" * 300}), "user")
    assert admin.get("/key/info", params={"key": "team"}).status_code == 200  # still there


async def test_a_spooled_record_the_database_refuses_does_not_stop_the_next_start(
    proxy_factory: Any, database: Store, tmp_path: Path
) -> None:
    """What a poisoned shutdown left behind: the next start stores the rest and sets the
    refused records aside, counted in the metrics, and stays ready."""
    spool = tmp_path / "spool"
    spool.mkdir()
    good = [spend_record() for _ in range(4)]
    nul = spend_record(end_user="poison\x00pill")  # PostgreSQL refuses it, SQLite stores it
    no_endpoint = spend_record(endpoint=None)  # both refuse it (NOT NULL)
    ops = [good[0], nul, good[1], no_endpoint, good[2], good[3]]
    lines = b"".join(orjson.dumps(op_fields(o)) + b"\n" for o in ops)  # a spool file of old
    (spool / "spend-spool-1-1.jsonl").write_bytes(lines)
    refused = [nul, no_endpoint] if database.dialect == "postgresql" else [no_endpoint]

    proxy = proxy_factory(config({**store_settings(database), "spend_spool_dir": str(spool)}))
    with httpx.Client(base_url=proxy.base_url, headers=AUTH, timeout=30) as admin:
        assert admin.get("/spend/logs").status_code == 200  # flushes what is queued first
        assert "database" not in admin.get("/health/readiness").json()["degraded"]
        metrics = admin.get("/metrics").text
    assert f"image_proxy_spend_records_dead_lettered_total {float(len(refused))}" in metrics
    rows, _ = await database.query_logs(LogFilter(), 0, 100)
    assert {r.request_id for r in rows} == {o.request_id for o in ops} - {
        o.request_id for o in refused
    }
    assert list(spool.glob("spend-spool-*.jsonl")) == []
    letters = [
        orjson.loads(line)
        for p in spool.glob("spend-deadletter-*.jsonl")
        for line in p.read_bytes().splitlines()
    ]
    assert [d["op"]["request_id"] for d in letters] == [o.request_id for o in refused]
    proxy.stop()
    assert "poison" not in proxy.logs()
