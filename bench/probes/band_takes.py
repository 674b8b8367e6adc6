"""Probe: the band test's 16 bars (120 BPM, rock, seed 7), take after take, checked as the
test checks them: what dropouts and late bundles did to the drum hits.

Usage: python bench/probes/band_takes.py [--takes N] [--hogs K]
For each take: dropouts (xruns) and late bundles supernova reported, drum hits a late bundle
split in two, spacings exact, spacings no report touched, and any spacing off that no report
explains (the test fails on those)."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from common import RAM_DIR, cpu_hogs  # noqa: E402
from tests.audio import (  # noqa: E402
    merge_split_hits,
    read_wav,
    rounding_allowance,
    undisturbed,
)

from performia.config import Config, load_config, replace  # noqa: E402
from performia.listen.rehearsal import write_wav_float  # noqa: E402
from performia.manager import Manager, RunOptions  # noqa: E402
from performia.server.recorder import STEM_CHANNELS  # noqa: E402

BARS, BPM, RATE = 16, 120.0, 48000
KIT = {"kick", "snare", "hat", "openhat"}


def band_config() -> Config:
    config = load_config()
    config = replace(config, "timing", tempo=BPM)
    config = replace(config, "band", style="rock", seed=7)
    config = replace(config, "gui", enabled=False)
    return replace(config, "midi", initial_mode="play", port="")


def take(config: Config, folder: Path, silence: Path) -> str:
    stems, events = folder / "stems.wav", folder / "events.jsonl"
    manager = Manager(config, RunOptions(duration=BARS * 4 * 60 / BPM + 0.3, stems=stems,
                                         events=events, input=silence, gui=False))
    manager.run()
    if manager.plan is None:
        return "did not start"
    played = [json.loads(line) for line in events.read_text().splitlines()]
    _, audio = read_wav(stems)
    stems.unlink()
    marks = np.nonzero(audio[:, STEM_CHANNELS["drum_marks"]] > 0.5)[0]
    expected = np.array(sorted({round(e["t"] * RATE) for e in played if e.get("voice") in KIT
                                and e["t"] * RATE < audio.shape[0]}))
    hits = merge_split_hits(marks)
    start = manager.plan.start_time
    reports = [t - start for t in manager.server_log.report_times()]
    head = (f"dropouts {manager.server_log.xruns:2d}, late {manager.server_log.late:3d}, "
            f"split hits {len(marks) - len(hits)}")
    if len(hits) != len(expected):
        return f"{head}: {len(hits)} hits for {len(expected)} notes"
    times = expected / RATE
    errors = np.diff(hits) - np.diff(expected)
    clean = undisturbed(times, reports)
    wrong = np.nonzero(clean & (np.abs(errors) > rounding_allowance(times, reports)))[0]
    return (f"{head}, exact {np.count_nonzero(errors == 0)}/{errors.size}, undisturbed "
            f"{np.count_nonzero(clean)}, off and unexplained "
            f"{[(round(float(times[i]), 3), int(errors[i])) for i in wrong]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--takes", type=int, default=10)
    parser.add_argument("--hogs", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=RAM_DIR) as tmp, cpu_hogs(args.hogs):
        folder = Path(tmp)
        silence = folder / "silence.wav"
        write_wav_float(silence, np.zeros(RATE * 40, dtype=np.float32), RATE)
        for number in range(args.takes):
            print(f"take {number}: {take(band_config(), folder, silence)}", flush=True)


if __name__ == "__main__":
    main()
