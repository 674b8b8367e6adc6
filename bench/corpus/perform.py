"""A guitarist playing a take's spec: the notes (strings, times, velocities) and the truth.

Strums run low → high (down) or high → low (up, top 3–5 strings), spread over 5–40 ms; every
strum is late or early by a little (Gaussian jitter); accents, softer up strums, per-string
velocity; strings ring until struck again (or are damped short: `ring=False`); at a chord
change, a rest or a melody bar, the hand stops the old chord. Chord boundaries in the truth are
the grid line of the change (where the strum starts, before jitter).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from bench.corpus.guitar import OPEN_STRINGS, Shape, find_shape
from bench.corpus.takes import TakeSpec, chord_label, note_to_pc

TAIL_SECONDS = 1.0      # after the last bar line: the last chord is damped there, truth "N"
MELODY_RANGE = (55, 79)
SCALE_STEPS = {"maj": (0, 2, 4, 5, 7, 9, 11), "min": (0, 2, 3, 5, 7, 8, 10)}


@dataclass
class Note:
    start: float
    end: float
    pitch: int
    velocity: int
    string: int          # 0..5 (low E first); 6 = melody voice
    cents: float = 0.0   # off its pitch by this much (`TakeSpec.intonation`)


@dataclass
class Grid:
    """Where the bars and beats fall (before any human timing)."""

    bar_starts: list[float]
    bar_lengths: list[float]
    beats_per_bar: int
    swing: bool

    def beats(self) -> list[float]:
        return [start + length * k / self.beats_per_bar
                for start, length in zip(self.bar_starts, self.bar_lengths, strict=True)
                for k in range(self.beats_per_bar)]

    def eighth(self, bar: int, step: int) -> float:
        beat, half = divmod(step, 2)
        beat_len = self.bar_lengths[bar] / self.beats_per_bar
        offset = (2 / 3 if self.swing else 0.5) * half
        return self.bar_starts[bar] + (beat + offset) * beat_len


def make_grid(spec: TakeSpec) -> Grid:
    tempo_at = dict(spec.tempo_changes)
    bpm, t = spec.bpm, spec.lead_in
    starts, lengths = [], []
    for bar in range(len(spec.bars)):
        bpm = tempo_at.get(bar, bpm)
        length = spec.beats_per_bar * 60.0 / bpm
        starts.append(t)
        lengths.append(length)
        t += length
    return Grid(starts, lengths, spec.beats_per_bar, spec.swing)


def key_at(spec: TakeSpec, bar: int) -> str:
    key = spec.key
    for change_bar, new_key in spec.key_changes:
        if bar >= change_bar:
            key = new_key
    return key


def bar_chords(spec: TakeSpec, bar: int) -> list[tuple[int, str]]:
    """(eighth step where it starts, Harte label) for the chords of a bar; [] for M / R."""
    text = spec.bars[bar]
    if text in ("M", "R"):
        return []
    numerals = text.split()
    steps = 2 * spec.beats_per_bar
    return [(i * steps // len(numerals), chord_label(n, key_at(spec, bar)))
            for i, n in enumerate(numerals)]


class Player:
    """One take's performance, driven by the take's seed."""

    def __init__(self, spec: TakeSpec) -> None:
        self.spec = spec
        self.rng = np.random.default_rng(spec.seed)
        self.grid = make_grid(spec)
        self.notes: list[Note] = []
        self.melody: list[tuple[float, int]] = []
        self.spread = self.rng.uniform(*spec.spread_ms) / 1000.0
        self.last_label: str | None = None
        self._intonation = np.random.default_rng(spec.seed + 7919)   # its own draws
        self._cents: dict[tuple[int, int], float] = {}

    # -- timing and dynamics -----------------------------------------------------------
    def human(self, t: float) -> float:
        sigma = self.spec.jitter_ms / 1000.0
        return t + float(np.clip(self.rng.normal(0.0, sigma), -3 * sigma, 3 * sigma))

    def velocity(self, base: float) -> int:
        return int(np.clip(base + self.rng.normal(0.0, 6.0), 25, 127))

    # -- strumming ----------------------------------------------------------------------
    def strum(self, shape: Shape, start: float, down: bool, accent: bool) -> None:
        strings = [s for s, f in enumerate(shape.frets) if f is not None]
        if not down:
            strings = strings[-int(self.rng.integers(3, 6)):][::-1]
        spread = float(np.clip(self.spread * self.rng.uniform(0.7, 1.3) * (1 if down else 0.7),
                               0.005, 0.040))
        base = (108 if accent else 90) if down else (84 if accent else 70)
        for i, s in enumerate(strings):
            step = spread / max(len(strings) - 1, 1)
            when = start + i * step * self.rng.uniform(0.85, 1.15)
            fret = shape.frets[s]
            assert fret is not None
            self.pluck(s, OPEN_STRINGS[s] + fret, when, self.velocity(base - 3 * i * down))

    def pluck(self, string: int, pitch: int, when: float, velocity: int) -> None:
        self.notes.append(Note(when, float("inf"), pitch, velocity, string,
                               self.cents_of(string, pitch)))

    def cents_of(self, string: int, pitch: int) -> float:
        """How far out of tune this string sounds this note (the same every time)."""
        sigma = self.spec.intonation
        if sigma <= 0:
            return 0.0
        open_pitch = OPEN_STRINGS[string] if string < len(OPEN_STRINGS) else pitch
        for key, spread in (((string, -1), sigma / 2), ((string, pitch - open_pitch), sigma)):
            if key not in self._cents:
                draw = float(self._intonation.normal(0.0, spread))
                self._cents[key] = float(np.clip(draw, -3 * spread, 3 * spread))
        fret = pitch - open_pitch
        return self._cents[(string, -1)] + (self._cents[(string, fret)] if fret else 0.0)

    # -- a bar --------------------------------------------------------------------------
    def play_bar(self, bar: int) -> None:
        chords = bar_chords(self.spec, bar)
        if not chords:
            self.damp(self.grid.bar_starts[bar])
            self.last_label = None
            if self.spec.bars[bar] == "M":
                self.play_melody(bar)
            return
        pattern = self.spec.pattern.split() if " " in self.spec.pattern \
            else list(self.spec.pattern)
        for step in range(2 * self.spec.beats_per_bar):
            label = [c for start, c in chords if start <= step][-1]
            token = pattern[step % len(pattern)]
            when = self.human(self.grid.eighth(bar, step))
            if label != self.last_label:
                self.damp(when - 0.003)   # the hand stops the old chord as the new one starts
                self.last_label = label
                token = "D" if token in (".", "x") else token
            self.play_token(token, find_shape(label, self.spec.shape), when)

    def play_token(self, token: str, shape: Shape, when: float) -> None:
        if token in ("D", "d", "U", "u"):
            self.strum(shape, when, down=token in "Dd", accent=token.isupper())
        elif token == "x":
            self.damp(when)
        elif token != ".":
            self.pick(token, shape, when)

    def pick(self, token: str, shape: Shape, when: float) -> None:
        """Fingerstyle: 'B' bass, 'A' alternate bass, 't0' top string, 't1' next, ... ;
        'B+t0' = a pinch."""
        strings = [s for s, f in enumerate(shape.frets) if f is not None]
        for part in token.split("+"):
            if part == "B":
                s, base = strings[0], 92
            elif part == "A":
                s, base = strings[min(1, len(strings) - 1)], 84
            else:
                s, base = strings[max(len(strings) - 1 - int(part[1:]), 0)], 76
            fret = shape.frets[s]
            assert fret is not None
            self.pluck(s, OPEN_STRINGS[s] + fret, when, self.velocity(base))

    # -- melody -------------------------------------------------------------------------
    def play_melody(self, bar: int) -> None:
        key = key_at(self.spec, bar)
        tonic_name, mode = key.split(":")
        tonic = note_to_pc(tonic_name)
        scale = [p for p in range(MELODY_RANGE[0], MELODY_RANGE[1] + 1)
                 if (p - tonic) % 12 in SCALE_STEPS[mode]]
        index = int(self.rng.integers(len(scale) // 3, 2 * len(scale) // 3))
        step = 0
        while step < 2 * self.spec.beats_per_bar:
            when = self.human(self.grid.eighth(bar, step))
            pitch = scale[index]
            self.damp_string(6, when)
            self.pluck(6, pitch, when, self.velocity(88))
            self.melody.append((round(when, 4), pitch))
            index = int(np.clip(index + self.rng.choice([-2, -1, -1, 1, 1, 2]), 0, len(scale) - 1))
            step += int(self.rng.choice([1, 1, 2, 2, 3]))

    # -- damping ------------------------------------------------------------------------
    def damp(self, when: float) -> None:
        for note in self.notes:
            if note.end == float("inf") and note.start < when:
                note.end = when

    def damp_string(self, string: int, when: float) -> None:
        for note in self.notes:
            if note.string == string and note.end == float("inf") and note.start < when:
                note.end = when

    def finish(self, end: float) -> list[Note]:
        """Each string stops when struck again; damped playing stops it sooner."""
        notes = sorted(self.notes, key=lambda n: n.start)
        by_string: dict[int, list[Note]] = {}
        for note in notes:
            by_string.setdefault(note.string, []).append(note)
        for run in by_string.values():
            for note, after in zip(run, run[1:] + [None], strict=True):
                limit = after.start - 0.002 if after is not None else end
                note.end = min(note.end, limit, end)
                if not self.spec.ring and note.string < 6 and after is not None:
                    gap = after.start - note.start
                    note.end = min(note.end, note.start + gap * self.rng.uniform(0.45, 0.8))
        return [n for n in notes if n.end > n.start + 0.01]

    def perform(self) -> list[Note]:
        for bar in range(len(self.spec.bars)):
            self.play_bar(bar)
        end = self.grid.bar_starts[-1] + self.grid.bar_lengths[-1]
        return self.finish(end)
