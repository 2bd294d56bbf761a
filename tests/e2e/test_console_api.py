"""The API the console reads, through the real server: console sign-in (cookie, CSRF),
spend over time, the spend logs as CSV, the deployments view, and the console's page and
assets (CSP, caching)."""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import MASTER_KEY


@pytest.fixture(scope="module")
def proxy(proxy_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    db = tmp_path_factory.mktemp("console-api-db") / "db.sqlite3"
    return proxy_factory(
        {
            "model_list": [
                {
                    "model_name": "mock-image",
                    "litellm_params": {"model": "mock/a"},
                    "model_info": {"output_cost_per_image": 0.04},
                },
                {"model_name": "mock-free", "litellm_params": {"model": "mock/b"}},
            ],
            "general_settings": {"database_url": f"sqlite:///{db}"},
        }
    )


@pytest.fixture
def master(proxy: Any) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=proxy.base_url, headers={"authorization": f"Bearer {MASTER_KEY}"}, timeout=30
    ) as client:
        yield client


@pytest.fixture
def anonymous(proxy: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=proxy.base_url, timeout=30) as client:
        yield client


def generate(client: httpx.Client, model: str, n: int = 1, **extra: Any) -> httpx.Response:
    body = {"model": model, "prompt": "p", "size": "8x8", "n": n, **extra}
    r = client.post("/v1/images/generations", json=body)
    assert r.status_code == 200, r.text
    return r


def test_root_leads_to_the_console_page_with_a_strict_csp(anonymous: httpx.Client) -> None:
    r = anonymous.get("/")
    assert r.status_code == 303 and r.headers["location"] == "/console"
    page = anonymous.get("/console")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-cache"
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "default-src 'none'" in csp
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert "<script>" not in page.text and "style=" not in page.text
    assets = re.findall(r'(?:href|src)="(/console/assets/[0-9a-f]{16}/[\w./-]+)"', page.text)
    assert len(assets) >= 3
    for url in assets:
        a = anonymous.get(url)
        assert a.status_code == 200, url
        assert a.headers["cache-control"] == "public, max-age=31536000, immutable"
    digest = assets[0].split("/")[3]
    module = anonymous.get(f"/console/assets/{digest}/views/playground.js")
    assert module.status_code == 200 and module.headers["content-type"].startswith(
        "text/javascript"
    )
    packed = anonymous.get(f"/console/assets/{digest}/app.js")  # httpx asks for gzip
    assert packed.headers["content-encoding"] == "gzip" and "import" in packed.text
    plain = anonymous.get(
        f"/console/assets/{digest}/app.js", headers={"accept-encoding": "identity"}
    )
    assert "content-encoding" not in plain.headers and plain.content == packed.content
    assert anonymous.get("/console/assets/0000000000000000/app.js").status_code == 404
    assert anonymous.get(f"/console/assets/{digest}/../assets.py").status_code == 404


