"""The cases and one wrk measurement with CPU / RSS / foreign-load accounting."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from harness import edit_bodies, procs

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LUA = os.path.join(BENCH, "post.lua")
REQUESTS = os.path.join(BENCH, "requests")


@dataclass(frozen=True)
class Case:
    name: str
    path: str  # upstream path; the proxy path drops the /large, /slow, /sse prefix
    body: str  # request file under requests/
    conns: int = 0  # 0: not a wrk case (SSE probes)
    duration: float = 10
    timeout: float = 10
    drain: float = 1.0  # pause after the case so in-flight upstream calls finish
    content_type: str = "application/json"

    @property
    def body_path(self) -> str:
        """Request files live in requests/; generated ones (edits) in requests/generated/."""
        return os.path.join(REQUESTS, self.body)

    @property
    def proxy_path(self) -> str:
        for prefix in ("/large", "/slow", "/sse"):
            if self.path.startswith(prefix + "/"):
                return self.path[len(prefix) :]
        return self.path

    @property
    def threads(self) -> int:
        return 1 if self.conns == 1 else 2


def all_cases(duration: float, slow_duration: float, hold_duration: float) -> dict[str, Case]:
    d = duration
    return {c.name: c for c in (
        Case("small-c1", "/v1/images/generations", "image-small.json", 1, d),
        Case("small-c64", "/v1/images/generations", "image-small.json", 64, d),
        Case("large-c8", "/large/v1/images/generations", "image-large.json", 8, d),
        Case("chat-c64", "/v1/chat/completions", "chat.json", 64, d),
        Case("slow-c1000", "/slow/v1/images/generations", "image-slow.json", 1000,
             slow_duration, 30, 7),
        Case("hold-c5000", "/slow/v1/images/generations", "image-slow.json", 5000,
             hold_duration, 30, 7),
        Case("edit-4mb-c1", "/v1/images/edits", "generated/edit-4mb.multipart", 1, d,
             content_type=edit_bodies.CONTENT_TYPE),
        Case("edit-4x4mb-c32", "/v1/images/edits", "generated/edit-4x4mb.multipart", 32, d,
             30, 3, content_type=edit_bodies.CONTENT_TYPE),
        Case("sse-chat", "/sse/v1/chat/completions", "chat-sse.json"),
        Case("sse-image-4mb", "/sse/v1/images/generations", "image-sse.json"),
    )}


def check(url: str, case: Case, token: str) -> dict[str, Any]:
    """One POST: status, size, and which gateway features the answer shows."""
    with open(case.body_path, "rb") as f:
        data = f.read()
    req = urllib.request.Request(url, data=data, method="POST", headers={
        "Content-Type": case.content_type, "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            status, headers, body = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        status, headers, body = e.code, e.headers, e.read()
    except OSError as e:
        return {"http": f"error: {e}", "bytes": 0}
    out: dict[str, Any] = {"http": status, "bytes": len(body)}
    if headers.get("x-response-cost") is not None:
        out["cost_header"] = headers["x-response-cost"]
    if status != 200:
        out["error"] = body[:300].decode(errors="replace")
    return out


def run_wrk(case: Case, url: str, token: str, client_cpu: str | None, proxy_pid: int,
            nginx_pid: int, out_prefix: str) -> dict[str, Any]:
    """One recorded wrk run against ``url`` with the proxy tree's CPU and peak RSS."""
    wrk_json = out_prefix + ".wrk.json"
    env = dict(os.environ, WRK_BODY_FILE=case.body_path, WRK_TOKEN=token, WRK_JSON_OUT=wrk_json,
               WRK_CONTENT_TYPE=case.content_type)
    pin = ["taskset", "-c", client_cpu] if client_cpu is not None else []
    cmd = [*pin, "wrk", "-t", str(case.threads), "-c", str(case.conns), "-d", f"{case.duration:g}s",
           "--timeout", f"{case.timeout:g}s", "--latency", "-s", LUA, url]
    proxy_pids = procs.tree(proxy_pid) if proxy_pid else []
    nginx_pids = procs.tree(nginx_pid)
    procs.reset_hwm(proxy_pids)
    sampler = procs.Sampler(proxy_pid) if proxy_pid else None
    if sampler:
        sampler.start()
    exclude = set(proxy_pids) | set(nginx_pids) | {os.getpid()}
    load = procs.loadavg()
    a0, c0, p0, t0 = procs.all_proc_ticks(), procs.cpu_jiffies(), procs.ticks(proxy_pids), time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    t1, c1, p1, a1 = time.time(), procs.cpu_jiffies(), procs.ticks(proxy_pids), procs.all_proc_ticks()
    peak = sampler.stop() if sampler else 0
    with open(out_prefix + ".wrk.txt", "w") as f:
        f.write("$ " + shlex.join(cmd) + "\n" + proc.stdout + proc.stderr)
    try:
        with open(wrk_json) as f:
            w = json.load(f)
    except (OSError, ValueError):
        return {"error": f"wrk failed (rc {proc.returncode}): {proc.stderr.strip()[:200]}"}
    secs = w["duration_us"] / 1e6
    busy = {k: (c1[k][0] - c0[k][0]) / max(1, c1[k][1] - c0[k][1]) for k in c1}
    rec: dict[str, Any] = {
        "requests": w["requests"],
        "rps": w["requests"] / secs,
        "p50_ms": w["latency_us"]["p50"] / 1000,
        "p99_ms": w["latency_us"]["p99"] / 1000,
        "max_ms": w["latency_us"]["max"] / 1000,
        "mb_s": w["bytes"] / secs / 1e6,
        "errors": sum(w["errors"].values()),
        "errors_by_kind": w["errors"],
        "foreign_pct": 100 * procs.foreign_ticks(a0, a1, exclude) / procs.CLK / (t1 - t0),
        "cpu_busy_pct": {k: round(100 * v, 1) for k, v in sorted(busy.items())},
        "loadavg_before": load,
        "cmd": shlex.join(cmd),
    }
    if proxy_pids:
        cpu_s = (p1 - p0) / procs.CLK
        rec["cpu_ms_per_req"] = 1000 * cpu_s / w["requests"] if w["requests"] else None
        rec["proxy_cpu_pct"] = 100 * cpu_s / secs
        rec["peak_rss_mib"] = peak / 1024
    return rec


def warm_up(case: Case, url: str, token: str, client_cpu: str | None, seconds: float) -> None:
    env = dict(os.environ, WRK_BODY_FILE=case.body_path, WRK_TOKEN=token,
               WRK_CONTENT_TYPE=case.content_type)
    pin = ["taskset", "-c", client_cpu] if client_cpu is not None else []
    subprocess.run([*pin, "wrk", "-t1", f"-c{min(case.conns, 16)}", f"-d{seconds:g}s",
                    "--timeout", "10s", "-s", LUA, url], env=env, capture_output=True)
