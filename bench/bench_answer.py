"""Input onset → reactive answer, measured in the recorded server output, in samples.

The band plays with a take of 40 clicks as its guitar (`../shared/anchors/clicks.wav`, the
anchors' own input). Each strong attack makes the analysis synth send /accent; the
conductor answers at once with a reactive hit (its own ring → transport → supernova). The
stems recording holds the input (channels 8–9) and the answers (10–11) side by side: the
latency is the distance between each input onset and the answer after it, the same
measure as `../shared/anchors/measure.py`.

Usage: python bench/bench_answer.py [--hogs 2] [--take PATH]
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import RAM_DIR, cpu_hogs, gui_clients_process, stall_sentinel

from performia.config import load_config, replace
from performia.listen.rehearsal import read_take
from performia.manager import Manager, RunOptions
from performia.server.recorder import STEM_CHANNELS

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.audio import onsets, read_wav  # noqa: E402

CLICKS = ROOT.parent / "shared" / "anchors" / "clicks.wav"


def measure(take: Path, hogs: int, verbose: bool = False, gui_clients: int = 0
            ) -> dict[str, Any]:
    info = read_take(take)
    config = replace(load_config(), "gui", enabled=gui_clients > 0)
    out = Path(tempfile.mkdtemp(prefix="performia-answer-", dir=RAM_DIR))
    clients = None
    try:                                            # the recording lives in RAM: remove it
        manager = Manager(config, RunOptions(duration=info.duration + 0.5, input=take,
                                             stems=out / "stems.wav", gui=gui_clients > 0))
        clients = gui_clients_process(config.gui.port, gui_clients) if gui_clients else None
        with cpu_hogs(hogs), stall_sentinel() as stalls:
            manager.run()
        _rate, audio = read_wav(out / "stems.wav")
    finally:
        if clients is not None:
            clients.terminate()
            clients.wait(5)
        shutil.rmtree(out, ignore_errors=True)
    heard = onsets(audio[:, STEM_CHANNELS["input"]], 0.05, min_gap=4800)
    answers = onsets(audio[:, STEM_CHANNELS["test"]], 0.05, min_gap=4800)
    latencies = []
    for onset in heard:
        after = answers[answers >= onset]
        if after.size and after[0] - onset < 4800:
            latencies.append(int(after[0] - onset))
            if verbose and latencies[-1] > 64:
                wall = manager_start(manager) + onset / 48000
                print(f"late answer: input onset at {onset / 48000:.3f} s (CLOCK_MONOTONIC "
                      f"{wall - time.time() + time.monotonic():.6f}), answer "
                      f"{latencies[-1]} samples after")
    lat = np.array(latencies)
    return {"inputs": len(heard), "answers": len(lat), "p50": float(np.median(lat)),
            "p99": float(np.percentile(lat, 99)), "max": float(lat.max()),
            "xruns": manager.server_log.xruns, "stalls": stalls}


def manager_start(manager: Manager) -> float:
    """Wall-clock time of the recording's sample 0 (the plan's start time)."""
    return manager.plan.start_time if manager.plan is not None else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hogs", type=int, default=0)
    parser.add_argument("--take", type=Path, default=CLICKS)
    parser.add_argument("--gui-clients", type=int, default=0,
                        help="WebSocket clients on the GUI (0 = no GUI)")
    parser.add_argument("-v", action="store_true", help="print each answer later than 64 samples")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    r = measure(args.take, args.hogs, args.v, args.gui_clients)
    print(f"input onset → answer, band playing, {args.hogs} CPU hogs, {args.gui_clients} GUI "
          f"clients: {r['answers']:.0f} of "
          f"{r['inputs']:.0f} onsets answered; latency samples p50 {r['p50']:.0f} p99 "
          f"{r['p99']:.0f} max {r['max']:.0f} (ms p50 {r['p50'] / 48:.2f} p99 "
          f"{r['p99'] / 48:.2f}); {r['xruns']} xruns; {r['stalls']}")


if __name__ == "__main__":
    main()