def test_session_cookie_signs_in_and_state_changes_need_the_csrf_token(
    anonymous: httpx.Client,
) -> None:
    assert anonymous.get("/console/session").json()["signed_in"] is False
    wrong = anonymous.post("/console/session", json={"key": "sk-wrong"})
    assert wrong.status_code == 401 and "imgproxy_console" not in wrong.headers.get(
        "set-cookie", ""
    )
    r = anonymous.post("/console/session", json={"key": MASTER_KEY})
    assert r.status_code == 200
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert MASTER_KEY not in cookie
    session = r.json()
    assert session["identity"] == {"is_master": True, "key_alias": "master", "models": []}
    token = session["csrf_token"]
    assert anonymous.get("/key/list").status_code == 200  # a GET with the cookie alone
    refused = anonymous.post("/key/generate", json={"key_alias": "no-csrf"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_token_invalid"
    wrong_token = anonymous.post(
        "/key/generate", json={"key_alias": "no-csrf"}, headers={"x-csrf-token": "x" + token}
    )
    assert wrong_token.status_code == 403
    made = anonymous.post(
        "/key/generate", json={"key_alias": "via-cookie"}, headers={"x-csrf-token": token}
    )
    assert made.status_code == 200, made.text
    assert anonymous.get("/console/session").json()["csrf_token"] == token
    assert anonymous.delete("/console/session").status_code == 403  # sign-out needs it too
    out = anonymous.delete("/console/session", headers={"x-csrf-token": token})
    assert out.status_code == 200 and out.json() == {"signed_out": True}
    anonymous.cookies.clear()
    assert anonymous.get("/key/list").status_code == 401


def test_a_virtual_key_session_is_that_key_and_ends_when_it_is_revoked(
    master: httpx.Client, anonymous: httpx.Client
) -> None:
    key = master.post("/key/generate", json={"key_alias": "session-key", "models": ["mock-free"]})
    secret = key.json()["key"]
    r = anonymous.post("/console/session", json={"key": secret})
    assert r.json()["identity"] == {
        "is_master": False,
        "key_alias": "session-key",
        "models": ["mock-free"],
    }
    assert [m["id"] for m in anonymous.get("/v1/models").json()["data"]] == ["mock-free"]
    assert anonymous.get("/key/list").status_code == 403
    assert anonymous.get("/key/info").json()["info"]["key_alias"] == "session-key"
    assert master.post("/key/delete", json={"keys": [secret]}).status_code == 200
    assert anonymous.get("/v1/models").status_code == 401
    assert anonymous.get("/console/session").json()["signed_in"] is False


def test_an_open_proxy_signs_anyone_in_as_the_master(proxy_factory: Any) -> None:
    open_proxy = proxy_factory(
        {
            "model_list": [{"model_name": "mock-free", "litellm_params": {"model": "mock/b"}}],
            "general_settings": {"master_key": None, "allow_unauthenticated_access": True},
        }
    )
    with httpx.Client(base_url=open_proxy.base_url, timeout=30) as c:
        r = c.post("/console/session", json={"key": "anything"})
        assert r.status_code == 200 and r.json()["identity"]["is_master"] is True
        token = {"x-csrf-token": r.json()["csrf_token"]}
        body = {"model": "mock-free", "prompt": "p", "size": "8x8"}
        assert c.post("/v1/images/generations", json=body, headers=token).status_code == 200


def test_spend_report_buckets_by_hour_and_group(master: httpx.Client) -> None:
    start = time.time() - 1
    generate(master, "mock-image", n=2)
    generate(master, "mock-free")
    end = time.time() + 1
    r = master.get(
        "/spend/report",
        params={"group_by": "model", "interval": "hour", "start": start, "end": end},
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["groups"][0] == "mock-image"
    images = report["group_totals"]["mock-image"]
    assert images["requests"] == 1 and images["images"] == 2
    assert images["spend"] == pytest.approx(0.08)
    assert report["totals"]["requests"] == 2
    starts = [b["start"] for b in report["buckets"]]
    assert starts == sorted(starts) and all(s % 3600 == 0 for s in starts)
    by_key = master.get(
        "/spend/report", params={"group_by": "key", "start": start, "end": end}
    ).json()
    assert by_key["interval"] == "day" and by_key["groups"] == ["master"]
    bad = master.get("/spend/report", params={"group_by": "colour"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "group_by"
    too_many = master.get("/spend/report", params={"interval": "hour", "start": 0})
    assert too_many.status_code == 400


def test_a_virtual_key_reports_its_own_spend_only(master: httpx.Client, proxy: Any) -> None:
    secret = master.post("/key/generate", json={"key_alias": "own-report"}).json()["key"]
    with httpx.Client(
        base_url=proxy.base_url, headers={"authorization": f"Bearer {secret}"}, timeout=30
    ) as own:
        generate(own, "mock-image")
        generate(master, "mock-image")
        report = own.get("/spend/report", params={"group_by": "key", "key_alias": "master"})
        assert report.status_code == 200
        assert report.json()["groups"] == ["own-report"]
        assert report.json()["totals"]["requests"] == 1
        assert own.get("/spend/logs.csv").status_code == 403


def test_one_spend_record_by_request_id_for_its_key(master: httpx.Client, proxy: Any) -> None:
    request_id = generate(master, "mock-image").headers["x-request-id"]
    record = master.get(f"/spend/logs/{request_id}")
    assert record.status_code == 200 and record.json()["cost"] == pytest.approx(0.04)
    assert record.json()["request_id"] == request_id
    secret = master.post("/key/generate", json={}).json()["key"]
    with httpx.Client(
        base_url=proxy.base_url, headers={"authorization": f"Bearer {secret}"}, timeout=30
    ) as own:
        assert own.get(f"/spend/logs/{request_id}").status_code == 404  # not its request
        mine = generate(own, "mock-free").headers["x-request-id"]
        assert own.get(f"/spend/logs/{mine}").json()["key_hash"] is not None
    assert master.get("/spend/logs/nope").status_code == 404


def test_spend_logs_csv_has_the_filters_of_the_logs(master: httpx.Client) -> None:
    generate(master, "mock-free", user="=cmd|' /C calc'!A0")
    r = master.get("/spend/logs.csv", params={"model": "mock-free"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"].startswith('attachment; filename="spend-logs-')
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows and {row["model_group"] for row in rows} == {"mock-free"}
    logs = master.get("/spend/logs", params={"model": "mock-free"}).json()
    assert [row["request_id"] for row in rows] == [x["request_id"] for x in logs["data"]]
    assert any(row["end_user"].startswith("'=") for row in rows)  # no formula
    assert "usage" not in rows[0] and "b64_json" not in r.text
    limited = master.get("/spend/logs.csv", params={"limit": 1})
    assert len(list(csv.DictReader(io.StringIO(limited.text)))) == 1


def test_router_deployments_show_capabilities_and_recent_traffic(master: httpx.Client) -> None:
    generate(master, "mock-image")
    r = master.get("/router/deployments")
    assert r.status_code == 200
    rows = {d["model_group"]: d for d in r.json()["deployments"]}
    image = rows["mock-image"]
    assert image["provider"] == "mock" and image["available"] and not image["cooling_down"]
    assert image["supports"] == {
        "generate": True,
        "edit": True,
        "chat_images": True,
        "stream": False,
        "edit_stream": False,
    }
    recent = image["recent"]
    assert recent["requests"] >= 1 and recent["error_rate"] == 0.0
    assert recent["latency_ms_avg"] is not None and recent["window_seconds"] == 3600
    assert "api_key" not in r.text and "mock://" not in r.text


def test_new_endpoints_are_in_the_openapi_document(anonymous: httpx.Client) -> None:
    paths = anonymous.get("/openapi.json").json()["paths"]
    assert {"get"} <= set(paths["/spend/report"])
    assert {"get"} <= set(paths["/spend/logs.csv"])
    assert {"get"} <= set(paths["/spend/logs/{request_id}"])
    assert {"get"} <= set(paths["/router/deployments"])
    assert {"get", "post", "delete"} <= set(paths["/console/session"])
    assert "text/csv" in paths["/spend/logs.csv"]["get"]["responses"]["200"]["content"]


def test_wrong_keys_at_the_sign_in_are_throttled_per_address(anonymous: httpx.Client) -> None:
    """Last in this module: it leaves 127.0.0.1 throttled on this proxy for a minute."""
    statuses = [
        anonymous.post("/console/session", json={"key": f"sk-guess-{i}"}).status_code
        for i in range(12)
    ]
    assert statuses[:9] == [401] * 9 and statuses[-1] == 429
    refused = anonymous.post("/console/session", json={"key": MASTER_KEY})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert refused.json()["error"]["code"] == "sign_in_throttled"
    # the API itself is not the sign-in: a bearer key still works
    ok = anonymous.get("/v1/models", headers={"authorization": f"Bearer {MASTER_KEY}"})
    assert ok.status_code == 200
