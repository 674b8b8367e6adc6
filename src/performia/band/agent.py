"""What an agent is: something that, given where the music is, decides its next notes.

The conductor calls every agent once per step (a sixteenth note by default), a lookahead
before the step sounds. The agent returns note events with absolute times inside (or just
after) the step; they go into the agent's ring, then to the dispatcher and the server.
An agent never sleeps, never does I/O and never blocks: it only decides.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from performia.events.note import NoteEvent
from performia.theory import Chord, Key


@dataclass
class Listening:
    """What the band hears of the guitarist (updated by listen/; read by agents)."""

    playing: bool = False          # the guitar is sounding now
    last_onset_time: float = 0.0   # time of the last detected onset (clock seconds)
    level: float = 0.0             # input amplitude 0..1
    pitch: float = 0.0             # detected pitch in Hz (0 = none)
    mode: str = "play"             # listening mode set by the pedal: "listen" or "play"


@dataclass
class HarmonicContext:
    """Key and progression shared by all agents; one chord per bar, looping."""

    key: Key
    progression: list[Chord]
    heard_chord: Chord | None = None   # latest chord the listening side recognised
    following: bool = False            # play the heard chord (listen/follow modes)

    @classmethod
    def from_labels(cls, key: str, progression: list[str] | tuple[str, ...]) -> HarmonicContext:
        if not progression:
            raise ValueError("a progression needs at least one chord")
        return cls(Key.parse(key), [Chord.parse(label) for label in progression])

    def chord_at_bar(self, bar: int) -> Chord:
        """The chord to play in `bar`: the one heard while following the guitar, else the
        progression's (which loops)."""
        if self.following and self.heard_chord is not None:
            return self.heard_chord
        return self.progression[bar % len(self.progression)]


@dataclass
class BandMemory:
    """The band's recent notes, so agents hear each other (bass sees the kick)."""

    horizon: int = 256
    notes: dict[str, deque[NoteEvent]] = field(default_factory=dict)

    def add(self, agent: str, event: NoteEvent) -> None:
        self.notes.setdefault(agent, deque(maxlen=self.horizon)).append(event)

    def recent(self, agent: str, since: float) -> list[NoteEvent]:
        return [e for e in self.notes.get(agent, ()) if e.time >= since]


@dataclass
class Step:
    """One decision point handed to every agent."""

    beat: float                        # the step's start, in beats from the song's start
    length: float                      # the step's length in beats (0.25 = a sixteenth)
    time_at: Callable[[float], float]  # beat → clock seconds (the tempo map)
    beats_per_bar: int
    bpm: float
    harmony: HarmonicContext
    listening: Listening
    memory: BandMemory
    rng: random.Random                 # the agent's own seeded generator (reproducible)

    @property
    def bar(self) -> int:
        return int(self.beat // self.beats_per_bar)

    @property
    def beat_in_bar(self) -> float:
        return self.beat - self.bar * self.beats_per_bar

    @property
    def chord(self) -> Chord:
        return self.harmony.chord_at_bar(self.bar)


class Agent(Protocol):
    """A band member. `name` is its agent name in note events (drums, bass, ...)."""

    name: str

    def step(self, step: Step) -> list[NoteEvent]:
        ...
