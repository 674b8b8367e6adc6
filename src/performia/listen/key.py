"""Key estimation from the chords heard (Krumhansl–Schmuckler on chord tones, with memory).

Every recognised chord is credited with the time it sounds: its tones go into a pitch-class
histogram (the root twice) that forgets with a time constant of `memory` seconds. A key's
score is the correlation of that histogram with the Krumhansl–Kessler profile of the key,
plus two cues that the histogram alone cannot give (E minor and G major share their notes):
the share of time spent on the key's tonic chord, and the tonic chord starting a phrase
(the first chord after a pause). A new key must lead for `hold` seconds before it is
reported; nothing is reset when the guitar stops.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from performia.theory import Chord, Key

Vector = npt.NDArray[np.float64]

# Krumhansl & Kessler (1982) probe-tone ratings, tonic first.
MAJOR_PROFILE = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88)
MINOR_PROFILE = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)
MINOR_QUALITIES = frozenset({"min", "min7", "dim"})
THIRDLESS = "5"               # root and fifth: a chord whose third was not heard


@dataclass(frozen=True)
class KeySettings:
    memory: float = 40.0          # s, time constant of the chord-tone histogram
    tonic_weight: float = 0.3     # score bonus × share of time on the key's tonic chord
    start_weight: float = 0.2     # score bonus × share of phrases starting on the tonic chord
    phrase_gap: float = 1.5       # s without chords after which the next chord starts a phrase
    hold: float = 2.0             # s a new key must lead before it is reported
    min_evidence: float = 3.0     # s of chords heard before the first key is reported


def key_profiles() -> tuple[list[Key], Vector]:
    """The 24 keys and their profiles (rows), each centred and unit length."""
    keys: list[Key] = []
    rows: list[Vector] = []
    for mode, profile in (("maj", MAJOR_PROFILE), ("min", MINOR_PROFILE)):
        base = np.asarray(profile, dtype=np.float64)
        for tonic in range(12):
            row = np.roll(base, tonic)
            row = row - row.mean()
            keys.append(Key(tonic, mode))
            rows.append(row / np.linalg.norm(row))
    return keys, np.array(rows)


def tonic_chord_of(chord: Chord) -> Key:
    """The key whose tonic chord this chord is (A:min7 → A:min, G:7 → G:maj)."""
    return Key(chord.root, "min" if chord.quality in MINOR_QUALITIES else "maj")


def tonic_keys_of(chord: Chord) -> tuple[tuple[Key, float], ...]:
    """The keys whose tonic chord this chord may be, with their shares: root and fifth
    alone (the third not heard) are the tonic of the major and the minor key alike."""
    if chord.quality == THIRDLESS:
        return (Key(chord.root, "maj"), 0.5), (Key(chord.root, "min"), 0.5)
    return ((tonic_chord_of(chord), 1.0),)


class KeyEstimator:
    """Feed it the chord sounding and for how long; it reports the key when it changes."""

    def __init__(self, settings: KeySettings | None = None, initial: Key | None = None) -> None:
        self.settings = settings or KeySettings()
        self.keys, self._profiles = key_profiles()
        self._index = {key: i for i, key in enumerate(self.keys)}
        self._tones = np.zeros(12)
        self._tonic_time = np.zeros(len(self.keys))      # seconds on each key's tonic chord
        self._starts = np.zeros(len(self.keys))          # phrases started on each tonic chord
        self._last_time: float | None = None
        self._evidence = 0.0
        self._key = initial
        self._challenger: Key | None = None
        self._challenge_since = 0.0

    @property
    def key(self) -> Key | None:
        return self._key

    def scores(self) -> dict[Key, float]:
        """Every key's current score (higher is more likely)."""
        values = self._score_vector()
        return {key: float(values[i]) for i, key in enumerate(self.keys)}

    def update(self, chord: Chord, seconds: float, time: float) -> Key | None:
        """`chord` sounded for `seconds` up to `time`. Returns the key if it changed."""
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0, got {seconds}")
        self._forget(time)
        if self._phrase_starts(time, seconds):
            for key, share in tonic_keys_of(chord):
                self._starts[self._index[key]] += share
        self._credit(chord, seconds)
        self._last_time = time
        self._evidence += seconds
        if self._evidence < self.settings.min_evidence:
            return None
        return self._decide(time)

    def _phrase_starts(self, time: float, seconds: float) -> bool:
        last = self._last_time
        return last is None or time - seconds - last > self.settings.phrase_gap

    def _forget(self, time: float) -> None:
        if self._last_time is None:
            return
        keep = float(np.exp(-max(time - self._last_time, 0.0) / self.settings.memory))
        self._tones *= keep
        self._tonic_time *= keep
        self._starts *= keep

    def _credit(self, chord: Chord, seconds: float) -> None:
        for interval in chord.intervals:
            self._tones[(chord.root + interval) % 12] += seconds * (2.0 if interval == 0 else 1.0)
        for key, share in tonic_keys_of(chord):
            self._tonic_time[self._index[key]] += share * seconds

    def _score_vector(self) -> Vector:
        tones = self._tones - self._tones.mean()
        norm = float(np.linalg.norm(tones))
        correlation = self._profiles @ (tones / norm) if norm > 1e-12 else np.zeros(len(self.keys))
        total_time = float(self._tonic_time.sum())
        total_starts = float(self._starts.sum())
        tonic = self._tonic_time / total_time if total_time > 0 else 0.0
        starts = self._starts / total_starts if total_starts > 0 else 0.0
        return np.asarray(correlation + self.settings.tonic_weight * tonic
                          + self.settings.start_weight * starts, dtype=np.float64)

    def _decide(self, time: float) -> Key | None:
        best = self.keys[int(np.argmax(self._score_vector()))]
        if best == self._key:
            self._challenger = None
            return None
        if self._key is None:
            self._key = best
            return best
        if best != self._challenger:
            self._challenger, self._challenge_since = best, time
            return None
        if time - self._challenge_since < self.settings.hold:
            return None
        self._key, self._challenger = best, None
        return best
