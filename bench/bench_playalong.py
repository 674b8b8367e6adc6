"""Play-along: does the band land the guitarist's changes on the one? The band loop on the
offline clock (no server, seconds to run) over song forms, the ears simulated from the truth
(each chord change reaches the state book `--latency` s after it is played), at 96 and 120 BPM.

Prints per song and tempo: the predictable bars (the form heard so far makes them
predictable) with the right chord on the downbeat in keys and bass, the median correction
after a change the band was not on (beats), and the share of bass notes that are tones of
the chord the keys sound (all notes; and leaving out leading notes into the next bar).

Usage: python bench/bench_playalong.py [--latency 0.3] [--tempos 96 120] [--seed 1] [--no-form]
Targets: >= 90 % right, median correction <= 1 beat, bass/keys agreement >= 95 %.
"""

from __future__ import annotations

import argparse
import time

from performia.conductor.playalong import Scores, SongForm, play_along, score

POP = ["C", "G", "A:min", "F"]
BLUES = ["A:7", "A:7", "A:7", "A:7", "D:7", "D:7", "A:7", "A:7", "E:7", "D:7", "A:7", "E:7"]
JAZZ = ["D:min7", "G:7", "C:maj7", "C:maj7", "E:min7 A:7", "D:min7 G:7", "C:maj7", "C:maj7"]
VERSE = ["G", "G", "C", "D", "G", "E:min", "C D", "G"]
BRIDGE = ["C", "C", "G", "G", "A:min", "A:min", "D", "D:7"]
SURPRISE = POP * 2 + ["C", "G", "E:min", "F"] + POP

SONGS = (
    SongForm.parse("pop I-V-vi-IV x3", "rock", "C:maj", POP * 3),
    SongForm.parse("12-bar blues x2", "rock", "A:maj", BLUES * 2),
    SongForm.parse("jazz ii-V-I x3", "jazz-swing", "C:maj", JAZZ * 3),
    SongForm.parse("AABA 8-bar sections x2", "ballad", "G:maj", (VERSE * 2 + BRIDGE + VERSE) * 2),
    SongForm.parse("pop with a surprise bar", "rock", "C:maj", SURPRISE),
)


def line(name: str, bpm: float, s: Scores) -> str:
    return (f"{name:26s} {bpm:5.0f}  {s.both_right:3d}/{s.predictable:<3d} "
            f"{100 * s.right_share:5.1f} %"
            f"  keys {s.keys_right:3d}  bass {s.bass_right:3d}  corrections {len(s.corrections):2d}"
            f" median {s.median_correction:4.2f} beat  agreement {100 * s.agreement:5.1f} %"
            f" ({100 * s.agreement_besides_approaches:5.1f} % besides leading notes)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--tempos", type=float, nargs="+", default=[96.0, 120.0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-form", action="store_true",
                        help="the band without the state book: it plays the chord it hears")
    args = parser.parse_args()
    started = time.perf_counter()
    totals = {"predictable": 0, "right": 0, "notes": 0, "agreeing": 0, "approaches": 0}
    corrections: list[float] = []
    for song in SONGS:
        for bpm in args.tempos:
            scores = score(play_along(song, bpm, args.latency, args.seed,
                                      anticipate=not args.no_form))
            print(line(song.name, bpm, scores))
            totals["predictable"] += scores.predictable
            totals["right"] += scores.both_right
            totals["notes"] += scores.bass_notes
            totals["agreeing"] += scores.agreeing
            totals["approaches"] += scores.approach_notes
            corrections.extend(scores.corrections)
    corrections.sort()
    median = corrections[len(corrections) // 2] if corrections else 0.0
    besides = totals["notes"] - totals["approaches"]
    print(f"\nall: predictable bars right {totals['right']}/{totals['predictable']} = "
          f"{100 * totals['right'] / max(1, totals['predictable']):.1f} %; "
          f"median correction {median:.2f} beat over {len(corrections)} changes; "
          f"bass/keys agreement {100 * totals['agreeing'] / max(1, totals['notes']):.1f} % "
          f"of {totals['notes']} notes ({100 * totals['agreeing'] / max(1, besides):.1f} % "
          f"besides {totals['approaches']} leading notes); "
          f"{time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
