"""Generate the listening corpus: sampled guitars (fluidsynth) + truth JSON beside each WAV.

    python bench/corpus/generate.py [--out build/corpus] [--takes NAME ...] [--jobs 2]

Deterministic from each take's seed. A take is skipped when its WAV and JSON exist and the
JSON's spec_hash matches the spec (and generator version) of today. docs/CORPUS.md has the
table of takes and the split rule.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from multiprocessing import Pool
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.corpus.perform import TAIL_SECONDS, Grid, Note, Player, bar_chords, key_at
from bench.corpus.render import SAMPLE_RATE, render, write_wav
from bench.corpus.takes import PROGRAMS, SOUNDFONTS, TakeSpec, corpus_plan, tuning_plan

GENERATOR_VERSION = 1
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "build" / "corpus"


def mir_key(harte_key: str) -> str:
    """'G:maj' → 'G major' (mir_eval.key's format)."""
    tonic, mode = harte_key.split(":")
    return f"{tonic} {'major' if mode == 'maj' else 'minor'}"


def spec_hash(spec: TakeSpec) -> str:
    soundfont = Path(SOUNDFONTS[spec.soundfont])
    size = soundfont.stat().st_size if soundfont.is_file() else 0
    fields = asdict(spec)
    if not fields["intonation"]:
        del fields["intonation"]          # takes in tune keep the hash they had before it
    text = json.dumps([GENERATOR_VERSION, fields, soundfont.name, size], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def chord_segments(spec: TakeSpec, grid: Grid, duration: float) -> list[list[object]]:
    """Contiguous [start, end, label] from 0 to duration; a change at its grid line."""
    changes: list[tuple[float, str]] = [(0.0, "N")]
    for bar in range(len(spec.bars)):
        chords = bar_chords(spec, bar)
        if not chords:
            changes.append((grid.bar_starts[bar], "N"))
        for step, label in chords:
            changes.append((grid.eighth(bar, step), label))
    changes.append((grid.bar_starts[-1] + grid.bar_lengths[-1], "N"))
    merged: list[tuple[float, str]] = []
    for t, label in changes:
        if merged and merged[-1][1] == label:
            continue
        merged.append((t, label))
    ends = [t for t, _ in merged[1:]] + [duration]
    return [[round(t, 6), round(end, 6), label]
            for (t, label), end in zip(merged, ends, strict=True) if end > t]


def key_truth(spec: TakeSpec, grid: Grid, duration: float) -> str | list[list[object]]:
    if not spec.key_changes:
        return mir_key(spec.key)
    starts = [0.0] + [grid.bar_starts[bar] for bar, _ in spec.key_changes]
    keys = [spec.key] + [key for _, key in spec.key_changes]
    ends = starts[1:] + [duration]
    return [[round(s, 6), round(e, 6), mir_key(k)]
            for s, e, k in zip(starts, ends, keys, strict=True)]


def truth_of(spec: TakeSpec, grid: Grid, notes: list[Note], melody: list[tuple[float, int]],
             duration: float) -> dict[str, object]:
    tempo_at = dict(spec.tempo_changes)
    tempos = [[0.0, spec.bpm]] + [[round(grid.bar_starts[b], 6), bpm] for b, bpm in
                                  sorted(tempo_at.items())]
    return {
        "name": spec.name, "sample_rate": SAMPLE_RATE, "duration": duration,
        "bpm": spec.bpm, "tempo_changes": tempos, "beats_per_bar": spec.beats_per_bar,
        "key": key_truth(spec, grid, duration),
        "chords": chord_segments(spec, grid, duration),
        "beats": [round(b, 6) for b in grid.beats()],
        "downbeats": [round(b, 6) for b in grid.bar_starts],
        "bars": [[round(s, 6), round(s + n, 6)]
                 for s, n in zip(grid.bar_starts, grid.bar_lengths, strict=True)],
        "bar_text": list(spec.bars),
        "bar_keys": [key_at(spec, b) for b in range(len(spec.bars))],
        "first_onset": round(min(n.start for n in notes), 6),
        "style": spec.style, "program": spec.program,
        "instrument": PROGRAMS[spec.program], "soundfont": spec.soundfont,
        "soundfont_file": Path(SOUNDFONTS[spec.soundfont]).name,
        "shape": spec.shape, "pattern": spec.pattern, "swing": spec.swing,
        "ring": spec.ring, "reverb": spec.reverb, "intonation": spec.intonation,
        "seed": spec.seed, "split": spec.split,
        "steady": spec.steady, "tempo_steady": not spec.tempo_changes,
        "melody": [[t, p] for t, p in melody], "spec_hash": spec_hash(spec),
    }


def make_take(spec: TakeSpec) -> tuple[np.ndarray, dict[str, object]]:
    player = Player(spec)
    notes = player.perform()
    grid = player.grid
    duration = round(grid.bar_starts[-1] + grid.bar_lengths[-1] + TAIL_SECONDS, 3)
    samples = render(notes, spec.program, SOUNDFONTS[spec.soundfont], spec.reverb, duration)
    return samples, truth_of(spec, grid, notes, player.melody, duration)


def is_current(spec: TakeSpec, out: Path) -> bool:
    wav, truth = out / f"{spec.name}.wav", out / f"{spec.name}.json"
    if not (wav.is_file() and truth.is_file()):
        return False
    try:
        return bool(json.loads(truth.read_text()).get("spec_hash") == spec_hash(spec))
    except (OSError, ValueError):
        return False


def write_take(spec: TakeSpec, out: Path) -> str:
    if is_current(spec, out):
        return "cached"
    samples, truth = make_take(spec)
    write_wav(out / f"{spec.name}.wav", samples)
    (out / f"{spec.name}.json").write_text(json.dumps(truth, indent=1))
    return "written"


def _write_one(job: tuple[TakeSpec, Path]) -> str:
    return write_take(*job)


def generate(out: Path = DEFAULT_OUT, names: Sequence[str] | None = None,
             jobs: int = 2, tuning: bool = False) -> list[TakeSpec]:
    """Write (or reuse) the takes named (all when None) into `out`; returns their specs.
    `tuning`: the tuning set (dev only) instead of the corpus."""
    plan = tuning_plan() if tuning else corpus_plan()
    if names:
        unknown = set(names) - {s.name for s in plan}
        if unknown:
            raise ValueError(f"no such takes: {sorted(unknown)}")
        plan = [s for s in plan if s.name in set(names)]
    out.mkdir(parents=True, exist_ok=True)
    todo = [s for s in plan if not is_current(s, out)]
    if jobs > 1 and len(todo) > 1:
        with Pool(min(jobs, len(todo))) as pool:
            pool.map(_write_one, [(s, out) for s in todo], chunksize=1)
            pool.close()                 # the workers end on their own, none is killed
            pool.join()
    else:
        for spec in todo:
            write_take(spec, out)
    return plan


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--takes", nargs="*", help="only these take names")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--list", action="store_true", help="print the plan and stop")
    parser.add_argument("--plan", choices=("corpus", "tuning"), default="corpus",
                        help="tuning: extra development takes (build/corpus_tuning)")
    args = parser.parse_args(argv)
    tuning = args.plan == "tuning"
    if tuning and args.out == DEFAULT_OUT:
        args.out = DEFAULT_OUT.with_name("corpus_tuning")
    if args.list:
        for spec in tuning_plan() if tuning else corpus_plan():
            print(f"{spec.name:24} {spec.split:8} {spec.soundfont:10} {len(spec.bars):3} bars")
        return 0
    started = time.monotonic()
    plan = generate(args.out, args.takes, args.jobs, tuning)
    print(f"{len(plan)} takes in {args.out} ({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
