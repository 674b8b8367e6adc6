"""Score a LIVE play-along from its `--events` file against a corpus take's truth: what a
new user gets with `python -m performia --input TAKE.wav --events FILE` (issue 11).

For each bar that the form heard so far makes predictable (the rule of
bench_playalong_ears.py): the band's one is the bass note starting nearest the guitarist's
downbeat (within 60 ms, else the bar counts as wrong); right = the keys and the bass sound
the guitarist's chord there (`conductor/playalong.keys_right`, `bass_right`). Also: the
bass notes that are tones of the keys' chord, and where the band came in.

The take's t = 0 is the events' t = 0 (`--input` plays the take from the song's start).
On a machine with dropouts that no longer holds: the server plays the take (and records)
only in the blocks it processes, while the band's notes keep their clock times, so the take
falls behind the events a little at every dropout. With `--stems` (the live run's
`--stems`), the scoring is done in the recording's timeline, where the take's truth holds:
each note's time is moved to where it sounded in the recording, read off the drum marks
(every drum hit's exact sample; between two hits, linearly).

Usage: python bench/score_live_events.py EVENTS.jsonl build/corpus/001_strum_g_96.json
           [--stems STEMS.wav]
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from bench_playalong_ears import NEAR, Truth, label_of, predictable
from scipy.io import wavfile

from performia.conductor.playalong import bass_right, keys_chord, keys_right, logged_soundings
from performia.server.recorder import STEM_CHANNELS
from performia.theory import Chord

KIT = {"kick", "snare", "hat", "openhat"}
MATCH = 0.15    # s: a drum hit is found in the recording this near where the last one says


def recording_times(lines: list[dict[str, Any]], stems: Path) -> tuple[Any, float]:
    """(event time → recording time, the largest shift): the drum hits of the events
    matched in order to the stems' drum marks."""
    with warnings.catch_warnings():             # supernova's float WAVs carry a PEAK chunk
        warnings.simplefilter("ignore", wavfile.WavFileWarning)
        rate, audio = wavfile.read(str(stems))
    marks = np.flatnonzero(np.asarray(audio[:, STEM_CHANNELS["drum_marks"]]) > 0.5) / rate
    hits = sorted({float(e["t"]) for e in lines
                   if e.get("agent") == "drums" and e.get("voice") in KIT and e.get("vel", 0) > 0})
    if marks.size == 0 or not hits:
        raise SystemExit(f"{stems}: no drum marks to align the events with")
    pairs: list[tuple[float, float]] = []
    shift = 0.0
    for t in hits:
        j = int(np.argmin(np.abs(marks - (t + shift))))
        if abs(marks[j] - (t + shift)) <= MATCH:
            shift = float(marks[j]) - t
            pairs.append((t, float(marks[j])))
    times = np.array([p[0] for p in pairs])
    shifts = np.array([p[1] - p[0] for p in pairs])
    return (lambda t: t + float(np.interp(t, times, shifts))), float(np.abs(shifts).max())


def in_recording(lines: list[dict[str, Any]], moved: Any) -> list[dict[str, Any]]:
    return [{**e, "t": moved(float(e["t"]))} if "agent" in e else e for e in lines]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("events", type=Path)
    parser.add_argument("truth", type=Path)
    parser.add_argument("--stems", type=Path, help="the live run's --stems: score in the "
                        "recording's timeline")
    args = parser.parse_args()
    raw = json.loads(args.truth.read_text())
    truth = Truth(int(raw["beats_per_bar"]), list(raw["beats"]), list(raw["downbeats"]),
                  [(float(a), float(b), label_of(str(c))) for a, b, c in raw["chords"]],
                  [(float(t), float(b)) for t, b in raw["tempo_changes"]],
                  float(raw["duration"]))
    lines = [json.loads(line) for line in args.events.read_text().splitlines() if line.strip()]
    if args.stems is not None:
        moved, largest = recording_times(lines, args.stems)
        lines = in_recording(lines, moved)
        print(f"scored in the recording's timeline (notes moved by up to {largest * 1000:.0f} ms)")
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
