"""Score the guitar ears (chords, key, beats, tempo) on the sampled-guitar corpus.

    python bench/bench_listening.py [--split heldout|dev|all] [--conditions] [--takes N]
                                    [--corpus build/corpus] [--recogniser performia|baseline]
                                    [--json FILE] [--jobs 2]

Generates the corpus first if it is missing (bench/corpus/generate.py, cached). Every take is
played to the recogniser (`performia.listen.offline.hear_take(samples, sample_rate)`), or to
the naive bar-line chroma baseline, which is also scored beside it for reference. Every
comparison is mir_eval's; docs/CORPUS.md says what each figure means.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from multiprocessing import Pool
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from bench.corpus.baseline import hear_with_bar_lines
from bench.corpus.conditions import CONDITIONS
from bench.corpus.generate import DEFAULT_OUT, generate
from bench.corpus.render import read_wav
from bench.corpus.scoring import HeardLike, pool, score_take

TUNING_DIR = DEFAULT_OUT.with_name("corpus_tuning")
Recogniser = Callable[[np.ndarray, int, dict[str, Any]], HeardLike]


def performia_recogniser() -> Recogniser:
    try:
        from performia.listen.offline import hear_take
    except ImportError as error:
        raise SystemExit(f"performia.listen.offline.hear_take is not available ({error}); "
                         "use --recogniser baseline") from error

    def hear(samples: np.ndarray, sample_rate: int, truth: dict[str, Any]) -> HeardLike:
        meter = int(truth.get("beats_per_bar", 4))          # the band knows its meter
        heard: HeardLike = hear_take(samples, sample_rate, beats_per_bar=meter)
        return heard
    return hear


def recogniser(name: str) -> Recogniser:
    return hear_with_bar_lines if name == "baseline" else performia_recogniser()


def load_take(wav: Path, condition: str) -> tuple[np.ndarray, int, dict[str, Any]]:
    truth = json.loads(wav.with_suffix(".json").read_text())
    samples, rate = read_wav(wav)
    if condition != "clean":
        samples = CONDITIONS[condition](samples, rate, int(truth["seed"]))
    return samples, rate, truth


def hear_and_score(job: tuple[str, str, str]) -> dict[str, Any]:
    wav, condition, name = job
    samples, rate, truth = load_take(Path(wav), condition)
    heard = recogniser(name)(samples, rate, truth)
    result = score_take(truth, heard)
    result.update(condition=condition, recogniser=name)
    if name == "baseline":   # it is told the bar lines and reports no beats or tempo
        result.update(beat_f=None, tempo_right=0.0, tempo_judged=0.0)
    return result


def select_takes(corpus: Path, split: str, count: int | None) -> list[Path]:
    # the tuning takes' folder gets the tuning plan, never the corpus's (held-out) takes
    generate(corpus, tuning=corpus.resolve() == TUNING_DIR.resolve())
    wavs = []
    for wav in sorted(corpus.glob("*.wav")):
        truth = json.loads(wav.with_suffix(".json").read_text())
        if split == "all" or truth["split"] == split:
            wavs.append(wav)
    return wavs[:count] if count else wavs


# --- printing ---------------------------------------------------------------------------
def pct(value: float | None) -> str:
    return "  —  " if value is None else f"{100 * value:5.1f}"


def secs(value: float | None) -> str:
    return "  —  " if value is None else f"{value:5.2f}"


CHORD_HEAD = (f"{'':24} {'takes':>5} {'bars':>4} | {'bar mm':>6} {'bar 7':>6} {'N ok':>6} | "
              f"{'line mm':>7} {'line 7':>6} | {'lat med':>7} {'p90':>5} {'never':>5} | "
              f"{'7 med':>5} {'7 p90':>5}")
TIME_HEAD = (f"{'':24} {'beat F':>6} {'n':>3} | {'tempo':>6} | {'key':>6} | {'1st med':>7} "
             f"{'1st p90':>7} | {'CPU %':>6}")


def chord_row(label: str, figures: dict[str, Any]) -> str:
    mm, sev = figures["latency_majmin"], figures["latency_sevenths"]
    return (f"{label:24} {figures['takes']:5d} {figures['bars']:4d} | "
            f"{pct(figures['bar_majmin']):>6} {pct(figures['bar_sevenths']):>6} "
            f"{pct(figures['no_chord_right']):>6} | {pct(figures['timeline']['majmin']):>7} "
            f"{pct(figures['timeline']['sevenths']):>6} | {secs(mm['median']):>7} "
            f"{secs(mm['p90']):>5} {mm['never_matched']:5d} | {secs(sev['median']):>5} "
            f"{secs(sev['p90']):>5}")


def time_row(label: str, figures: dict[str, Any]) -> str:
    first = figures["latency_first_chord_strummed"]
    cpu = figures["cpu_percent"]
    return (f"{label:24} {pct(figures['beat_f']):>6} {figures['beat_takes']:3d} | "
            f"{pct(figures['tempo_within_2pct']):>6} | {pct(figures['key_weighted']):>6} | "
            f"{secs(first['median']):>7} {secs(first['p90']):>7} | "
            f"{'—' if cpu is None else f'{cpu:6.2f}':>6}")


def figures_by(results: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault(r[key], []).append(r)
    return {name: pool(group) for name, group in sorted(groups.items())}


def report(results: list[dict[str, Any]], main: str, split: str) -> dict[str, Any]:
    figures: dict[str, Any] = {"split": split, "recognisers": {}}
    for name in dict.fromkeys(r["recogniser"] for r in results):
        mine = [r for r in results if r["recogniser"] == name]
        clean = [r for r in mine if r["condition"] == "clean"]
        figures["recognisers"][name] = {
            "overall": pool(clean), "by_style": figures_by(clean, "style"),
            "by_condition": figures_by(mine, "condition"),
            "takes": {r["name"]: {"bar_errors": r["bar_errors"]} for r in clean},
        }
    for title, head, row in (("CHORDS", CHORD_HEAD, chord_row), ("TIME, KEY, CPU", TIME_HEAD,
                                                                   time_row)):
        print(f"\n{title} — split {split}, clean takes\n{head}")
        for name, mine in figures["recognisers"].items():
            if name == main:
                for style, style_figures in mine["by_style"].items():
                    print(row(f"  {style}", style_figures))
            print(row(f"{name} overall", mine["overall"]))
        conditions = figures["recognisers"][main]["by_condition"]
        if len(conditions) > 1:
            print(f"by condition ({main})")
            for condition, condition_figures in conditions.items():
                print(row(f"  {condition}", condition_figures))
    return figures


LEGEND = """
bar mm / bar 7: bars whose chord is right at 60 % of the bar (mir_eval majmin / sevenths;
  'other' chords, e.g. sus4, dim, hdim7, excluded as mir_eval does). N ok: no-chord bars heard
  as N. line mm / line 7: mir_eval.chord.evaluate over the whole timeline (all takes end to end).
