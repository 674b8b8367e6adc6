"""The pure time base: beats ↔ seconds, epoch-anchored, never accumulated.

    time = t0 + (beat - b0) * 60 / bpm

A tempo change re-anchors (t0, b0) at the beat where it happens, so no rounding error
ever builds up however long the band plays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Position:
    """A musical position: bar and beat counted from 0; `beat` may have a fraction."""

    bar: int
    beat: float

    def __str__(self) -> str:
        return f"{self.bar + 1}:{int(self.beat) + 1}"


@dataclass(frozen=True, slots=True)
class TempoMap:
    """One tempo segment anchored at (t0, b0). Immutable: a change gives a new map."""

    bpm: float
    t0: float
    b0: float = 0.0
    beats_per_bar: int = 4

    def __post_init__(self) -> None:
        if not 1.0 <= self.bpm <= 1000.0 or not math.isfinite(self.bpm):
            raise ValueError(f"tempo must be between 1 and 1000 BPM, got {self.bpm}")
        if self.beats_per_bar < 1:
            raise ValueError(f"beats_per_bar must be >= 1, got {self.beats_per_bar}")

    @property
    def seconds_per_beat(self) -> float:
        return 60.0 / self.bpm

    def time_at(self, beat: float) -> float:
        return self.t0 + (beat - self.b0) * 60.0 / self.bpm

    def beat_at(self, time: float) -> float:
        return self.b0 + (time - self.t0) * self.bpm / 60.0

    def with_tempo(self, bpm: float, at_beat: float) -> TempoMap:
        """The map after a tempo change at `at_beat` (re-anchored there)."""
        return TempoMap(bpm=bpm, t0=self.time_at(at_beat), b0=at_beat,
                        beats_per_bar=self.beats_per_bar)

    def position(self, beat: float) -> Position:
        bar = math.floor(beat / self.beats_per_bar)
        return Position(bar=bar, beat=beat - bar * self.beats_per_bar)

    def next_beat(self, beat: float, quantum: float = 1.0) -> float:
        """The first multiple of `quantum` beats at or after `beat` (quantise forward)."""
        if quantum <= 0:
            raise ValueError(f"quantum must be > 0 beats, got {quantum}")
        steps = math.ceil(round(beat / quantum, 9))
        return steps * quantum

    def next_bar(self, beat: float) -> float:
        return self.next_beat(beat, float(self.beats_per_bar))
