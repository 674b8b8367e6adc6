"""Probe: find the moments a vCPU did not run at all. With a busy CPU the guest's timer
interrupt (local_timer_entry) fires every tick; a gap of several ticks with no trace event
on that CPU means the hypervisor did not run the vCPU (nothing in the guest can preempt an
interrupt). Usage: python bench/probes/tick_gaps.py TRACE.txt [--over-ms 2]
Record with irq_vectors:local_timer_entry enabled (see sched_trace.py)."""

from __future__ import annotations

import argparse
import re

EVENT = re.compile(r"\[(?P<cpu>\d+)\]\s+\S+\s+(?P<ts>[\d.]+): (?P<event>\w+):")


def gaps(path: str, over: float) -> dict[int, list[tuple[float, float]]]:
    last: dict[int, float] = {}
    found: dict[int, list[tuple[float, float]]] = {}
    with open(path, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            m = EVENT.search(line)
            if not m:
                continue
            cpu, ts = int(m["cpu"]), float(m["ts"])
            if cpu in last and ts - last[cpu] > over:
                found.setdefault(cpu, []).append((last[cpu], ts - last[cpu]))
            last[cpu] = ts
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("trace")
    parser.add_argument("--over-ms", type=float, default=2.0)
    args = parser.parse_args()
    for cpu, found in sorted(gaps(args.trace, args.over_ms / 1000).items()):
        longest = sorted((d for _, d in found), reverse=True)[:5]
        print(f"cpu{cpu}: {len(found)} silent gaps > {args.over_ms} ms; longest "
              + ", ".join(f"{d * 1000:.1f} ms" for d in longest))


if __name__ == "__main__":
    main()
