#!/usr/bin/env python3
"""One command for the whole benchmark: fake upstream (nginx), the proxy pinned to one core,
wrk on the other, every case of issue 10, one table.

    python bench/run.py                      # image-proxy: all cases, ~4 min
    python bench/run.py --with-litellm       # LiteLLM beside it (bench/install-litellm.sh first)
    python bench/run.py --with-floor         # the raw ASGI + aiohttp floor beside it
    python bench/run.py --quick              # 3 s per case: a smoke test of every case
    python bench/run.py --cmd 'main=env PYTHONPATH=/work/main {python} -m proxy --config {config} --port {port}'
    python bench/run.py --profile            # + py-spy profile of image-proxy at 64 connections
    python bench/run.py --report bench/runs/20260101-120000   # re-render a run's table

A --cmd target gets {config} (bench/configs/image-proxy.yaml rendered: LiteLLM's config keys),
{port} and {python}; it must answer GET /health/liveliness with 200 when ready.
Results: bench/runs/<time>/results.md (+ results.json, raw wrk output, proxy logs).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from typing import Any

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)

from harness import cases as cases_mod  # noqa: E402
from harness import edit_bodies, procs, report, sse_probe  # noqa: E402
from harness.target import Target  # noqa: E402
from harness.upstream import Upstream  # noqa: E402

MODELS = ["bench-image", "bench-image-large", "bench-image-slow", "bench-image-sse", "bench-edit",
          "bench-chat", "bench-chat-sse"]
LITELLM_VENV = os.path.join(BENCH, ".venv-litellm")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="3 s cases, one start: a smoke test")
    p.add_argument("--cases", default="small-c1,small-c64,large-c8,chat-c64,slow-c1000,"
                   "hold-c5000,sse-chat,sse-image-4mb")
    p.add_argument("--no-image-proxy", action="store_true", help="leave image-proxy out")
    p.add_argument("--with-litellm", action="store_true", help=f"LiteLLM from {LITELLM_VENV}")
    p.add_argument("--with-floor", action="store_true", help="bench/floor.py under uvicorn")
    p.add_argument("--cmd", action="append", default=[], metavar="NAME=CMD",
                   help="another proxy to run on the same cases")
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--slow-duration", type=float, default=20)
    p.add_argument("--hold-duration", type=float, default=8)
    p.add_argument("--warmup", type=float, default=2)
    p.add_argument("--starts", type=int, default=3, help="cold starts timed per target")
    p.add_argument("--sse-requests", type=int, default=200)
    p.add_argument("--upstream-port", type=int, default=18580)
    p.add_argument("--port-base", type=int, default=14580)
    p.add_argument("--database-url", help="DATABASE_URL for image-proxy's spend logs")
    p.add_argument("--profile", nargs="?", const="small-c64", metavar="CASE",
                   help="py-spy record image-proxy during an extra run of CASE (small-c64)")
    p.add_argument("--out", help="also copy results.md here")
    p.add_argument("--report", metavar="RUN_DIR", help="only re-render RUN_DIR's results")
    a = p.parse_args()
    if a.quick:
        a.duration, a.slow_duration, a.hold_duration, a.warmup = 3, 11, 7, 1
        a.starts, a.sse_requests = 1, min(a.sse_requests, 20)
    return a


def build_targets(a: argparse.Namespace) -> list[Target]:
    cfg = os.path.join(BENCH, "configs")
    targets = []
    if not a.no_image_proxy:
        env = {"PYTHONPATH": ROOT}
        if a.database_url:
            env["DATABASE_URL"] = a.database_url
        targets.append(Target("image-proxy", "{python} -m proxy --config {config} --port {port}",
                              os.path.join(cfg, "image-proxy.yaml"), env))
    if a.with_litellm:
        exe = os.path.join(LITELLM_VENV, "bin", "litellm")
        if not os.path.exists(exe):
            sys.exit("LiteLLM is not installed: run bench/install-litellm.sh first")
        targets.append(Target("litellm", f"{exe} --host 127.0.0.1 --config {{config}} --port {{port}}",
                              os.path.join(cfg, "litellm.yaml"),
                              {"LITELLM_LOCAL_MODEL_COST_MAP": "True"}))
    if a.with_floor:
        targets.append(Target(
            "floor", "{python} -m uvicorn --app-dir " + shlex.quote(BENCH) + " floor:app "
            "--host 127.0.0.1 --port {port} --log-level warning --no-access-log",
            os.path.join(cfg, "image-proxy.yaml"), {"FLOOR_UPSTREAM": ""}))
    for spec in a.cmd:
        name, sep, cmd = spec.partition("=")
        if not sep or not name or name in {t.name for t in targets} | {"direct"}:
            sys.exit(f"--cmd wants a new NAME=CMD, got {spec!r}")
        targets.append(Target(name, cmd, os.path.join(cfg, "image-proxy.yaml")))
    for i, t in enumerate(targets):
        t.port = a.port_base + i
    return targets


def versions(targets: list[Target]) -> str:
    out = [f"python {sys.version.split()[0]}"]
    for mod in ("starlette", "uvicorn", "aiohttp", "orjson", "pydantic", "sqlalchemy"):
        try:
            from importlib.metadata import version

            out.append(f"{mod} {version(mod)}")
        except Exception:  # noqa: BLE001
            pass
    if any(t.name == "litellm" for t in targets):
        py = os.path.join(LITELLM_VENV, "bin", "python")
        v = subprocess.run([py, "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
                           capture_output=True, text=True).stdout.strip()
        out.append(f"litellm {v}")
    out.append(subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split(" [")[0])
    out.append(subprocess.run(["/usr/sbin/nginx", "-v"], capture_output=True,
                              text=True).stderr.strip().replace("nginx version: ", ""))
    return "; ".join(out)


def host() -> str:
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) // (1024 * 1024)
    return f"{os.cpu_count()} CPUs ({model}), {mem} GiB RAM, kernel {os.uname().release}"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run_case(case: cases_mod.Case, name: str, port: int, token: str, up: Upstream,
             a: argparse.Namespace, layout: dict[str, str | None], run_dir: str,
             proxy_pid: int) -> dict[str, Any]:
    if case.conns == 0:
        rec = sse_probe.probe(case, up.port, port, token, a.sse_requests)
        log(f"  {name:12s} {case.name:14s} added TTFB {rec.get('added_ttfb_ms', float('nan')):.2f} ms, "
            f"added end {rec.get('added_total_ms', float('nan')):.2f} ms, errors {rec['errors']}")
        return rec
    path = case.path if name == "direct" else case.proxy_path
    url = f"http://127.0.0.1:{port}{path}"
    chk = cases_mod.check(url, case, token)
    if case.conns <= 64:
        cases_mod.warm_up(case, url, token, layout["client"], a.warmup)
    rec = cases_mod.run_wrk(case, url, token, layout["client"], proxy_pid, up.pid or 0,
                            os.path.join(run_dir, name, case.name))
    rec["check"] = chk
    if "error" in rec:
        log(f"  {name:12s} {case.name:14s} {rec['error']}")
    else:
        log(f"  {name:12s} {case.name:14s} rps {rec['rps']:9.1f}  p50 {rec['p50_ms']:8.2f} ms  "
            f"p99 {rec['p99_ms']:8.2f} ms  {rec['mb_s']:7.1f} MB/s  "
            f"cpu/req {rec.get('cpu_ms_per_req') or 0:.3f} ms  "
            f"rss {rec.get('peak_rss_mib', 0):.0f} MiB  errors {rec['errors']}  (http {chk['http']})")
    time.sleep(case.drain)
    return rec


def profile(target: Target, case: cases_mod.Case, a: argparse.Namespace,
            layout: dict[str, str | None], run_dir: str) -> None:
    """py-spy record during one extra (unrecorded) run; prints the top self-time frames."""
    if not shutil.which("py-spy"):
        log("py-spy not found: no profile")
        return
    out = os.path.join(run_dir, target.name, f"profile-{case.name}.txt")
    spy = subprocess.Popen(["py-spy", "record", "-p", str(target.pid), "-f", "raw", "-o", out,
                            "-d", str(int(case.duration) + 1), "-r", "200", "--nonblocking"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    url = f"http://127.0.0.1:{target.port}{case.proxy_path}"
    cases_mod.run_wrk(case, url, target.key, layout["client"], 0, 0, out + ".load")
    spy.wait()
    time.sleep(case.drain)
    log(f"  profile: {out}")
    for line in top_frames(out):
        print("    " + line)


def top_frames(path: str, n: int = 25) -> list[str]:
    """Self time of the hottest frames in a py-spy raw (collapsed stacks) file."""
    self_t: dict[str, int] = {}
    total = 0
    try:
        with open(path) as f:
            for line in f:
                stack, _, count = line.rstrip().rpartition(" ")
                c = int(count)
                total += c
                leaf = stack.rsplit(";", 1)[-1]
                self_t[leaf] = self_t.get(leaf, 0) + c
    except (OSError, ValueError):
        return ["(no profile)"]
    top = sorted(self_t.items(), key=lambda kv: -kv[1])[:n]
    return [f"{100 * c / max(1, total):5.1f}%  {frame}" for frame, c in top]


def main() -> None:
    a = parse_args()
    if a.report:
        with open(os.path.join(a.report, "results.json")) as f:
            run = json.load(f)
        print(report.render(run))
        return
    for tool in ("wrk", "taskset", "/usr/sbin/nginx"):
        if not shutil.which(tool):
            sys.exit(f"missing {tool}: apt-get install -y nginx libnginx-mod-http-echo wrk")
    two = (os.cpu_count() or 1) >= 2
    layout: dict[str, str | None] = {"proxy": "1" if two else None, "client": "0" if two else None}
    if two:
        os.sched_setaffinity(0, {0})  # the driver, wrk and nginx share CPU 0
    os.environ["BENCH_PY"] = sys.executable
    all_cases = cases_mod.all_cases(a.duration, a.slow_duration, a.hold_duration)
    selected = [all_cases[c] for c in a.cases.split(",") if c]
    if any(c.name.startswith("edit-") for c in selected):
        edit_bodies.write(os.path.join(cases_mod.REQUESTS, "generated"))
    targets = build_targets(a)
    run_dir = os.path.join(BENCH, "runs", time.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(os.path.join(run_dir, "direct"), exist_ok=True)
    up = Upstream(run_dir, a.upstream_port, layout["client"])
    for t in targets:
        if t.name == "floor":
            t.env["FLOOR_UPSTREAM"] = up.base
    run: dict[str, Any] = {
        "meta": {
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "host": host(),
            "loadavg": open("/proc/loadavg").read().split()[:3],
            "layout": ("proxy pinned to CPU 1 (taskset), wrk + nginx + driver on CPU 0" if two
                       else "one CPU: nothing pinned"),
            "versions": versions(targets), "command": shlex.join(["python", *sys.argv]),
            "cases": [c.name for c in selected], "targets": [t.name for t in targets],
            "auth": {}, "notes": [],
        },
        "results": {}, "startup": {},
    }
    log(f"run dir {run_dir}")
    try:
        if up.port and procs_port_busy(up.port):
            sys.exit(f"upstream port {up.port} is busy: pick --upstream-port")
        up.start()
        log(f"upstream nginx pid {up.pid} on {up.base}")
        run["results"]["direct"] = {}
        for case in selected:
            if case.conns:
                run["results"]["direct"][case.name] = run_case(
                    case, "direct", up.port, "sk-bench", up, a, layout, run_dir, 0)
        for t in targets:
            config = t.render_config(run_dir, up.base)
            run["startup"][t.name] = []
            for i in range(a.starts):
                if t.proc is not None:
                    t.stop()
                rec = t.start(run_dir, config, layout["proxy"], f"start{i + 1}")
                run["startup"][t.name].append(rec)
                log(f"{t.name}: ready in {rec['startup_s']:.2f} s, idle RSS "
                    f"{rec['idle_rss_mib']:.0f} MiB")
            t.mint_virtual_key(MODELS)
            run["meta"]["auth"][t.name] = t.auth
            res = run["results"][t.name] = {}
            for case in selected:
                res[case.name] = run_case(case, t.name, t.port, t.key, up, a, layout, run_dir,
                                          t.pid)
            if a.profile and t.name == "image-proxy":
                profile(t, all_cases[a.profile], a, layout, run_dir)
            t.stop()
    finally:
        for t in targets:
            t.stop()
        up.stop()
        with open(os.path.join(run_dir, "results.json"), "w") as f:
            json.dump(run, f, indent=1)
    text = report.render(run)
    with open(os.path.join(run_dir, "results.md"), "w") as f:
        f.write(text)
    if a.out:
        shutil.copy(os.path.join(run_dir, "results.md"), a.out)
    print()
    print(text)


def procs_port_busy(port: int) -> bool:
    from harness.target import port_busy

    return port_busy(port)


if __name__ == "__main__":
    main()
