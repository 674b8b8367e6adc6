"""Probe: xruns while the band plays beside K CPU hogs.

Usage: python bench/probes/band_with_hogs.py K [performia options]
Counts supernova's "xrun detected" lines over a 15-second `performia --realtime` run (JACK
reports one dropout in 1-8 lines: the manager's closing line counts dropouts)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import cpu_hogs  # noqa: E402


def main() -> None:
    hogs, options = int(sys.argv[1]), sys.argv[2:]
    with cpu_hogs(hogs):
        run = subprocess.run([sys.executable, "-m", "performia", "--realtime", "--duration",
                              "15", "--no-gui", "-v", *options], capture_output=True, text=True,
                             check=False)
    xruns = (run.stdout + run.stderr).count("xrun detected")
    print(f"{hogs} hogs {options}: xrun report lines {xruns}")


if __name__ == "__main__":
    main()
