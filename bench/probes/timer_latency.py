"""Probe: how late does this machine wake a real-time thread, with K CPU hogs beside it?
Runs `cyclictest` (Debian rt-tests) at SCHED_FIFO 80 on every CPU with a 1333 µs interval
(one 64-frame period at 48 kHz) and counts the wake-ups later than one period: each of those
is an xrun for any audio server at 64 frames, whatever that server does.

Usage: python bench/probes/timer_latency.py K [--seconds 30] [--runs 3]"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import cpu_hogs  # noqa: E402

PERIOD_US = 1333


def late_wakeups(seconds: int) -> tuple[list[int], str]:
    out = subprocess.run(["cyclictest", "-q", "-m", "-p", "80", "-a", "-t", "--policy=fifo",
                          "-i", str(PERIOD_US), "-D", str(seconds), "-h", "10000"],
                         capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in out.splitlines() if line[:1].isdigit()]
    cpus = len(rows[0]) - 1 if rows else 0
    late = [sum(int(r[c]) for r in rows if int(r[0]) > PERIOD_US) for c in range(1, cpus + 1)]
    maxima = next((line for line in out.splitlines() if "Max Latencies" in line), "")
    return late, maxima.replace("# Max Latencies:", "max µs per CPU:").strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("hogs", type=int)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for _ in range(args.runs):
        with cpu_hogs(args.hogs):
            late, maxima = late_wakeups(args.seconds)
        print(f"{args.hogs} hogs, {args.seconds} s: wake-ups > {PERIOD_US} µs late per CPU "
              f"{late}; {maxima}", flush=True)


if __name__ == "__main__":
    main()
