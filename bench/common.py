"""Shared pieces of the benchmarks: percentiles, CPU hogs started and stopped by PID."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

HOG = "while True: pass"
# Recordings go to RAM: on these VMs, writing 3 MB/s of stems to the virtual disk stalls the
# vCPUs now and then (xruns); a musician's recording to a real disk is their own choice.
RAM_DIR = "/dev/shm"


def summary(values_us: Sequence[float]) -> str:
    a = np.asarray(values_us, dtype=float)
    return (f"n {a.size}, p50 {np.percentile(a, 50):.1f} µs, p99 {np.percentile(a, 99):.1f} µs, "
            f"max {a.max():.1f} µs")


def _normal_priority() -> None:
    """A child inherits its parent's policy: a hog of a SCHED_FIFO bench would be real-time."""
    os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))


@contextmanager
def cpu_hogs(count: int) -> Iterator[list[int]]:
    """`count` busy Python processes at normal priority, stopped by PID afterwards."""
    hogs = [subprocess.Popen([sys.executable, "-c", HOG], preexec_fn=_normal_priority)
            for _ in range(count)]
    try:
        yield [h.pid for h in hogs]
    finally:
        for hog in hogs:
            hog.terminate()
        for hog in hogs:
            hog.wait(5)


PERIOD_US = 1333   # one 64-frame period at 48 kHz


@dataclass
class Stalls:
    """What a bare real-time timer thread saw during a run: `late` wake-ups later than one
    audio period (each one an xrun for any audio server at that period), per CPU."""

    measured: bool = False
    late: list[int] = field(default_factory=list)
    max_us: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        if not self.measured:
            return "machine stalls not measured (no cyclictest: apt-get install rt-tests)"
        return (f"a bare SCHED_FIFO 80 timer thread (cyclictest) woke > {PERIOD_US} µs late "
                f"{sum(self.late)} times (per CPU {self.late}, max {self.max_us} µs)")


@contextmanager
def stall_sentinel() -> Iterator[Stalls]:
    """Runs `cyclictest` beside a benchmark: one SCHED_FIFO 80 thread per CPU waking every
    audio period. Its late wake-ups are the machine's own (the hypervisor's, on a VM): no
    audio software can do better than this thread."""
    stalls = Stalls()
    if shutil.which("cyclictest") is None:
        yield stalls
        return
    # --laptop: leave /dev/cpu_dma_latency alone (cyclictest would hold it at 0 µs itself,
    # changing what is measured beside it)
    sentinel = subprocess.Popen(["cyclictest", "--laptop", "-q", "-m", "-p", "80", "-a", "-t",
                                 "--policy=fifo", "-i", str(PERIOD_US), "-h", "20000"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        yield stalls
    finally:
        sentinel.send_signal(signal.SIGINT)   # cyclictest prints its histogram and exits
        out, _ = sentinel.communicate(timeout=10)
        rows = [line.split() for line in out.splitlines() if line[:1].isdigit()]
        if rows:
            cpus = range(1, len(rows[0]))
            over = _figures(out, "Histogram Overflows") or [0 for _ in cpus]
            stalls.late = [sum(int(r[c]) for r in rows if int(r[0]) > PERIOD_US) + over[c - 1]
                           for c in cpus]
            stalls.max_us = _figures(out, "Max Latencies")
            stalls.measured = True


def _figures(report: str, title: str) -> list[int]:
    """The numbers of cyclictest's `# <title>: 00012 00034` line, one per CPU."""
    line = next((x for x in report.splitlines() if x.startswith(f"# {title}:")), "")
    return [int(x) for x in line.split(":")[-1].split()]


def gui_clients_process(port: int, count: int) -> subprocess.Popen[bytes]:
    """`count` WebSocket clients reading the GUI's /ws in one separate process."""
    code = f"""
import asyncio, time, websockets
async def one():
    while True:
        try:
            async with websockets.connect("ws://127.0.0.1:{port}/ws", max_size=None) as ws:
                async for _ in ws:
                    pass
        except Exception:
            await asyncio.sleep(0.2)
async def main():
    await asyncio.gather(*[one() for _ in range({count})])
asyncio.run(main())
"""
    return subprocess.Popen([sys.executable, "-c", code])
