"""Bookkeeping waits for a quiet event loop.

When many upstream answers come back together (a thousand slow calls started in the same
second), the loop serves them in a few long turns, and the clients' next requests, sent as
soon as each answer arrived, wait until those turns are over. Every bit of work done in them
delays everyone queued behind it. Metrics, log lines and callbacks (the hooks' observers) and
the spend writer's database flush are nothing a client waits for, so while the loop is busy
they wait instead, at most ``max_delay``; on a quiet loop they run at once, as before.

Measured with ``bench/``'s slow case at 1,000 connections, its upstream made to answer in
1 s (18 waves in 20 s) and nginx logging when each call arrived: what a connection's next call
spends in the proxy beyond the upstream's second fell from 32 / 69 ms (median / mean over
16,752 calls) to 19 / 45 in the same run.

The same probe paces upstream answers (``take_turn``). An event loop runs every callback that
is ready before it writes anything or reads the network again, so when a thousand answers
arrive together, every client gets its answer only at the end of one long turn, and the next
calls those answers bring in are read and sent only at the end of the next. So each call's
wait is about the whole wave's CPU, not its own. While the loop is busy an answer instead
waits its turn: ``BATCH`` answers go on per loop iteration, their writes go out at the end of
it, and the new calls they bring in (never paced) are served in the next iteration, ahead of
the answers still waiting. A wave then drains in short turns, call by call. Only answers are
paced, and only with many calls in flight (``proxy.attempt.caller.PACE_ABOVE``): with few, a
whole wave fits in one batch. Measured in the slow bench case (1,000 connections, 5 s
upstream, one run, two alternations): p50 5.44 / 5.30 s without, 5.08 / 5.11 s with (the
floor's was 5.15-5.22 s in the runs of that hour); chat at 64 connections 1,859 / 2,101 req/s
without, 1,792 / 2,046 with.

"Busy" is read off a probe, a callback due every ``tick`` seconds: it ran more than ``lag``
late, or it is overdue now (the loop is inside a long turn). The probe runs only while there
is work or recent traffic and starts again with the next job; with no probe running the loop
counts as quiet.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable

from proxy.pacing import Job

log = logging.getLogger("proxy.server.pacing")

TICK = 0.005  # the probe's period
LAG = 0.002  # a tick this late (or a probe this overdue) means the loop is busy
MAX_DELAY = 1.0  # a job waits at most this long for a quiet loop
MAX_PENDING = 4_000  # beyond this many waiting jobs the oldest run at once
CHUNK = 256  # jobs run per tick while catching up, so requests arriving meanwhile go first
IDLE_STOP = 1.0  # the probe stops after this long with nothing to do
BATCH = 48  # paced answers let through per loop iteration
GATE_LAG = 0.020  # answers take turns once the current loop turn has run this long


class LoopPacer:
    def __init__(
        self,
        *,
        tick: float = TICK,
        lag: float = LAG,
        max_delay: float = MAX_DELAY,
        max_pending: int = MAX_PENDING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tick = tick
        self.lag = lag
        self.max_delay = max_delay
        self.max_pending = max_pending
        self.clock = clock
        self.pending: deque[tuple[float, Job]] = deque()
        self._probe: asyncio.TimerHandle | None = None
        self._last = 0.0  # when the probe last finished a tick
        self._late = False  # the last tick ran late
        self._used = 0.0  # when a job last arrived
        self.turns: deque[asyncio.Future[None]] = deque()  # answers waiting their turn
        self._releaser: asyncio.Handle | None = None

    def busy(self) -> bool:
        return self._late or self.overdue()

    def overdue(self, lag: float | None = None) -> bool:
        """The probe is late right now (by more than ``lag``): the loop is inside a long turn."""
        late_by = self.lag if lag is None else lag
        return self._probe is not None and self.clock() - self._last > self.tick + late_by

    async def take_turn(self) -> None:
        """An upstream answer's place in line: at once on a quiet loop; in a long turn, after
        the answers already waiting, ``BATCH`` per loop iteration."""
        if self._probe is None:
            self._used = self.clock()
            self._start(self._used)
            return
        if not self.turns and not self.overdue(GATE_LAG):
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self.turns.append(waiter)
        if self._releaser is None:
            self._releaser = loop.call_soon(self._arm)
        await waiter

    def _arm(self) -> None:
        # A timer due now runs in the next iteration's timer phase: one batch per iteration.
        self._releaser = asyncio.get_running_loop().call_later(0, self._release)

    def _release(self, count: int = BATCH) -> None:
        self._releaser = None
        while self.turns and count > 0:
            waiter = self.turns.popleft()
            if not waiter.done():  # a request cancelled while waiting is skipped
                waiter.set_result(None)
                count -= 1
        if self.turns:
            self._releaser = asyncio.get_running_loop().call_soon(self._arm)

    def run(self, job: Job) -> None:
        """Run ``job`` now on a quiet loop; on a busy one once it quiets (or ``max_delay``)."""
        now = self.clock()
        self._used = now
        if self._probe is None:
            self._start(now)
        elif self.pending or self.busy():
            self.pending.append((now, job))
            if len(self.pending) > self.max_pending:
                _call(self.pending.popleft()[1])
            return
        _call(job)

    def drain(self) -> None:
        """Run every waiting job now (a metrics scrape, shutdown)."""
        while self.pending:
            _call(self.pending.popleft()[1])

    async def settled(self, max_wait: float) -> None:
        """Return once the loop is quiet, or after ``max_wait`` seconds."""
        until = self.clock() + max_wait
        while self.busy() and self.clock() < until:
            await asyncio.sleep(self.tick)

    def _start(self, now: float) -> None:
        self._last = now
        self._late = False
        self._probe = asyncio.get_running_loop().call_later(self.tick, self._tick)

    def _tick(self) -> None:
        now = self.clock()
        self._late = now - self._last > self.tick + self.lag
        if self.pending:
            if self._late:  # busy: only what has waited long enough
                while self.pending and now - self.pending[0][0] >= self.max_delay:
                    _call(self.pending.popleft()[1])
            else:
                for _ in range(min(CHUNK, len(self.pending))):
                    _call(self.pending.popleft()[1])
        elif now - self._used > IDLE_STOP:
            self._probe = None
            return
        self._last = self.clock()  # this tick's own work does not count as lateness
        self._probe = asyncio.get_running_loop().call_later(self.tick, self._tick)

    def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            self._probe = None
        if self._releaser is not None:
            self._releaser.cancel()
        self._release(len(self.turns))
        self.drain()


def _call(job: Job) -> None:
    try:
        job()
    except Exception as exc:  # a broken observer must not stop the others
        log.error("deferred job %s failed: %s", getattr(job, "__name__", job), exc)
