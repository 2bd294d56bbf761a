"""Instructions per request under callgrind: a noise-free A/B for CPU work on a shared machine.

    python bench/instructions.py                          # this tree, 1,000 small image requests
    python bench/instructions.py --tree /tmp/old --n 500  # another tree (git archive ... | tar -x)
    python bench/instructions.py --body chat.json --path /v1/chat/completions
    python bench/instructions.py --body generated/edit-4mb.multipart --path /v1/images/edits \
        --content-type 'multipart/form-data; boundary=bench-edit-boundary-7d1f3c' --n 40 --warmup 20

Starts the bench's nginx upstream and the proxy under ``valgrind --tool=callgrind`` with
instrumentation off, mints a virtual key, sends 200 warm-up requests on one keep-alive
connection, then counts every instruction of every thread (event loop, log writer, SQLite
worker) while ``--n`` more are sent and for 1.2 s after (the spend writer flushes every
0.5 s), and prints instructions per request. Wall-clock figures on a shared VM move by 20-40%
from one run to the next; this count moves by about 1%.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)

from harness.upstream import Upstream  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tree", default=os.path.dirname(BENCH), help="directory holding proxy/")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--body", default="image-small.json", help="a file in bench/requests/")
    p.add_argument("--path", default="/v1/images/generations")
    p.add_argument("--content-type", default="application/json",
                   help="e.g. the edit bodies' multipart type (bench/harness/edit_bodies.py)")
    p.add_argument("--warmup", type=int, default=200, help="requests sent before counting")
    p.add_argument("--port", type=int, default=14600)
    p.add_argument("--upstream-port", type=int, default=18600)
    a = p.parse_args()
    work = tempfile.mkdtemp(prefix="instructions-")
    up = Upstream(os.path.join(work, "upstream"), a.upstream_port, None)
    up.start()
    with open(os.path.join(BENCH, "configs", "image-proxy.yaml")) as f:
        conf = f.read().replace("@UPSTREAM@", up.base)
    with open(os.path.join(work, "config.yaml"), "w") as f:
        f.write(conf)
    out = os.path.join(work, "callgrind.out")
    cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
           sys.executable, "-m", "proxy", "--config", "config.yaml", "--port", str(a.port)]
    with open(os.path.join(work, "proxy.log"), "w") as log:
        proxy = subprocess.Popen(cmd, env=dict(os.environ, PYTHONPATH=a.tree), cwd=work,
                                 stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{a.port}"
    try:
        deadline = time.time() + 300
        while True:
            try:
                urllib.request.urlopen(base + "/health/liveliness", timeout=5).read()
                break
            except OSError:
                if time.time() > deadline or proxy.poll() is not None:
                    sys.exit(f"the proxy did not start; see {work}/proxy.log")
                time.sleep(0.1)
        minted = urllib.request.Request(base + "/key/generate", data=b"{}", headers={
            "Authorization": "Bearer sk-bench", "Content-Type": "application/json"})
        key = json.load(urllib.request.urlopen(minted, timeout=60))["key"]
        with open(os.path.join(BENCH, "requests", a.body), "rb") as f:
            body = f.read()
        conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=60)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": a.content_type}

        def send(count: int) -> None:
            for _ in range(count):
                conn.request("POST", a.path, body, headers)
                r = conn.getresponse()
                r.read()
                if r.status != 200:
                    sys.exit(f"status {r.status}; see {work}/proxy.log")

        send(a.warmup)
        time.sleep(1.5)
        control = ["callgrind_control", "-i"]
        subprocess.run([*control, "on", str(proxy.pid)], check=True, stdout=subprocess.DEVNULL)
        send(a.n)
        time.sleep(1.2)
        subprocess.run([*control, "off", str(proxy.pid)], check=True, stdout=subprocess.DEVNULL)
    finally:
        proxy.terminate()
        proxy.wait()
        up.stop()
    total = 0
    for name in os.listdir(work):
        if name.startswith("callgrind.out"):
            with open(os.path.join(work, name)) as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("totals:"))
    print(f"{a.tree}: {total / a.n / 1e6:.3f} M instructions per request "
          f"({a.n} x {a.path}, {a.body}); callgrind data in {work}")


if __name__ == "__main__":
    main()
