"""Probe: does a machine stall alone make an xrun? An idle supernova (no synths but the
master) on the real-time dummy JACK, K CPU hogs beside it, the stall sentinel running:
compare supernova's xruns with the sentinel's late wake-ups.

Usage: python bench/probes/idle_server_stalls.py K [--seconds 30] [--threads 2] [--awake]"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import cpu_hogs, stall_sentinel  # noqa: E402

from performia.config import load_config, replace  # noqa: E402
from performia.cpu_wake import CpuWakeRequest  # noqa: E402
from performia.server import synthdefs  # noqa: E402
from performia.server.session import ServerSession  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("hogs", type=int)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--awake", action="store_true", help="keep the CPUs awake (PM QoS 0)")
    args = parser.parse_args()
    awake = CpuWakeRequest()
    if args.awake:
        awake.hold()
    synthdefs.build()
    session = ServerSession(replace(load_config(), "server", threads=args.threads))
    session.start()
    try:
        assert session.supernova is not None
        before = session.supernova.log.xruns
        with cpu_hogs(args.hogs), stall_sentinel() as stalls:
            time.sleep(args.seconds)
        xruns = session.supernova.log.xruns - before
    finally:
        session.stop()
        awake.release()
    cpus = "CPUs kept awake" if args.awake else "CPUs may idle"
    print(f"idle server, {cpus}, {args.hogs} hogs, {args.seconds:.0f} s: {xruns} xruns; {stalls}")


if __name__ == "__main__":
    main()
