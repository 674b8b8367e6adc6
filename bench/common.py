"""Shared pieces of the benchmarks: percentiles, CPU hogs started and stopped by PID."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

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
