"""Probe: xruns while the band plays beside K CPU hogs, with every thread of jackd and
supernova pinned to one CPU (taskset) once they run.

Usage: python bench/probes/band_pinned.py K CPU|none"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import cpu_hogs  # noqa: E402


def main() -> None:
    hogs, cpu = int(sys.argv[1]), sys.argv[2]
    with cpu_hogs(hogs):
        band = subprocess.Popen([sys.executable, "-m", "performia", "--realtime", "--duration",
                                 "15", "--no-gui", "-v"], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        time.sleep(3)
        if cpu != "none":
            for child in psutil.Process(band.pid).children(recursive=True):
                if child.name() in ("jackd", "supernova"):
                    subprocess.run(["taskset", "-a", "-cp", cpu, str(child.pid)],
                                   capture_output=True, check=False)
        output, _ = band.communicate()
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if "band starts" in line), 0)
    xruns = sum("xrun detected" in line for line in lines[start:])
    print(f"{hogs} hogs, jackd and supernova pinned to {cpu}: xrun report lines after the "
          f"start {xruns} (one dropout prints 1-8)")


if __name__ == "__main__":
    main()
