"""The results table (stdout and results.md) and the issue's targets checked against it."""

from __future__ import annotations

from typing import Any

SUBJECT = "image-proxy"


def f(v: Any, digits: int = 1) -> str:
    if v is None or v == "":
        return "–"
    if isinstance(v, float):
        if abs(v) >= 100:
            return f"{v:,.0f}"
        return f"{v:.{digits}f}" if abs(v) >= 1 else f"{v:.3f}"
    return str(v)


def render(run: dict[str, Any]) -> str:
    L: list[str] = []
    add = L.append
    meta = run["meta"]
    add(f"# Benchmark run {meta['started']}")
    add("")
    add(f"- machine: {meta['host']}; load average before the run: {meta['loadavg']}")
    add(f"- layout: {meta['layout']}")
    add(f"- versions: {meta['versions']}")
    add(f"- command: `{meta['command']}`")
    for name, auth in meta.get("auth", {}).items():
        add(f"- {name}: auth with {auth}")
    add("")
    starts = run.get("startup", {})
    if starts:
        add("## Start-up to ready, idle RSS")
        add("")
        add("| target | start-up s (each start) | idle RSS MiB | processes |")
        add("|---|---|---|---|")
        for name, rs in starts.items():
            add(f"| {name} | {' / '.join(f(r['startup_s'], 2) for r in rs)} "
                f"| {' / '.join(f(r['idle_rss_mib']) for r in rs)} | {rs[-1]['processes']} |")
        add("")
    add("## Load cases (wrk, closed loop)")
    add("")
    add("| case | target | requests | RPS | p50 ms | p99 ms | MB/s | CPU ms/req | peak RSS MiB "
        "| errors | foreign CPU % | check |")
    add("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for case in meta["cases"]:
        for name in ["direct", *meta["targets"]]:
            r = run["results"].get(name, {}).get(case)
            if not r or "sse" in case:
                continue
            if "error" in r:
                add(f"| {case} | {name} | {r['error']} |" + " |" * 9)
                continue
            chk = r.get("check", {})
            chk_s = f"{chk.get('http', '')} {chk.get('bytes', '')} B" if chk else ""
            if chk.get("cost_header"):
                chk_s += f", cost {chk['cost_header']}"
            add(f"| {case} | {name} | {r['requests']} | {f(r['rps'])} | {f(r['p50_ms'], 2)} "
                f"| {f(r['p99_ms'], 2)} | {f(r['mb_s'])} | {f(r.get('cpu_ms_per_req'), 2)} "
                f"| {f(r.get('peak_rss_mib'))} | {r['errors']} | {f(r['foreign_pct'])} | {chk_s} |")
    add("")
    sse = [(c, n) for c in meta["cases"] if "sse" in c for n in meta["targets"]
           if c in run["results"].get(n, {})]
    if sse:
        add("## Streaming relay (sequential requests, direct and proxied alternately; medians)")
        add("")
        add("| case | target | requests | direct TTFB ms | proxy TTFB ms | added TTFB ms "
            "| direct end ms | proxy end ms | added end ms | errors |")
        add("|---|---|---|---|---|---|---|---|---|---|")
        for case, name in sse:
            r = run["results"][name][case]
            add(f"| {case} | {name} | {r['requests']} | {f(r.get('direct_ttfb_p50_ms'), 2)} "
                f"| {f(r.get('proxy_ttfb_p50_ms'), 2)} | {f(r.get('added_ttfb_ms'), 2)} "
                f"| {f(r.get('direct_total_p50_ms'), 2)} | {f(r.get('proxy_total_p50_ms'), 2)} "
                f"| {f(r.get('added_total_ms'), 2)} | {r['errors']}"
                f"{' (' + r['first_error'] + ')' if r.get('first_error') else ''} |")
        add("")
    goals = targets(run)
    if goals:
        add(f"## Targets of issue 10 ({SUBJECT})")
        add("")
        add("| target | measured | met |")
        add("|---|---|---|")
        for what, measured, ok in goals:
            add(f"| {what} | {measured} | {'yes' if ok else 'NO' if ok is not None else '–'} |")
        add("")
    for note in meta.get("notes", []):
        add(f"- {note}")
    return "\n".join(L) + "\n"


def targets(run: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    res = run["results"]
    me, direct = res.get(SUBJECT), res.get("direct", {})
    if not me:
        return []
    lite, floor = res.get("litellm", {}), res.get("floor", {})
    out: list[tuple[str, str, bool | None]] = []

    def ok(case: str, *keys: str) -> bool:
        return all(k in me.get(case, {}) for k in keys)

    if ok("small-c1", "p50_ms") and "p50_ms" in direct.get("small-c1", {}):
        d50 = me["small-c1"]["p50_ms"] - direct["small-c1"]["p50_ms"]
        d99 = me["small-c1"]["p99_ms"] - direct["small-c1"]["p99_ms"]
        out.append(("small c1: added p50 ≤ 1 ms", f"{d50:.2f} ms", d50 <= 1))
        out.append(("small c1: added p99 ≤ 3 ms", f"{d99:.2f} ms", d99 <= 3))
    if ok("small-c64", "rps"):
        rps = me["small-c64"]["rps"]
        if "rps" in lite.get("small-c64", {}):
            x = rps / lite["small-c64"]["rps"]
            out.append(("small c64: ≥ 15× LiteLLM RPS", f"{rps:,.0f} RPS = {x:.1f}×", x >= 15))
        else:
            out.append(("small c64: ≥ 2,000 RPS (no LiteLLM in this run)", f"{rps:,.0f}",
                        rps >= 2000))
    if ok("large-c8", "mb_s"):
        mbs = me["large-c8"]["mb_s"]
        if "mb_s" in lite.get("large-c8", {}):
            x = mbs / lite["large-c8"]["mb_s"]
            out.append(("large c8: ≥ 5× LiteLLM MB/s", f"{mbs:,.0f} MB/s = {x:.1f}×", x >= 5))
        if "mb_s" in floor.get("large-c8", {}):
            x = mbs / floor["large-c8"]["mb_s"]
            out.append(("large c8: ≥ 70% of the aiohttp floor's MB/s",
                        f"{mbs:,.0f} MB/s = {100 * x:.0f}%", x >= 0.7))
    if ok("slow-c1000", "requests") and "requests" in direct.get("slow-c1000", {}):
        r, d = me["slow-c1000"], direct["slow-c1000"]
        share = r["requests"] / max(1, d["requests"])
        out.append(("slow c1000: completed ≥ 95% of direct",
                    f"{r['requests']} / {d['requests']} = {100 * share:.0f}%", share >= 0.95))
        out.append(("slow c1000: p50 ≤ 5.2 s", f"{r['p50_ms'] / 1000:.2f} s",
                    r["p50_ms"] <= 5200))
        out.append(("slow c1000: zero errors", str(r["errors"]), r["errors"] == 0))
    if ok("hold-c5000", "requests"):
        r = me["hold-c5000"]
        out.append(("hold c5000: zero errors", f"{r['errors']} ({r['requests']} completed)",
                    r["errors"] == 0))
        out.append(("hold c5000: peak RSS ≤ 300 MB", f"{r['peak_rss_mib']:.0f} MiB",
                    r["peak_rss_mib"] * 1.048576 <= 300))
    if ok("sse-chat", "added_ttfb_ms"):
        v = me["sse-chat"]["added_ttfb_ms"]
        out.append(("chat SSE: added time to first byte ≤ 1 ms", f"{v:.2f} ms", v <= 1))
    if ok("sse-image-4mb", "added_total_ms"):
        v = me["sse-image-4mb"]["added_total_ms"]
        out.append(("4 MB image SSE event relayed in ≤ 10 ms", f"{v:.1f} ms", v <= 10))
    starts = run.get("startup", {}).get(SUBJECT)
    if starts:
        s = min(r["startup_s"] for r in starts)
        rss = max(r["idle_rss_mib"] for r in starts)
        out.append(("start-up to ready ≤ 1 s (best start)", f"{s:.2f} s", s <= 1))
        out.append(("idle RSS ≤ 80 MB", f"{rss:.0f} MiB", rss * 1.048576 <= 80))
    return out
