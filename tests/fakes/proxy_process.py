"""Run the real proxy (``python -m proxy``) as a subprocess on loopback for a test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.fakes.server import free_port

REPO = Path(__file__).resolve().parents[2]
LOG_DIR = Path(os.environ.get("PROXY_TEST_LOG_DIR", "/tmp/image-proxy-test-logs"))
STARTED: list[ProxyProcess] = []  # every proxy of this session, for the final log scan


class ProxyProcess:
    def __init__(
        self,
        config: dict[str, Any],
        tmp_path: Path,
        *,
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
        name: str = "proxy",
    ) -> None:
        self.port = free_port()
        self.config_path = tmp_path / f"{name}-{self.port}.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = LOG_DIR / f"{name}-{self.port}.log"
        self.env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
        self.args = args or []
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_start = 0
        self.log_end: int | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "proxy",
            "--config",
            str(self.config_path),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            *self.args,
        ]

    def start(self, timeout: float = 60) -> ProxyProcess:  # generous: a loaded 2-core machine
        self._log = open(self.log_path, "ab")  # noqa: SIM115
        self.log_start = self._log.tell()  # the file may hold earlier runs' lines
        STARTED.append(self)
        self.proc = subprocess.Popen(
            self.command(), stdout=self._log, stderr=subprocess.STDOUT, env=self.env, cwd=REPO
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"proxy exited with {self.proc.returncode}: {self.logs()}")
            try:
                if httpx.get(f"{self.base_url}/health/liveness", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"proxy did not become ready: {self.logs()}")

    def logs(self) -> str:
        """What this process logged (not earlier runs that used the same file)."""
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as f:
            f.seek(getattr(self, "log_start", 0))
            data = f.read() if self.log_end is None else f.read(self.log_end - self.log_start)
        return data.decode(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        self.log_end = self.log_path.stat().st_size
        return self.proc.returncode


def run_cli(
    args: list[str], env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "proxy", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        cwd=REPO,
        timeout=timeout,
    )
