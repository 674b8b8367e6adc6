"""Onsets and beat of the ears, scored with mir_eval on takes with a known beat.

    python bench/bench_beats.py                      # dev takes: build/corpus (split "dev"),
                                                     # build/beats_own, rehearsal takes
    python bench/bench_beats.py --make-own 24        # render own dev takes with fluidsynth first
    python bench/bench_beats.py --split heldout      # the held-out corpus takes (report only)

Every take is turned into the server's /bands frames (`frontend.frames`), fed frame by frame
to `OnsetDetector` and `BeatTracker`, and scored: beat F-measure (mir_eval, both sequences
trimmed of their first 5 s as mir_eval.beat.trim_beats does), tempo accuracy (share of the
frames from two bars after the first beat on which the tracker's tempo is within ±2 % of the
truth), downbeat F-measure (reported downbeats vs the truth's), onset precision / recall
(mir_eval.onset.f_measure, ±50 ms, against the note-on times, strums merged) and the cost
per frame. Held-out figures are printed only with `--split heldout`.

Own takes (`--make-own`): MIDI written with mido, rendered by Debian's fluidsynth with the
FluidR3 GM soundfont: steel / electric / overdriven strums, nylon arpeggios (70–90 BPM),
fingerpicking, jazz comping, 60–180 BPM, humanised; all of them are development material.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np

from performia.config import PROJECT_ROOT
from performia.listen.beat import BeatTracker
from performia.listen.frontend import ONSET_BANDS, frames
from performia.listen.onsets import OnsetDetector
from performia.listen.rehearsal import TakeSpec, generate_take, load_samples

CORPUS = PROJECT_ROOT / "build" / "corpus"
OWN = PROJECT_ROOT / "build" / "beats_own"
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
RATE = 48000
TICKS = 480


# ----------------------------------------------------------------------------- own takes


@dataclass
class _Note:
    time: float          # s
    midi: int
    velocity: int
    length: float        # s


def _chord_notes(root: int, quality: str) -> list[int]:
    third = 3 if quality in ("min", "min7") else 4
    tones = [0, third, 7] + ([10] if quality in ("7", "min7") else [])
    bass = 40 + (root - 40) % 12                       # E2 .. D#3
    return [bass, bass + 7, bass + 12, bass + 12 + third, bass + 19] + (
        [bass + 12 + tones[3]] if len(tones) > 3 else [])


def _progression(rng: np.random.Generator, bars: int) -> list[tuple[int, str]]:
    key = int(rng.integers(0, 12))
    degrees = [(0, "maj"), (9, "min"), (5, "maj"), (7, "7"), (2, "min7"), (4, "min")]
    loop = [degrees[int(i)] for i in rng.choice(len(degrees), 4, replace=False)]
    return [((key + loop[b % 4][0]) % 12 + 40, loop[b % 4][1]) for b in range(bars)]


def _strum(notes: list[_Note], t: float, chord: list[int], velocity: int, down: bool,
           length: float, rng: np.random.Generator) -> None:
    order = chord if down else list(reversed(chord[-4:]))
    spread = float(rng.uniform(0.010, 0.030)) / max(len(order) - 1, 1)
    for i, midi in enumerate(order):
        v = int(np.clip(velocity + rng.normal(0, 6), 20, 127))
        notes.append(_Note(t + i * spread, midi, v, length))


STRUMS = ("D.DU.UDU", "D.D.D.DU", "D.DUDUDU", "DUDUDUDU", "D..UD.DU", "D.DU.UD.")


def _play_strums(rng: np.random.Generator, beats: list[float], bpb: int,
                 chords: list[list[int]]) -> list[_Note]:
    pattern = STRUMS[int(rng.integers(len(STRUMS)))]
    notes: list[_Note] = []
    for bar, chord in enumerate(chords):
        for step, symbol in enumerate(pattern):
            beat = step // 2
            if symbol == "." or beat >= bpb or bar * bpb + beat + 1 >= len(beats):
                continue
            b0, b1 = beats[bar * bpb + beat], beats[bar * bpb + beat + 1]
            t = b0 + (step % 2) * (b1 - b0) / 2 + float(rng.normal(0, 0.008))
            accent = 100 if step == 0 else (85 if symbol == "D" else 65)
            _strum(notes, max(t, 0.0), chord, accent, symbol == "D", (b1 - b0) * 0.9, rng)
    return notes


def _play_arpeggio(rng: np.random.Generator, beats: list[float], bpb: int,
                   chords: list[list[int]], per_beat: int) -> list[_Note]:
    notes: list[_Note] = []
    shape = [0, 2, 3, 4, 3, 2] if per_beat == 2 else [0, 2, 3, 4, 3, 4]
    for bar, chord in enumerate(chords):
        k = 0
        for beat in range(bpb):
            index = bar * bpb + beat
            if index + 1 >= len(beats):
                break
            b0, b1 = beats[index], beats[index + 1]
            for sub in range(per_beat):
                t = b0 + sub * (b1 - b0) / per_beat + float(rng.normal(0, 0.010))
                tone = chord[shape[k % len(shape)] % len(chord)] if k else chord[0]
                velocity = 78 if k == 0 else (62 if sub == 0 else 52)
                notes.append(_Note(max(t, 0.0), tone, velocity + int(rng.integers(-6, 7)),
                                   (b1 - b0) * 2))
                k += 1
    return notes


def _play_fingerpicking(rng: np.random.Generator, beats: list[float], bpb: int,
                        chords: list[list[int]]) -> list[_Note]:
    notes: list[_Note] = []
    for bar, chord in enumerate(chords):
        for beat in range(bpb):
            index = bar * bpb + beat
            if index + 1 >= len(beats):
                break
            b0, b1 = beats[index], beats[index + 1]
            bass = chord[0] if beat % 2 == 0 else chord[1]
            jitter = float(rng.normal(0, 0.008))
            notes.append(_Note(b0 + jitter, bass, 70 + int(rng.integers(-6, 7)), b1 - b0))
            if rng.uniform() < 0.8:
                t = b0 + (b1 - b0) / 2 + float(rng.normal(0, 0.010))
                top = chord[int(rng.integers(2, len(chord)))]
                notes.append(_Note(t, top, 58 + int(rng.integers(-6, 7)), b1 - b0))
    return notes


def _play_comping(rng: np.random.Generator, beats: list[float], bpb: int,
                  chords: list[list[int]]) -> list[_Note]:
    """Four to the bar (Freddie Green) or the Charleston (1, and of 2), swung."""
    notes: list[_Note] = []
    four = rng.uniform() < 0.5
    for bar, chord in enumerate(chords):
        upper = chord[:1] + chord[3:]
        for beat in range(bpb):
            index = bar * bpb + beat
            if index + 1 >= len(beats):
                break
            b0, b1 = beats[index], beats[index + 1]
            if four:
                hits = [b0]
            else:
                hits = [b0] if beat == 0 else ([b0 + (b1 - b0) * 2 / 3] if beat == 1 else [])
            for t in hits:
                t += float(rng.normal(0, 0.008))
                length = (b1 - b0) * (0.5 if four else 1.5)
                _strum(notes, t, upper, 72 + int(rng.integers(-8, 9)), True, length, rng)
    return notes


STYLES = {"strum_steel": 25, "strum_clean": 27, "strum_drive": 29, "nylon_arpeggio": 24,
          "fingerpick": 25, "jazz_comp": 26}


def _beat_grid(rng: np.random.Generator, bpm: float, beats: int, change: bool) -> list[float]:
    """Beat times from 1 s on; with `change`, the tempo moves by ±10 % halfway."""
    times = [1.0]
    factor = float(rng.choice([0.9, 1.1])) if change else 1.0
    for i in range(beats):
        tempo = bpm if i < beats // 2 else bpm * factor
        times.append(times[-1] + 60.0 / tempo)
    return times


def make_take(index: int, out_dir: Path) -> Path:
    rng = np.random.default_rng(1000 + index)
    style = list(STYLES)[index % len(STYLES)]
    bpm = float(rng.uniform(70, 90) if style == "nylon_arpeggio" else rng.uniform(60, 180))
    bpb = 3 if rng.uniform() < 0.2 else 4
    bars = int(np.clip(round(30 / (bpb * 60 / bpm)), 8, 24))
    change = index % 7 == 6
    beats = _beat_grid(rng, bpm, bars * bpb, change)
    chords = [_chord_notes(root, q) for root, q in _progression(rng, bars)]
    if style.startswith("strum"):
        notes = _play_strums(rng, beats, bpb, chords)
    elif style == "nylon_arpeggio":
        notes = _play_arpeggio(rng, beats, bpb, chords, int(rng.choice([2, 3])))
    elif style == "fingerpick":
        notes = _play_fingerpicking(rng, beats, bpb, chords)
    else:
        notes = _play_comping(rng, beats, bpb, chords)
    stem = out_dir / f"own{index:03d}_{style}_{round(bpm)}"
    _render(notes, STYLES[style], stem.with_suffix(".wav"))
    onsets = sorted(n.time for n in notes)
    truth = {"beats": beats[:-1], "downbeats": beats[:-1:bpb], "bpm": bpm,
             "steady": not change, "split": "dev", "style": style,
             "beats_per_bar": bpb, "onsets": _merge(onsets, 0.05)}
    stem.with_suffix(".json").write_text(json.dumps(truth, indent=1))
    return stem.with_suffix(".wav")


def _merge(times: list[float], gap: float) -> list[float]:
    merged: list[float] = []
    for t in times:
        if not merged or t - merged[-1] > gap:
            merged.append(t)
    return merged


def _render(notes: list[_Note], program: int, wav: Path) -> None:
    tempo = 500000                                     # 120 BPM: 1 s = 960 ticks
    events: list[tuple[float, mido.Message]] = []
    for n in notes:
        events.append((n.time, mido.Message("note_on", note=n.midi, velocity=n.velocity)))
        events.append((n.time + n.length, mido.Message("note_off", note=n.midi)))
    events.sort(key=lambda e: (e[0], e[1].type == "note_on"))
    midi = mido.MidiFile(ticks_per_beat=TICKS)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=tempo))
    track.append(mido.Message("program_change", program=program))
    now = 0
    for t, message in events:
        tick = round(mido.second2tick(t, TICKS, tempo))
        track.append(message.copy(time=max(tick - now, 0)))
        now = max(tick, now)
    track.append(mido.MetaMessage("end_of_track", time=TICKS * 4))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "take.mid"
        midi.save(path)
        wav.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["fluidsynth", "-ni", "-q", "-g", "0.6", "-r", str(RATE), "-F",
                        str(wav), str(SOUNDFONT), str(path)], check=True,
                       capture_output=True)


# ----------------------------------------------------------------------------- evaluation


@dataclass
class Take:
    name: str
    samples: np.ndarray
    rate: int
    truth: dict[str, object]


def corpus_takes(directory: Path, split: str) -> list[Take]:
    takes = []
    for path in sorted(directory.glob("**/*.json")):
        truth = json.loads(path.read_text())
        if not isinstance(truth, dict) or truth.get("split") != split:
            continue
        wav = path.with_suffix(".wav")
        if not wav.exists() or "beats" not in truth:
            continue
        samples, info = load_samples(wav)
        takes.append(Take(path.stem, samples.mean(axis=1), int(info.sample_rate), truth))
    return takes


def rehearsal_takes() -> list[Take]:
    specs = [TakeSpec(("G:maj", "E:min7", "C:maj7", "D:7"), "G:maj", 96, bars=10, seed=101),
             TakeSpec(("A:min", "F:maj7", "D:min7", "E:7"), "A:min", 132, bars=12,
                      pattern="D.DUDUDU", seed=102),
             TakeSpec(("C:maj", "A:min7", "F:maj", "G:7"), "C:maj", 84, bars=10,
                      beats_per_bar=3, pattern="DDUDDU", seed=103),
             TakeSpec(("E:min", "C:maj", "G:maj", "D:maj"), "E:min", 150, bars=16,
                      pattern="D.D.D.DU", seed=104)]
    takes = []
    for spec in specs:
        take = generate_take(spec)
        period = 60.0 / spec.bpm
        beats = [b + i * period for b in take.truth.bar_times for i in range(spec.beats_per_bar)]
        truth: dict[str, object] = {
            "beats": beats, "downbeats": list(take.truth.bar_times), "bpm": spec.bpm,
            "steady": True, "split": "dev", "style": "rehearsal",
            "beats_per_bar": spec.beats_per_bar, "onsets": list(take.truth.onsets)}
        takes.append(Take(f"rehearsal_{spec.seed}", take.samples, take.sample_rate, truth))
    return takes


@dataclass
class Result:
    name: str
    style: str
    steady: bool
    beat_f: float
    tempo_ok: float
    downbeat_f: float
    onset_p: float
    onset_r: float
    onset_f: float
    us_per_frame: float
    bpm_true: float
    bpm_heard: float


def _truth_floats(truth: dict[str, object], key: str) -> np.ndarray:
    value = truth.get(key, [])
    return np.asarray(value if isinstance(value, list) else [], dtype=float)


def _onset_truth(truth: dict[str, object]) -> np.ndarray:
    if "onsets" in truth:
        return np.asarray(_merge(sorted(_truth_floats(truth, "onsets").tolist()), 0.05))
    notes = truth.get("notes")
    if isinstance(notes, list):
        starts = [float(n["start"] if isinstance(n, dict) else n[0]) for n in notes]
        return np.asarray(_merge(sorted(starts), 0.05))
    return np.zeros(0)


def _chord_changes(truth: dict[str, object]) -> list[float]:
    """When the chord changes (from the truth's [start, end, label] list), else the bars."""
    chords = truth.get("chords")
    if isinstance(chords, list) and chords and isinstance(chords[0], list):
        changes, previous = [], "N"
        for start, _end, label in chords:
            if label != previous and label != "N":
                changes.append(float(start))
            previous = label
        return changes
    return _truth_floats(truth, "downbeats").tolist()


def evaluate(take: Take, chord_changes: bool = True) -> Result:
    import mir_eval

    times, bands = frames(take.samples, ONSET_BANDS, take.rate)
    truth = take.truth
    bpb = int(truth.get("beats_per_bar", 4))         # type: ignore[call-overload]
    detector = OnsetDetector()
    tracker = BeatTracker(beats_per_bar=bpb)
    beats = _truth_floats(truth, "beats")
    downbeats = _truth_floats(truth, "downbeats")
    changes = [c + 0.3 for c in _chord_changes(truth)] if chord_changes else []
    onsets = []
    tempo_checks = []
    start_check = beats[0] + 2 * bpb * np.median(np.diff(beats)) if beats.size > 2 else 0.0
    true_bpm = float(truth.get("bpm", 0.0))           # type: ignore[arg-type]
    spent = 0.0
    for t, frame in zip(times, bands, strict=True):
        t0 = time.perf_counter()
        strength, onset = detector.update(float(t), frame)
        state = tracker.update(float(t), strength, detector.bass_strength)
        spent += time.perf_counter() - t0
        while changes and changes[0] <= t:
            tracker.note_chord_change(changes.pop(0) - 0.3)
        if onset is not None:
            onsets.append(onset.time)
        if t >= start_check and beats.size > 2 and t <= beats[-1]:
            local = 60.0 / float(np.interp(t, beats[1:], np.diff(beats)))
            tempo_checks.append(abs(state.bpm - local) <= 0.02 * local)
    ref = mir_eval.beat.trim_beats(beats)
    est = mir_eval.beat.trim_beats(np.asarray(tracker.beats))
    beat_f = mir_eval.beat.f_measure(ref, est) if ref.size else 0.0
    down_f = mir_eval.beat.f_measure(mir_eval.beat.trim_beats(downbeats),
                                     mir_eval.beat.trim_beats(np.asarray(tracker.downbeats)))
    onset_ref = _onset_truth(truth)
    if onset_ref.size:
        of, op, orr = mir_eval.onset.f_measure(onset_ref, np.asarray(onsets))
    else:
        of = op = orr = float("nan")
    return Result(take.name, str(truth.get("style", "?")), bool(truth.get("steady", True)),
                  beat_f, float(np.mean(tempo_checks)) if tempo_checks else 0.0, down_f,
                  op, orr, of, spent / max(len(times), 1) * 1e6, true_bpm,
                  tracker.state.bpm)


def _print(results: list[Result], title: str) -> None:
    print(f"\n== {title}: {len(results)} takes")
    print(f"{'take':34s} {'style':15s} {'bpm':>6s} {'heard':>6s} {'beatF':>6s} {'tempo':>6s} "
          f"{'downF':>6s} {'onP':>5s} {'onR':>5s} {'µs/fr':>6s}")
    for r in results:
        print(f"{r.name[:34]:34s} {r.style[:15]:15s} {r.bpm_true:6.1f} {r.bpm_heard:6.1f} "
              f"{r.beat_f:6.3f} {r.tempo_ok:6.1%} {r.downbeat_f:6.3f} {r.onset_p:5.2f} "
              f"{r.onset_r:5.2f} {r.us_per_frame:6.1f}")
    steady = [r for r in results if r.steady]
    if steady:
        print(f"steady takes ({len(steady)}): beat F mean "
              f"{np.mean([r.beat_f for r in steady]):.3f}, median "
              f"{np.median([r.beat_f for r in steady]):.3f}; tempo within ±2 % "
              f"{np.mean([r.tempo_ok for r in steady]):.1%} of frames; downbeat F "
              f"{np.mean([r.downbeat_f for r in steady]):.3f}")
    changing = [r for r in results if not r.steady]
    if changing:
        print(f"tempo-change takes ({len(changing)}): beat F mean "
              f"{np.mean([r.beat_f for r in changing]):.3f}, tempo within ±2 % "
              f"{np.mean([r.tempo_ok for r in changing]):.1%}")
    on = [r for r in results if not np.isnan(r.onset_f)]
    if on:
        print(f"onsets: precision {np.mean([r.onset_p for r in on]):.3f}, recall "
              f"{np.mean([r.onset_r for r in on]):.3f}, F {np.mean([r.onset_f for r in on]):.3f}")
    print(f"cost: {np.mean([r.us_per_frame for r in results]):.1f} µs per /bands frame "
          f"(onsets + beat)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=("dev", "heldout"), default="dev")
    parser.add_argument("--make-own", type=int, default=0, metavar="N",
                        help="render N own dev takes into build/beats_own first")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--only", default="", help="only takes whose name contains this")
    parser.add_argument("--no-own", action="store_true", help="corpus takes only")
    args = parser.parse_args(argv)
    for i in range(args.make_own):
        print("rendered", make_take(i, OWN), file=sys.stderr)
    groups: list[tuple[str, list[Take]]] = []
    if args.corpus.exists():
        groups.append((f"corpus {args.split}", corpus_takes(args.corpus, args.split)))
    if args.split == "dev" and not args.no_own:
        groups.append(("own fluidsynth takes (dev)", corpus_takes(OWN, "dev")))
        groups.append(("rehearsal takes (dev)", rehearsal_takes()))
    for title, takes in groups:
        takes = [t for t in takes if args.only in t.name]
        if takes:
            _print([evaluate(t) for t in takes], title)
    return 0


if __name__ == "__main__":
    sys.exit(main())
