"""Score a LIVE play-along from its `--events` file against a corpus take's truth: what a
new user gets with `python -m performia --input TAKE.wav --events FILE` (issue 11).

For each bar that the form heard so far makes predictable (the rule of
bench_playalong_ears.py): the band's one is the bass note starting nearest the guitarist's
downbeat (within 60 ms, else the bar counts as wrong); right = the keys and the bass sound
the guitarist's chord there (`conductor/playalong.keys_right`, `bass_right`). Also: the
bass notes that are tones of the keys' chord, and where the band came in.

The take's t = 0 is the events' t = 0 (`--input` plays the take from the song's start).

Usage: python bench/score_live_events.py EVENTS.jsonl build/corpus/001_strum_g_96.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from bench_playalong_ears import Truth, label_of, predictable

from performia.conductor.playalong import bass_right, keys_chord, keys_right, logged_soundings
from performia.theory import Chord

NEAR = 0.06     # s: the band's one this close to the guitarist's


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("events", type=Path)
    parser.add_argument("truth", type=Path)
    args = parser.parse_args()
    raw = json.loads(args.truth.read_text())
    truth = Truth(int(raw["beats_per_bar"]), list(raw["beats"]), list(raw["downbeats"]),
                  [(float(a), float(b), label_of(str(c))) for a, b, c in raw["chords"]],
                  [(float(t), float(b)) for t, b in raw["tempo_changes"]],
                  float(raw["duration"]))
    lines = [json.loads(line) for line in args.events.read_text().splitlines() if line.strip()]
    keys, bass = logged_soundings(lines, "harmony"), logged_soundings(lines, "bass")
    starts = np.array(sorted({n.start for n in bass}))
    bars = truth.bars()
    right = judged = 0
    wrong: list[str] = []
    for n in predictable(bars):
        judged += 1
        down = truth.downbeats[n]
        if starts.size == 0:
            continue
        one = float(starts[np.argmin(np.abs(starts - down))])
        chord = Chord.parse(bars[n][0])
        bar = truth.bpb * 60.0 / truth.tempo_changes[0][1]
        if abs(one - down) <= NEAR and keys_right(keys, chord, one, one + bar) \
                and bass_right(bass, chord, one):
            right += 1
        else:
            wrong.append(f"bar {n + 1} {chord.label} (band's one {one - down:+.3f} s)")
    candidates = sorted({Chord.parse(c) for _, _, c in truth.chords if c != "N"},
                        key=lambda c: c.label)
    agreeing = counted = 0
    for note in bass:
        on = keys_chord(keys, candidates, note.start + 0.001)
        if on is not None:
            counted += 1
            agreeing += on.contains(note.pitch)
    came_in = next((e["t"] for e in lines if e.get("kind") == "come_in"), None)
    print(f"{raw['name']}: right chord on the downbeat {right}/{judged} predictable bars; "
          f"bass on the keys' chord {agreeing}/{counted}; came in at "
          f"{'—' if came_in is None else f'{came_in:.2f} s'}")
    for line in wrong:
        print("  wrong:", line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
