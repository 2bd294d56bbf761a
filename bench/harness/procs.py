"""/proc accounting: process trees, CPU ticks, RSS sampling, foreign load, sockets.

After ../shared/bench/benchlib.py. Only processes this run started are ever signalled, by pid,
and only while their start time still matches (never a reused pid).
"""

from __future__ import annotations

import os
import signal
import threading
import time

CLK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int | str) -> list[str]:
    """Fields of /proc/PID/stat from field 3 (state) on; index n-3 is field n."""
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    return s[s.rindex(")") + 2 :].split()


def _children_map() -> dict[int, list[int]]:
    m: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                m.setdefault(int(_stat_fields(d)[1]), []).append(int(d))
            except (OSError, IndexError, ValueError):
                continue
    return m


def tree(pid: int) -> list[int]:
    """``pid`` plus all its live descendants."""
    if not pid or not os.path.exists(f"/proc/{pid}"):
        return []
    m, out, stack = _children_map(), [], [pid]
    while stack:
        p = stack.pop()
        if p in out or not os.path.exists(f"/proc/{p}"):
            continue
        out.append(p)
        stack.extend(m.get(p, []))
    return out


def starttime(pid: int) -> int:
    return int(_stat_fields(pid)[19])


def ticks(pids: list[int]) -> int:
    t = 0
    for p in pids:
        try:
            f = _stat_fields(p)
            t += int(f[11]) + int(f[12])
        except (OSError, IndexError, ValueError):
            pass
    return t


def status_kb(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kb(pids: list[int]) -> int:
    return sum(status_kb(p, "VmRSS") for p in pids)


def reset_hwm(pids: list[int]) -> None:
    for p in pids:
        try:
            with open(f"/proc/{p}/clear_refs", "w") as f:
                f.write("5")  # VmHWM := current RSS
        except OSError:
            pass


def cpu_jiffies() -> dict[str, tuple[int, int]]:
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                name, *vals = line.split()
                v = [int(x) for x in vals[:8]]
                out[name] = (sum(v) - v[3] - v[4], sum(v))
    return out


def all_proc_ticks() -> dict[int, tuple[int, int]]:
    """{pid: (starttime, own + reaped children's CPU ticks)} of every user-space process."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit() or d == "2":
            continue
        try:
            f = _stat_fields(d)
            if int(f[1]) == 2:
                continue
            out[int(d)] = (int(f[19]), int(f[11]) + int(f[12]) + int(f[13]) + int(f[14]))
        except (OSError, IndexError, ValueError):
            pass
    return out


def foreign_ticks(before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]],
                  exclude: set[int]) -> int:
    """CPU ticks used between two snapshots by processes outside ``exclude``."""
    t = 0
    for pid, (st, tk) in after.items():
        if pid in exclude:
            continue
        b = before.get(pid)
        t += tk - b[1] if b and b[0] == st else tk
    return t


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


class Sampler(threading.Thread):
    """Peak summed VmRSS of a process tree, sampled every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.pids = tree(pid)
        self.peak_kb = rss_kb(self.pids)
        self._stop_evt = threading.Event()

    def run(self) -> None:
        n = 0
        while not self._stop_evt.is_set():
            if n % 20 == 0:  # workers may come and go (multi-worker proxies)
                self.pids = tree(self.pid)
            self.peak_kb = max(self.peak_kb, rss_kb(self.pids))
            n += 1
            self._stop_evt.wait(self.interval)

    def stop(self) -> int:
        self._stop_evt.set()
        self.join()
        return self.peak_kb


def stop_tree(pid: int, recorded: list[tuple[int, int]], grace: float = 20.0) -> None:
    """SIGTERM ``pid``; SIGKILL after ``grace`` s; then any recorded descendant still alive."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.time() + grace
    while time.time() < deadline and _alive(pid, None):
        time.sleep(0.05)
    if _alive(pid, None):
        os.kill(pid, signal.SIGKILL)
    for p, st in recorded:
        if p != pid and _alive(p, st):
            os.kill(p, signal.SIGTERM)


def _alive(pid: int, st: int | None) -> bool:
    try:
        f = _stat_fields(pid)
    except OSError:
        return False
    return f[0] != "Z" and (st is None or int(f[19]) == st)
