"""The HTTP connection's own limits (proxy.server.http), through the real server on a raw socket:
what uvicorn refuses is an OpenAI error body, slow and oversized clients are cut off, and a
stop does not wait for clients that never finish sending."""

from __future__ import annotations

import signal
import socket
import time
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import MASTER_KEY
from tests.e2e.test_metrics import sample
from tests.fakes.proxy_process import ProxyProcess

MOCK = [{"model_name": "mock-image", "litellm_params": {"model": "mock/placeholder"}}]
LIMITS = {
    "request_header_timeout": 1,
    "request_body_timeout": 1,
    "max_request_header_bytes": 8192,
    "max_request_headers": 20,
    "max_request_size_mb": 1,
}
AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
GENERATE = (
    b"POST /v1/images/generations HTTP/1.1\r\nHost: proxy\r\n"
    b"Authorization: Bearer " + MASTER_KEY.encode() + b"\r\n"
)


@pytest.fixture(scope="module")
def proxy(proxy_factory: Any) -> ProxyProcess:
    proc: ProxyProcess = proxy_factory({"model_list": MOCK, "general_settings": dict(LIMITS)})
    return proc


def exchange(proxy: ProxyProcess, *parts: bytes) -> bytes:
    """Send ``parts`` on a new connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=30) as sock:
        for part in parts:
            sock.sendall(part)
        return read_to_close(sock)


def read_to_close(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def parse(answer: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines)
    return int(status_line.split()[1]), headers, orjson.loads(body)


def assert_refused(answer: bytes, status: int, code: str, needle: str) -> None:
    got, headers, body = parse(answer)
    assert got == status, answer
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["code"] == code
    assert needle in body["error"]["message"]


def wait_for_in_flight(proc: ProxyProcess, count: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        metrics = httpx.get(f"{proc.base_url}/metrics", headers=AUTH).text
        if sample(metrics, "image_proxy_in_flight_requests") == count:
            return
        time.sleep(0.02)
    raise AssertionError(f"never {count} requests in flight")


@pytest.mark.parametrize(
    ("request_bytes", "status", "code", "needle"),
    [
        (b"BREW /v1/models HTTP/1.1\r\nHost: x\r\n\r\n", 501, "method_not_implemented", "method"),
        (b"GET /v1/models HTTP/1.1\r\nHo st: x\r\n\r\n", 400, "invalid_http_request", "header"),
        (b"GET /v1/models HTTP/9\r\n\r\n", 400, "invalid_http_request", "Invalid HTTP request"),
        (
            GENERATE + b"Transfer-Encoding: chunked\r\n\r\nZZ\r\nabc\r\n",
            400,
            "invalid_http_request",
            "chunk size",
        ),
    ],
    ids=["unknown-method", "bad-header-name", "bad-version", "bad-chunk-framing"],
)
def test_what_the_parser_refuses_is_an_openai_error(
    proxy: ProxyProcess, request_bytes: bytes, status: int, code: str, needle: str
) -> None:
    assert_refused(exchange(proxy, request_bytes), status, code, needle)


def test_a_head_over_the_size_limit_is_431(proxy: ProxyProcess) -> None:
    big = b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n"
    assert_refused(exchange(proxy, big), 431, "request_header_fields_too_large", "8192 bytes")


def test_too_many_headers_is_431(proxy: ProxyProcess) -> None:
    lines = b"".join(b"X-H%d: 1\r\n" % i for i in range(21))
    answer = exchange(proxy, b"GET /v1/models HTTP/1.1\r\nHost: x\r\n" + lines + b"\r\n")
    assert_refused(answer, 431, "request_header_fields_too_large", "at most 20")


def test_heads_within_the_limits_are_served(proxy: ProxyProcess) -> None:
    headers = {f"x-h{i}": "v" * 300 for i in range(15)}  # 15 + httpx's own 5 or so lines
    response = httpx.get(f"{proxy.base_url}/health/liveness", headers=headers)
    assert response.status_code == 200


def test_a_head_not_finished_in_time_is_408(proxy: ProxyProcess) -> None:
    answer = exchange(proxy, b"GET /v1/models HTTP/1.1\r\nHost: x\r\n")
    assert_refused(answer, 408, "request_timeout", "request head was not received within 1 s")


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(
    proxy: ProxyProcess,
) -> None:
    assert exchange(proxy) == b""


def test_a_body_that_stops_arriving_is_408(proxy: ProxyProcess) -> None:
    answer = exchange(proxy, GENERATE + b"Content-Length: 100\r\n\r\n", b'{"model": "mock')
    assert_refused(answer, 408, "request_timeout", "No request body bytes for 1 s")


def test_a_client_still_sending_an_oversized_body_reads_its_413(proxy: ProxyProcess) -> None:
    """The answer comes before the body is sent; the body is read and dropped, not reset."""
    size = 3 * 1024 * 1024
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=30) as sock:
        sock.sendall(GENERATE + b"Content-Length: %d\r\n\r\n" % size)
        for _ in range(size // 65536):
            sock.sendall(b"a" * 65536)
        sock.shutdown(socket.SHUT_WR)
        status, _, body = parse(read_to_close(sock))
    assert status == 413
    assert body["error"]["code"] == "request_too_large"


def test_an_oversized_chunked_body_is_413(proxy: ProxyProcess) -> None:
    def chunks() -> Any:
        for _ in range(48):
            yield b"a" * 65536

    response = httpx.post(
        f"{proxy.base_url}/v1/images/generations",
        content=chunks(),
        headers={"authorization": f"Bearer {MASTER_KEY}"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


def test_keep_alive_and_pipelining_still_work(proxy: ProxyProcess) -> None:
    body = orjson.dumps({"model": "mock-image", "prompt": "a kept-alive cat"})
    one = GENERATE + b"Content-Length: %d\r\n\r\n" % len(body) + body
    last = one.replace(b"Host: proxy\r\n", b"Host: proxy\r\nConnection: close\r\n")
    answer = exchange(proxy, one + one + last)
    assert answer.count(b"HTTP/1.1 200 OK") == 3


def test_a_stop_answers_half_sent_requests_and_does_not_wait_for_them(
    proxy_factory: Any,
) -> None:
    """With client timeouts far longer than the stop's grace period, the stop still ends at
    once: the request whose body never finishes gets a 503, the half head is closed."""
    slow = {**LIMITS, "request_header_timeout": 600, "request_body_timeout": 600}
    proc: ProxyProcess = proxy_factory({"model_list": MOCK, "general_settings": slow})
    with (
        socket.create_connection(("127.0.0.1", proc.port), timeout=30) as half_body,
        socket.create_connection(("127.0.0.1", proc.port), timeout=30) as half_head,
    ):
        half_body.sendall(GENERATE + b"Content-Length: 100\r\n\r\n{")
        half_head.sendall(b"GET /v1/models HTTP/1.1\r\n")
        wait_for_in_flight(proc, 1)  # the generation request is waiting for its body
        assert proc.proc is not None
        proc.proc.send_signal(signal.SIGTERM)
        assert_refused(read_to_close(half_body), 503, "shutting_down", "stopping")
        assert read_to_close(half_head) == b""
        proc.proc.wait(timeout=30)  # uvicorn ends a graceful stop by re-raising the signal
    assert "Application shutdown complete" in proc.logs()