lat: seconds from a chord change until the label matches (majmin; 7 = sevenths) and stays until
  60 % of the bar; 'never' = not matched by then (counted as the rest of the bar). 1st: the
  first chord of strummed takes. beat F: mir_eval.beat.f_measure after trim_beats (first 5 s
  dropped), constant-tempo takes. tempo: share of time the reported tempo is within ±2 %.
  key: mir_eval.key.weighted_score, time-averaged from 4 bars in. CPU: % of one core."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("heldout", "dev", "all"), default="heldout")
    parser.add_argument("--conditions", action="store_true",
                        help="also every take through " + ", ".join(CONDITIONS))
    parser.add_argument("--takes", type=int, help="only the first N takes of the split")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--recogniser", choices=("performia", "baseline"), default="performia")
    parser.add_argument("--no-baseline", action="store_true", help="skip the baseline rows")
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)

    started = time.monotonic()
    if args.recogniser == "performia":
        performia_recogniser()   # fail now, with the reason, not in a worker
    wavs = select_takes(args.corpus, args.split, args.takes)
    names = [args.recogniser] + ([] if args.recogniser == "baseline" or args.no_baseline
                                 else ["baseline"])
    conditions = ["clean"] + (list(CONDITIONS) if args.conditions else [])
    jobs = [(str(w), c, n) for n in names for c in conditions for w in wavs]
    if args.jobs > 1:
        with Pool(args.jobs) as workers:
            results = workers.map(hear_and_score, jobs, chunksize=1)
    else:
        results = [hear_and_score(job) for job in jobs]
    figures = report(results, args.recogniser, args.split)
    print(LEGEND)
    elapsed = time.monotonic() - started
    audio = sum(r["duration"] for r in results if r["recogniser"] == args.recogniser)
    print(f"\n{len(wavs)} takes × {len(conditions)} conditions, {audio / 60:.1f} min of audio "
          f"per recogniser, scored in {elapsed:.0f} s")
    if args.json:
        figures["elapsed_seconds"] = elapsed
        args.json.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
