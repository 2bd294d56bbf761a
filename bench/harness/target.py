"""A proxy under test: start it (pinned), time start-up to ready, measure idle RSS, stop it."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from harness import procs

HEALTH = "/health/liveliness"


@dataclass
class Target:
    name: str
    cmd: str  # {config} {port} {python} substituted; run as `bash -c "exec CMD"`
    config: str  # config template (with @UPSTREAM@)
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    key: str = "sk-bench"
    auth: str = "master key"
    proc: subprocess.Popen[bytes] | None = None
    recorded: list[tuple[int, int]] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc else 0

    def render_config(self, run_dir: str, upstream_base: str) -> str:
        with open(self.config) as f:
            text = f.read().replace("@UPSTREAM@", upstream_base)
        path = os.path.join(run_dir, self.name, os.path.basename(self.config))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        return path

    def start(self, run_dir: str, config_path: str, cpu: str | None, label: str) -> dict[str, Any]:
        """Start and wait for ``GET /health/liveliness`` = 200; returns the start-up record."""
        if port_busy(self.port):
            raise SystemExit(f"port {self.port} is busy before {self.name} starts: pick --port-base")
        cwd = os.path.join(run_dir, self.name)
        cmd = self.cmd.format(config=config_path, port=self.port, python=os.environ["BENCH_PY"])
        pin = ["taskset", "-c", cpu] if cpu is not None else []
        log = open(os.path.join(cwd, f"proxy-{label}.log"), "wb")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen([*pin, "bash", "-c", "exec " + cmd], cwd=cwd, stdout=log,
                                     stderr=subprocess.STDOUT, env={**os.environ, **self.env})
        deadline = t0 + 180
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name} exited during start-up (see {log.name})")
            if get_ok(self.port, HEALTH):
                break
            if time.perf_counter() > deadline:
                raise SystemExit(f"{self.name} not ready after 180 s")
            time.sleep(0.01)
        ready = time.perf_counter() - t0
        time.sleep(2)
        pids = procs.tree(self.pid)
        self.recorded = [(p, procs.starttime(p)) for p in pids]
        return {"label": label, "startup_s": ready, "idle_rss_mib": procs.rss_kb(pids) / 1024,
                "processes": len(pids), "cmd": (" ".join(pin) + " " + cmd).strip()}

    def stop(self) -> None:
        if self.proc is None:
            return
        self.recorded = [(p, procs.starttime(p)) for p in procs.tree(self.pid)] or self.recorded
        procs.stop_tree(self.pid, self.recorded)
        self.proc.wait()
        self.proc = None
        deadline = time.time() + 10
        while port_busy(self.port) and time.time() < deadline:
            time.sleep(0.05)

    def mint_virtual_key(self, models: list[str]) -> None:
        """Use a virtual key when the proxy can mint one (key lookup + budgets on the path)."""
        body = json.dumps({"models": models, "max_budget": 1_000_000, "key_alias": "bench"})
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/key/generate", data=body.encode(), method="POST",
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                key = json.loads(resp.read()).get("key")
        except (OSError, ValueError):
            return
        if isinstance(key, str) and key:
            self.key, self.auth = key, "virtual key (POST /key/generate)"


def get_ok(port: int, path: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
            return bool(r.status == 200)
    except (OSError, urllib.error.HTTPError):
        return False


def port_busy(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
