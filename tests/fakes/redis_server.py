"""Redis for tests: the machine's shared Redis (with a unique key prefix per run), and a
private ``redis-server`` on a free port that a test may stop and start again.

Nothing here skips silently: when Redis is missing the reason names what is missing and how
to provide it (.ci/run installs ``redis-server`` on a fresh machine).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid

from tests.fakes.server import free_port

SHARED_REDIS = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def shared_redis_problem() -> str | None:
    """Why the machine's Redis cannot be used, or None."""
    rest = SHARED_REDIS.split("://", 1)[-1].rsplit("@", 1)[-1]
    hostport = rest.split("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    if not _reachable(host or "127.0.0.1", int(port or 6379)):
        return (
            f"no Redis answers at {SHARED_REDIS} (set TEST_REDIS_URL, or start one: "
            "`redis-server --daemonize yes`; .ci/run does this)"
        )
    return None


def unique_prefix() -> str:
    return f"test-{uuid.uuid4().hex[:12]}:"


def redis_server_problem() -> str | None:
    if shutil.which("redis-server") is None:
        return "redis-server is not installed (apt-get install redis-server; .ci/run does this)"
    return None


class RedisServer:
    """A private, throw-away redis-server (no persistence) on loopback."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> RedisServer:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}")
            if _reachable("127.0.0.1", self.port):
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server on port {self.port} did not answer")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
