"""How late does this machine wake a real-time thread? What `doctor` measures: a thread at
SCHED_FIFO (when permitted) wakes every audio period for a few seconds, with the CPUs kept
awake as while the band plays, and counts the wake-ups later than one period. Each one
would be a dropout (xrun) for the audio server at that period, whatever Performia does."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

from performia.cpu_wake import CpuWakeRequest


@dataclass(frozen=True)
class WakeupReport:
    period_s: float
    wakeups: int
    late: int            # wake-ups later than one period
    worst_s: float       # the latest wake-up, seconds after its deadline
    realtime: bool       # measured at SCHED_FIFO

    def describe(self) -> str:
        return (f"{self.late} of {self.wakeups} wake-ups more than one period "
                f"({self.period_s * 1e3:.2f} ms) late, worst {self.worst_s * 1e3:.2f} ms"
                + ("" if self.realtime else " (normal priority: not permitted real-time)"))


def measure_wakeups(seconds: float = 3.0, period_s: float = 64 / 48000,
                    priority: int = 80) -> WakeupReport:
    """Wake every `period_s` for `seconds` on a thread of our own; report the lateness."""
    result: list[WakeupReport] = []
    thread = threading.Thread(target=lambda: result.append(
        _measure(seconds, period_s, priority)), name="wakeup-test", daemon=True)
    with CpuWakeRequest():
        thread.start()
        thread.join(seconds + 5.0)
    if not result:
        raise RuntimeError("the wake-up test did not finish")
    return result[0]


def _measure(seconds: float, period_s: float, priority: int) -> WakeupReport:
    try:
        os.sched_setscheduler(threading.get_native_id(), os.SCHED_FIFO,
                              os.sched_param(priority))
        realtime = True
    except OSError:
        realtime = False
    start = time.monotonic()
    deadline, wakeups, late, worst = start + period_s, 0, 0, 0.0
    while deadline < start + seconds:
        time.sleep(max(0.0, deadline - time.monotonic()))
        lateness = time.monotonic() - deadline
        wakeups += 1
        late += lateness > period_s
        worst = max(worst, lateness)
        deadline += period_s
        if lateness > period_s:          # count a stall once, not every period it covered
            deadline = time.monotonic() + period_s
    return WakeupReport(period_s, wakeups, late, worst, realtime)
