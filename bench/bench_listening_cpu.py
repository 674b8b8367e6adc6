"""What the whole listening side costs while the band plays, in % of one core (issue 10's
target: under 5 %).

Two measurements, one after the other, each on its own:

1. **Python** (`--runs` runs): `python -m performia --realtime --no-gui --duration S` with
   the take as the guitar (the rehearsal take unless `--input`), the band playing along.
   The conductor reports, as it ends, the CPU from the first analysis reading to the last
   of the ears' thread, of the chroma worker (after its start-up) and of the server
   socket's receive thread (which parses the replies and answers the accents); this
   bench reads that line.
2. **The server's analysis synth**: supernova's average DSP load (`/status`) while the take
   plays through `listen_take` (the analysis) and through `play_take` (the same playback
   without it), in turn, `--rounds` times; the difference is what the analysis costs
   supernova (its load is the share of each audio period its DSP threads compute).

Usage: python bench/bench_listening_cpu.py [--input TAKE.wav] [--seconds 30] [--runs 3]
                                           [--rounds 3]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from performia.config import load_config
from performia.listen.rehearsal import read_take
from performia.manager import rehearsal_take
from performia.server.session import ServerSession

EARS_LINE = re.compile(
    r"the ears: (?P<readings>\d+) readings, .*? \((?P<ears>[\d.]+) % of one core; "
    r"\+ (?P<worker>[\d.]+) % in the chroma worker.*?\+ (?P<receive>[\d.]+) % in the server "
    r"socket's receive thread")
TAKE_BUFFER = 100
NODE = 9000
SETTLE = 2.0          # s after a synth starts before its load is read
READ_EVERY = 0.5      # s between /status requests
READ_FOR = 8.0        # s of /status readings per synth


@dataclass(frozen=True)
class PythonCost:
    readings: int
    ears: float          # % of one core
    worker: float
    receive: float

    @property
    def total(self) -> float:
        return self.ears + self.worker + self.receive


def python_cost(take: Path | None, seconds: float) -> PythonCost:
    """One run of the band with the take; the conductor's own account of the ears."""
    command = [sys.executable, "-m", "performia", "--realtime", "--no-gui",
               "--duration", str(seconds)]
    if take is not None:
        command += ["--input", str(take)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120,
                            check=False)
    match = EARS_LINE.search(result.stdout + result.stderr)
    if result.returncode != 0 or match is None:
        tail = (result.stdout + result.stderr).splitlines()[-15:]
        raise RuntimeError(f"the run failed (exit {result.returncode}) or reported no ears:\n"
                           + "\n".join(tail))
    return PythonCost(int(match["readings"]), float(match["ears"]), float(match["worker"]),
                      float(match["receive"]))


def average_load(session: ServerSession) -> float:
    time.sleep(SETTLE)
    loads = []
    end = time.monotonic() + READ_FOR
    while time.monotonic() < end:
        loads.append(session.status().cpu_avg)
        time.sleep(READ_EVERY)
    return statistics.mean(loads)


def server_cost(take: Path, rounds: int) -> tuple[list[float], list[float]]:
    """supernova's average load with the take played with and without its analysis."""
    stereo = read_take(take).channels > 1
    session = ServerSession(load_config())
    client = session.start()
    with_analysis: list[float] = []
    without: list[float] = []
    try:
        client.request("/b_allocRead", TAKE_BUFFER, str(take), reply="/done",
                       match=lambda a: a[:2] == ["/b_allocRead", TAKE_BUFFER], timeout=30)
        for _ in range(rounds):
            for synthdef, loads in (("play_take", without), ("listen_take", with_analysis)):
                client.send("/s_new", synthdef + ("2" if stereo else ""), NODE, 0, 0,
                            "buf", TAKE_BUFFER, "loop", 1)
                loads.append(average_load(session))
                client.send("/n_free", NODE)
    finally:
        session.stop()
    return with_analysis, without


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", type=Path, help="the take (default: the rehearsal take)")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    take = args.input or rehearsal_take(load_config())
    print(f"take {take.name}, {args.seconds:.0f} s runs, the band playing along")
    print("run | readings | ears' thread | chroma worker | receive thread | Python")
    costs = []
    for run in range(1, args.runs + 1):
        cost = python_cost(args.input, args.seconds)
        costs.append(cost)
        print(f"{run:3d} | {cost.readings:8d} | {cost.ears:12.1f} | {cost.worker:13.1f} | "
              f"{cost.receive:14.1f} | {cost.total:6.1f}")
    with_analysis, without = server_cost(take, args.rounds)
    analysis = [a - b for a, b in zip(with_analysis, without, strict=True)]
    print("supernova's average load, listen_take / play_take: "
          + ", ".join(f"{a:.2f} / {b:.2f}" for a, b in zip(with_analysis, without, strict=True))
          + f"; the analysis: median {statistics.median(analysis):.2f}")
    python = statistics.median(c.total for c in costs)
    whole = python + max(0.0, statistics.median(analysis))
    print(f"the whole listening side: {python:.1f} (Python, median of {len(costs)}) + "
          f"{max(0.0, statistics.median(analysis)):.1f} (the server) = {whole:.1f} % of one "
          f"core (target < 5 %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
