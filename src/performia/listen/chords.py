"""Chord recognition from 12-bin chroma frames, causal: no look-ahead, ever.

Each frame is normalised, compressed, and averaged into a running chroma whose time constant
is `smoothing` seconds. The running chroma is compared (cosine) with one template per chord;
a template sums one note's chroma for every chord tone, the root weighted more. One note's
chroma (`note_profile`) holds its first six harmonics (a string's twelfth and major 17th land
on the fifth and third above) and the leakage of the analysis' FFT into the neighbouring
semitones (Chromagram on an 8192-point FFT from C2: see docs/LISTENING.md). A new chord must
win `hold` frames in a row, by `margin` over the chord now held, before it is reported; below
the `silence` level nothing changes (the last chord is kept when the guitar stops). Once the
recogniser is told of onsets (`onset`), a chord may change only within `onset_window` seconds
of a strum: a ringing chord whose partials fade unevenly is not heard as a new chord.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from performia.theory import Chord

Vector = npt.NDArray[np.float64]

DEFAULT_QUALITIES = ("maj", "min", "7", "min7", "maj7")
HARMONIC_DECAY = 0.6                       # weight of harmonic h is HARMONIC_DECAY ** (h - 1)
HARMONICS = 6                              # 1..6: pitch classes +0, +0, +7, +0, +4, +7
LEAKAGE = 0.05                             # share of a note's chroma in each neighbour bin


@dataclass(frozen=True)
class ChordSettings:
    qualities: tuple[str, ...] = DEFAULT_QUALITIES
    smoothing: float = 0.06                # s, time constant of the running chroma
    hold: int = 2                          # frames a new chord must win in a row
    margin: float = 0.01                   # cosine it must win by over the chord now held
    silence: float = 0.005                 # input level (amplitude 0..1) below which: no chord
    root_weight: float = 1.7               # the root's weight in a template (other tones: 1)
    compression: float = 0.5               # chroma ** compression before matching
    seventh_bias: float = 0.0              # added to 7th chords' scores (< 0: triads win ties)
    profile: tuple[float, ...] | None = None   # one note's chroma, pitch class 0 first;
                                               # None: note_profile()
    onset_window: float = 0.8              # s after an onset in which a change is accepted
                                           # (0: changes any time; no onsets told: any time)

    def __post_init__(self) -> None:
        if not self.qualities:
            raise ValueError("ChordSettings.qualities: at least one chord quality")
        if self.smoothing < 0 or self.hold < 1:
            raise ValueError("ChordSettings: smoothing must be >= 0 and hold >= 1")
        if self.profile is not None and len(self.profile) != 12:
            raise ValueError("ChordSettings.profile: 12 values, pitch class 0 first")


def note_profile(leakage: float = LEAKAGE) -> Vector:
    """The chroma of one plucked note at pitch class 0: its harmonics and FFT leakage."""
    profile = np.zeros(12)
    for h in range(1, HARMONICS + 1):
        profile[round(12 * np.log2(h)) % 12] += HARMONIC_DECAY ** (h - 1)
    profile /= profile[0]
    profile[1] += leakage
    profile[11] += leakage
    return profile


def chord_templates(qualities: Sequence[str], root_weight: float,
                    profile: Sequence[float] | None = None,
                    compression: float = 1.0) -> tuple[list[Chord], Vector]:
    """Every chord of `qualities` on all 12 roots, and their unit-length templates (rows)."""
    note = note_profile() if profile is None else np.asarray(profile, dtype=np.float64)
    chords: list[Chord] = []
    rows: list[Vector] = []
    for quality in qualities:
        for root in range(12):
            chord = Chord(root, quality)
            row = np.zeros(12)
            for interval in chord.intervals:
                weight = root_weight if interval == 0 else 1.0
                row += weight * np.roll(note, (root + interval) % 12)
            row = row ** compression
            chords.append(chord)
            rows.append(row / np.linalg.norm(row))
    return chords, np.array(rows)


def normalise(chroma: Sequence[float] | Vector, compression: float) -> Vector | None:
    """Unit-length compressed chroma, or None for an empty or invalid frame."""
    values = np.asarray(chroma, dtype=np.float64)
    if values.shape != (12,) or not np.all(np.isfinite(values)):
        return None
    values = np.maximum(values, 0.0)
    total = float(values.sum())
    if total <= 1e-12:
        return None
    compressed = (values / total) ** compression
    norm = float(np.linalg.norm(compressed))
    return compressed / norm


class ChordRecognizer:
    """Feed chroma frames in time order; `update` returns a chord when the heard one changes."""

    def __init__(self, settings: ChordSettings | None = None) -> None:
        self.settings = settings or ChordSettings()
        self.chords, self._templates = chord_templates(
            self.settings.qualities, self.settings.root_weight, self.settings.profile,
            self.settings.compression)
        self._bias = np.array([self.settings.seventh_bias if len(c.intervals) > 3 else 0.0
                               for c in self.chords])
        self._running: Vector | None = None
        self._last_time: float | None = None
        self._candidate: int | None = None
        self._streak = 0
        self._current: int | None = None
        self._last_onset: float | None = None

    @property
    def current(self) -> Chord | None:
        """The chord heard now (kept through silence)."""
        return None if self._current is None else self.chords[self._current]

    def scores(self, chroma: Sequence[float] | Vector) -> Vector:
        """Each template's score for one frame (no smoothing); zeros for an empty frame."""
        frame = normalise(chroma, self.settings.compression)
        if frame is None:
            return np.zeros(len(self.chords))
        return np.asarray(self._templates @ frame + self._bias, dtype=np.float64)

    def classify(self, chroma: Sequence[float] | Vector) -> Chord | None:
        """The best chord for one frame alone, or None for an empty frame."""
        frame = normalise(chroma, self.settings.compression)
        if frame is None:
            return None
        return self.chords[int(np.argmax(self._templates @ frame + self._bias))]

    def onset(self, time: float) -> None:
        """A strum (or pluck) was heard at `time`: the chord may change after it."""
        self._last_onset = time

    def update(self, chroma: Sequence[float] | Vector, level: float, time: float) -> Chord | None:
        """Take one frame heard at `time` with input `level`; the new chord if it changed."""
        frame = normalise(chroma, self.settings.compression)
        if frame is None or level < self.settings.silence:
            self._running = None                 # start afresh when the guitar comes back
            self._streak = 0
            self._last_time = time
            return None
        self._running = self._smoothed(frame, time)
        scores = self._templates @ self._running + self._bias
        return self._decide(scores, time)

    def _smoothed(self, frame: Vector, time: float) -> Vector:
        previous, last = self._running, self._last_time
        self._last_time = time
        if previous is None or last is None or self.settings.smoothing <= 0:
            return frame
        keep = float(np.exp(-max(time - last, 0.0) / self.settings.smoothing))
        return keep * previous + (1.0 - keep) * frame

    def _may_change(self, time: float) -> bool:
        window, last = self.settings.onset_window, self._last_onset
        return self._current is None or window <= 0 or last is None or time - last <= window

    def _decide(self, scores: Vector, time: float) -> Chord | None:
        best = int(np.argmax(scores))
        if best == self._current or not self._may_change(time):
            self._candidate, self._streak = None, 0
            return None
        held = -np.inf if self._current is None else float(scores[self._current])
        if float(scores[best]) < held + self.settings.margin:
            self._candidate, self._streak = None, 0
            return None
        self._streak = self._streak + 1 if best == self._candidate else 1
        self._candidate = best
        if self._streak < self.settings.hold:
            return None
        self._current, self._candidate, self._streak = best, None, 0
        return self.chords[best]
