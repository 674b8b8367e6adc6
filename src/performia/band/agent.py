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

from performia.events.note import NoteEvent, NoteKind, agent_index, voice_index
from performia.state.context import HarmonicContext, Listening
from performia.state.decision import ChordDecision
from performia.theory import Chord

__all__ = ["Agent", "BandMemory", "ChordDecision", "HarmonicContext", "Listening", "Step",
           "release_notes"]


@dataclass
class BandMemory:
    """The band's recent notes, so agents hear each other (bass sees the kick)."""

    horizon: int = 256
    notes: dict[str, deque[NoteEvent]] = field(default_factory=dict)

    def add(self, agent: str, event: NoteEvent) -> None:
        self.notes.setdefault(agent, deque(maxlen=self.horizon)).append(event)

    def recent(self, agent: str, since: float) -> list[NoteEvent]:
        """Safe from another thread (the state publisher) while the band loop adds: the
        deque is copied first by one C call, which no other Python thread can interleave
        with (it holds the GIL throughout); iterating the deque itself in Python could
        see it mutate ("deque mutated during iteration")."""
        notes = tuple(self.notes.get(agent, ()))
        return [e for e in notes if e.time >= since]


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
    decision: ChordDecision | None = None   # the band's chord for this step (None: the
                                            # harmonic context's chord of the bar)

    @property
    def bar(self) -> int:
        return int(self.beat // self.beats_per_bar)

    @property
    def beat_in_bar(self) -> float:
        return self.beat - self.bar * self.beats_per_bar

    @property
    def chord(self) -> Chord:
        """The chord the band plays at this step (the same for every agent)."""
        if self.decision is not None:
            return self.decision.chord
        return self.harmony.chord_at_bar(self.bar)

    @property
    def next_chord(self) -> Chord:
        """The chord the next bar starts with, as far as the band knows."""
        if self.decision is not None:
            return self.decision.next_chord
        return self.harmony.chord_at_bar(self.bar + 1)

    @property
    def sure(self) -> bool:
        """False while the band does not know the chord yet: play nothing that can clash."""
        return self.decision is None or self.decision.sure

    @property
    def next_sure(self) -> bool:
        """False when the next bar's chord is a guess: do not lead into it."""
        return self.decision is None or self.decision.next_sure


def release_notes(time: float, agent: str, voice: str) -> NoteEvent:
    """An event that releases every note `agent` has sounding (docs/EVENTS.md, kind 2): the
    dispatcher closes their gates when it sends it, just before `time`."""
    return NoteEvent(time=time, agent=agent_index(agent), voice=voice_index(voice),
                     pitch=0, velocity=0.0, kind=NoteKind.RELEASE)


class Agent(Protocol):
    """A band member. `name` is its agent name in note events (drums, bass, ...)."""

    name: str

    def step(self, step: Step) -> list[NoteEvent]:
        ...
