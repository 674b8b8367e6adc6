"""Probe: read an ftrace text dump (sched_switch/sched_wakeup) and find the audio cycles
that ran late: for each wake-up of the given real-time threads, how long until it ran,
and what ran on the CPUs meanwhile.

Usage: python bench/probes/sched_trace.py TRACE.txt PID [PID ...] [--over-us 300]
Record with:  T=/sys/kernel/tracing; echo 'sched:sched_switch sched:sched_wakeup' > $T/set_event;
              echo 1 > $T/tracing_on; <run>; echo 0 > $T/tracing_on; cat $T/trace > TRACE.txt"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from dataclasses import dataclass

LINE = re.compile(r"^\s*(?P<task>.+?)-(?P<pid>\d+)\s+\[(?P<cpu>\d+)\]\s+\S+\s+(?P<ts>[\d.]+): "
                  r"(?P<event>\w+): (?P<rest>.*)$")
SWITCH = re.compile(r"prev_comm=(?P<pc>.+?) prev_pid=(?P<pp>\d+) prev_prio=(?P<ppr>\d+) "
                    r"prev_state=(?P<ps>\S+) ==> next_comm=(?P<nc>.+?) next_pid=(?P<np>\d+) "
                    r"next_prio=(?P<npr>\d+)")
WAKEUP = re.compile(r"comm=(?P<c>.+?) pid=(?P<p>\d+) prio=(?P<pr>\d+) target_cpu=(?P<cpu>\d+)")


@dataclass
class Wait:
    pid: int
    woken: float
    ran: float
    cpu: int


def parse(path: str) -> list[tuple[float, int, str, re.Match[str]]]:
    events = []
    with open(path, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            m = LINE.match(line)
            if not m or m["event"] not in ("sched_switch", "sched_wakeup"):
                continue
            rest = (SWITCH if m["event"] == "sched_switch" else WAKEUP).match(m["rest"])
            if rest:
                events.append((float(m["ts"]), int(m["cpu"]), m["event"], rest))
    return events


def waits(events: list[tuple[float, int, str, re.Match[str]]], pids: set[int]) -> list[Wait]:
    woken: dict[int, float] = {}
    out = []
    for ts, cpu, kind, m in events:
        if kind == "sched_wakeup" and int(m["p"]) in pids:
            woken.setdefault(int(m["p"]), ts)
        elif kind == "sched_switch":
            woken.pop(int(m["pp"]), None)  # it was running: a wake-up we did not see switch in
            if int(m["np"]) in woken:
                out.append(Wait(int(m["np"]), woken.pop(int(m["np"])), ts, cpu))
    return out


def context(events: list[tuple[float, int, str, re.Match[str]]], start: float,
            end: float) -> list[str]:
    lines = []
    for ts, cpu, kind, m in events:
        if start <= ts <= end:
            if kind == "sched_switch":
                lines.append(f"  {ts:.6f} cpu{cpu} {m['pc']}({m['pp']},{m['ppr']},{m['ps']})"
                             f" -> {m['nc']}({m['np']},{m['npr']})")
            else:
                lines.append(f"  {ts:.6f} cpu{cpu} wake {m['c']}({m['p']},{m['pr']}) "
                             f"on cpu{m['cpu']}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("trace")
    parser.add_argument("pids", type=int, nargs="+")
    parser.add_argument("--over-us", type=float, default=300.0)
    parser.add_argument("--show", type=int, default=5)
    args = parser.parse_args()
    events = parse(args.trace)
    found = waits(events, set(args.pids))
    late = [w for w in found if (w.ran - w.woken) * 1e6 > args.over_us]
    for pid in args.pids:
        delays = sorted((w.ran - w.woken) * 1e6 for w in found if w.pid == pid)
        if delays:
            print(f"pid {pid}: {len(delays)} wake-ups, wake->run p50 {delays[len(delays)//2]:.0f}"
                  f" µs, p99 {delays[int(len(delays)*0.99)]:.0f} µs, max {delays[-1]:.0f} µs")
    print(f"{len(late)} wake-ups took > {args.over_us:.0f} µs to run")
    who = Counter()
    for w in late:
        for ts, _cpu, kind, m in events:
            if kind == "sched_switch" and w.woken <= ts <= w.ran:
                who[f"{m['nc']}({m['npr']})"] += 1
    print("ran meanwhile:", who.most_common(10))
    for w in late[: args.show]:
        print(f"pid {w.pid} woken {w.woken:.6f} ran {w.ran:.6f} on cpu{w.cpu} "
              f"({(w.ran - w.woken) * 1e6:.0f} µs)")
        print("\n".join(context(events, w.woken - 0.0015, w.ran + 0.0002)))


if __name__ == "__main__":
    main()
