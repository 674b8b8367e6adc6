"""What a live-coded agent file sees: `Step` (where the music is) and `Note` (what to play).

An agent file names the band member it plays and defines `step`:

    from performia.live.api import Note, Step

    AGENT = "drums"

    def step(s: Step) -> list[Note]:
        notes = []
        if s.hit("kick").sounds:
            notes.append(s.note("kick", 36, 0.9))
        return notes

`step` is called once per sixteenth of a bar, a bar ahead of time, in a process of its
own (docs/LIVE_CODING.md). It returns the notes that start in that sixteenth.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from performia.band.patterns import Hit, Pattern
from performia.control.settings import AGENT_VOICES
from performia.theory import Chord, Key

__all__ = ["Chord", "Hit", "Key", "Note", "Pattern", "Step"]

MAX_LENGTH_BEATS = 16.0


@dataclass(frozen=True, slots=True)
class Note:
    """One note: `voice` of the agent, `midi` 0..127, `velocity` 0..1, `length` in beats,
    `offset` in beats from the start of the step (0 ≤ offset < the step's length),
    `param` 0..1 (the voice's brightness)."""

    voice: str
    midi: int
    velocity: float = 0.8
    length: float = 0.25
    offset: float = 0.0
    param: float = 0.5

    def __post_init__(self) -> None:
        if not isinstance(self.midi, int) or isinstance(self.midi, bool) \
                or not 0 <= self.midi <= 127:
            raise ValueError(f"Note midi must be a whole number 0..127, got {self.midi!r}")
        for name, low, high in (("velocity", 0.0, 1.0), ("length", 0.0, MAX_LENGTH_BEATS),
                                ("offset", 0.0, 1.0), ("param", 0.0, 1.0)):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) \
                    or not low <= value <= high:
                raise ValueError(f"Note {name} must be a number {low:g}..{high:g}, "
                                 f"got {value!r}")


@dataclass(frozen=True)
class Step:
    """One sixteenth of the bar being prepared."""

    agent: str
    bar: int                       # the bar (0 = the song's first)
    index: int                     # the sixteenth in the bar (0 = the downbeat)
    beats_per_bar: int
    bpm: float
    key: Key
    chord: Chord                   # the bar's chord, as planned a bar ahead
    next_chord: Chord              # the next bar's
    mode: str                      # listen, play or follow
    playing: bool                  # the guitar is sounding
    params: Mapping[str, float]    # intensity, density, ... as set (docs/OSC_API.md)
    patterns: Mapping[str, Pattern]  # voice → the pattern it plays (set, or the style's)
    rng: random.Random             # this agent's dice, seeded by the song seed and the bar
    length: float = 0.25           # beats
    memory: dict[str, object] = field(default_factory=dict)   # kept from step to step

    @property
    def beat(self) -> float:
        """The step's beat in the song."""
        return self.bar * self.beats_per_bar + self.index * self.length

    @property
    def beat_in_bar(self) -> float:
        return self.index * self.length

    @property
    def on_beat(self) -> bool:
        return self.index % 4 == 0

    @property
    def downbeat(self) -> bool:
        return self.index == 0

    @property
    def intensity(self) -> float:
        return self.params.get("intensity", 0.7)

    @property
    def voices(self) -> tuple[str, ...]:
        return AGENT_VOICES[self.agent]

    def hit(self, voice: str) -> Hit:
        """What `voice`'s pattern says on this sixteenth (REST if it has none)."""
        pattern = self.patterns.get(voice)
        return pattern.at(self.index) if pattern is not None else Hit.REST

    def note(self, voice: str, midi: int, velocity: float = 0.8, length: float = 0.25,
             offset: float = 0.0, param: float = 0.5) -> Note:
        return Note(voice, midi, velocity, length, offset, param)
