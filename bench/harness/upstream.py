"""The fake upstream: one nginx worker serving canned answers (upstream/nginx.conf.in)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEMPLATE = os.path.join(BENCH, "upstream", "nginx.conf.in")
BODIES = os.path.join(BENCH, "upstream", "bodies")
NGINX = "/usr/sbin/nginx"
ECHO_MODULE = "/usr/lib/nginx/modules/ngx_http_echo_module.so"


class Upstream:
    def __init__(self, run_dir: str, port: int, cpu: str | None) -> None:
        self.prefix = os.path.join(run_dir, "upstream")
        self.port, self.cpu = port, cpu
        self.pid: int | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        if not os.path.exists(ECHO_MODULE):
            sys.exit("missing nginx echo module: apt-get install -y nginx libnginx-mod-http-echo wrk")
        subprocess.run([sys.executable, os.path.join(BENCH, "upstream", "gen_bodies.py")],
                       check=True, stdout=subprocess.DEVNULL)
        os.makedirs(os.path.join(self.prefix, "run", "tmp"), exist_ok=True)
        with open(TEMPLATE) as f:
            conf = f.read().replace("@PORT@", str(self.port)).replace("@BODIES@", BODIES)
        with open(os.path.join(self.prefix, "nginx.conf"), "w") as f:
            f.write(conf)
        pin = ["taskset", "-c", self.cpu] if self.cpu is not None else []
        subprocess.run([*pin, NGINX, "-p", self.prefix + "/", "-c", "nginx.conf",
                        "-e", "run/error.log"], check=True)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.base + "/healthz", timeout=1).read()
                break
            except OSError:
                time.sleep(0.05)
        with open(os.path.join(self.prefix, "run", "nginx.pid")) as f:
            self.pid = int(f.read())

    def stop(self) -> None:
        if self.pid is None:
            return
        pid, self.pid = self.pid, None
        try:
            os.kill(pid, 3)  # SIGQUIT: graceful stop of our own master; workers follow
        except ProcessLookupError:
            return
        deadline = time.time() + 5
        while time.time() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        os.kill(pid, 15)
