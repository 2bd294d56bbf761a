"""Streaming relay timings: time to the first ``data:`` byte and to the end of the stream.

Requests go one at a time, alternating direct (upstream) and through the proxy, so both see
the same machine state; the relay cost is the difference of their medians. Raw sockets keep
the client's own cost small and identical on both sides.
"""

from __future__ import annotations

import os
import socket
import statistics
import time
from typing import Any

from harness.cases import REQUESTS, Case


def one(port: int, path: str, body: bytes, token: str) -> tuple[float, float, int, bytes]:
    """(seconds to first data byte, seconds to end of answer, status, last bytes)."""
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t0 = time.perf_counter()
        s.sendall(head + body)
        first = 0.0
        seen = bytearray()
        tail = b""
        while True:
            n = s.recv_into(view)
            if not n:
                break
            chunk = bytes(view[:n])
            if not first:
                seen += chunk
                hdr_end = seen.find(b"\r\n\r\n")
                if hdr_end != -1 and seen.find(b"data:", hdr_end) != -1:
                    first = time.perf_counter() - t0
                    head_bytes = bytes(seen[:hdr_end])
            tail = (tail + chunk)[-64:]
        total = time.perf_counter() - t0
    status = int(head_bytes.split(b" ", 2)[1]) if first else 0
    return first, total, status, tail


def probe(case: Case, upstream_port: int, proxy_port: int, token: str, n: int) -> dict[str, Any]:
    with open(os.path.join(REQUESTS, case.body), "rb") as f:
        body = f.read()
    times: dict[str, list[tuple[float, float]]] = {"direct": [], "proxy": []}
    errors = 0
    first_error = ""
    marker = b"[DONE]" if "chat" in case.name else b"}"
    for i in range(n + 2):  # the first two rounds are a warm-up
        if errors >= 5 and not times["proxy"]:
            break  # the proxy cannot do it: five failures are enough to say so
        for side, port, path in (("direct", upstream_port, case.path),
                                 ("proxy", proxy_port, case.proxy_path)):
            try:
                first, total, status, tail = one(port, path, body, token)
            except OSError as exc:
                first, total, status, tail = 0.0, 0.0, 0, str(exc).encode()
            if status != 200 or marker not in tail:
                errors += side == "proxy"
                first_error = first_error or f"{side}: status {status}, tail {tail[-60:]!r}"
                continue
            if i >= 2:
                times[side].append((first, total))
    out: dict[str, Any] = {"errors": errors, "requests": len(times["proxy"])}
    if first_error:
        out["first_error"] = first_error
    for side, ts in times.items():
        if ts:
            out[f"{side}_ttfb_p50_ms"] = 1000 * statistics.median(t[0] for t in ts)
            out[f"{side}_total_p50_ms"] = 1000 * statistics.median(t[1] for t in ts)
            out[f"{side}_ttfb_p99_ms"] = 1000 * quantile([t[0] for t in ts], 0.99)
    if times["direct"] and times["proxy"]:
        out["added_ttfb_ms"] = out["proxy_ttfb_p50_ms"] - out["direct_ttfb_p50_ms"]
        out["added_total_ms"] = out["proxy_total_p50_ms"] - out["direct_total_p50_ms"]
    return out


def quantile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]
