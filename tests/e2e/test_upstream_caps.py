"""Upstream answers are read into ``general_settings.max_upstream_response_bytes`` and
``max_upstream_event_bytes``, never past them: through the real proxy, against upstreams
whose answers are 64 MiB, each test checks the client's error and that the upstream saw its
connection dropped long before the end of its answer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import MASTER_KEY
from tests.fakes.faults import LazyBodyServer

CAP = 1024 * 1024
EVENT_CAP = 64 * 1024
COUNT = 1024  # chunks of 64 KiB: 64 MiB, far more than any socket buffer holds
HEADERS = {"authorization": f"Bearer {MASTER_KEY}"}


def chat_chunk(text: str) -> bytes:
    chunk = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
    }
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


EVENTS = chat_chunk("x" * 900) * 64  # about 64 KiB of valid chat chunks per write

SERVERS = {
    "json-with-length": LazyBodyServer(b"x" * 65536, COUNT),
    "json-chunked": LazyBodyServer(b"x" * 65536, COUNT, content_length=False),
    "sse-comments": LazyBodyServer(
        b": ping\n" * 9362, COUNT, content_length=False, content_type="text/event-stream"
    ),
    "sse-chunks": LazyBodyServer(
        EVENTS, COUNT, content_length=False, content_type="text/event-stream"
    ),
    "sse-endless-line": LazyBodyServer(
        b"A" * 65536, COUNT, content_length=False, content_type="text/event-stream"
    ),
}


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, LazyBodyServer]]:
    for server in SERVERS.values():
        server.start()
    yield SERVERS
    for server in SERVERS.values():
        server.stop()


@pytest.fixture(scope="module")
def proxy(proxy_factory: Any, servers: dict[str, LazyBodyServer]) -> Any:
    def image(name: str, server: str) -> dict[str, Any]:
        base = f"{servers[server].base}/v1"
        params = {"model": "openai/gpt-image-1", "api_key": "k", "api_base": base}
        return {"model_name": name, "litellm_params": params}

    def chat(name: str, server: str) -> dict[str, Any]:
        base = f"{servers[server].base}/v1"
        params = {"model": "openai/gpt-4o-mini", "api_key": "k", "api_base": base}
        return {"model_name": name, "litellm_params": params}

    return proxy_factory(
        {
            "model_list": [
                image("json-with-length", "json-with-length"),
                image("json-chunked", "json-chunked"),
                image("too-big-then-mock", "json-chunked"),
                {"model_name": "mock-image", "litellm_params": {"model": "mock/painter"}},
                chat("sse-comments", "sse-comments"),
                chat("sse-chunks", "sse-chunks"),
                chat("sse-endless-line", "sse-endless-line"),
            ],
            "general_settings": {
                "max_upstream_response_bytes": CAP,
                "max_upstream_event_bytes": EVENT_CAP,
            },
            "router_settings": {"fallbacks": [{"too-big-then-mock": ["mock-image"]}]},
        }
    )


def dropped_early(server: LazyBodyServer) -> None:
    """The upstream's answer broke off near the cap: the proxy stopped reading and hung up."""
    assert server.done.wait(10)
    assert server.closed_early
    assert server.sent < COUNT // 4, server.sent


def error_of(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 502
    error = r.json()["error"]
    assert isinstance(error, dict)
    return error


def refused_stream(proxy: Any, model: str) -> dict[str, Any]:
    """The error of a chat stream the proxy refused before its first event."""
    body = {"model": model, "messages": [{"role": "user", "content": "x"}], "stream": True}
    return error_of(httpx.post(f"{proxy.base_url}/v1/chat/completions", json=body, headers=HEADERS))


@pytest.mark.parametrize("model", ["json-with-length", "json-chunked"])
def test_a_plain_answer_over_the_cap_is_a_502_naming_the_limit(
    proxy: Any, servers: dict[str, LazyBodyServer], model: str
) -> None:
    body = {"model": model, "prompt": "x"}
    r = httpx.post(f"{proxy.base_url}/v1/images/generations", json=body, headers=HEADERS)
    error = error_of(r)
    assert "answer exceeds the 1048576 byte limit" in error["message"]
    assert "max_upstream_response_bytes" in error["message"]
    assert error["code"] == "upstream_response_too_large"
    assert error["type"] == "upstream_error"
    dropped_early(servers[model])


def test_an_answer_over_the_cap_is_an_upstream_failure_the_router_falls_back_from(
    proxy: Any, servers: dict[str, LazyBodyServer]
) -> None:
    body = {"model": "too-big-then-mock", "prompt": "x"}
    r = httpx.post(f"{proxy.base_url}/v1/images/generations", json=body, headers=HEADERS)
    assert r.status_code == 200, r.text
    assert r.json()["data"][0]["b64_json"]
    assert r.headers["x-attempted-fallbacks"] == "1"
    assert r.headers["x-model-group"] == "mock-image"
    dropped_early(servers["json-chunked"])


@pytest.mark.parametrize(
    ("model", "limit"),
    [
        # comment lines only: nothing to relay, the bytes add up past the answer cap
        ("sse-comments", "answer exceeds the 1048576 byte limit (general_settings."
         "max_upstream_response_bytes)"),
        # one line that never ends: cut at the event cap
        ("sse-endless-line", "an event that exceeds the 65536 byte limit (general_settings."
         "max_upstream_event_bytes)"),
    ],
)  # fmt: skip
def test_a_stream_past_a_cap_before_its_first_event_is_a_502(
    proxy: Any, servers: dict[str, LazyBodyServer], model: str, limit: str
) -> None:
    error = refused_stream(proxy, model)
    assert limit in error["message"]
    assert error["code"] == "upstream_response_too_large"
    dropped_early(servers[model])


def test_a_stream_that_grows_past_the_cap_ends_with_an_error_event(
    proxy: Any, servers: dict[str, LazyBodyServer]
) -> None:
    body = {"model": "sse-chunks", "messages": [{"role": "user", "content": "x"}], "stream": True}
    with httpx.stream(
        "POST", f"{proxy.base_url}/v1/chat/completions", json=body, headers=HEADERS
    ) as r:
        assert r.status_code == 200
        frames = [line for line in r.iter_lines() if line.startswith("data: ")]
    assert len(frames) > 100  # chunks were relayed until the cap
    last = json.loads(frames[-1][len("data: ") :])
    assert "answer exceeds the 1048576 byte limit" in last["error"]["message"]
    assert last["error"]["code"] == "upstream_response_too_large"
    dropped_early(servers["sse-chunks"])
