"""The band loop: every sixteenth, a lookahead before it sounds, each agent decides its
notes, which go into the agent's ring. Nothing here waits on the network or the disk."""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass, field

from performia.band.agent import Agent, BandMemory, HarmonicContext, Listening, Step
from performia.events.note import NoteEvent
from performia.events.ring import RingWriter
from performia.timing.clock import RealtimeClock

log = logging.getLogger(__name__)

STEP_BEATS = 0.25


@dataclass
class BandLoop:
    agents: list[Agent]
    writers: dict[str, RingWriter]
    clock: RealtimeClock
    harmony: HarmonicContext
    listening: Listening = field(default_factory=Listening)
    memory: BandMemory = field(default_factory=BandMemory)
    seed: int = 0
    rngs: dict[str, random.Random] = field(default_factory=dict)
    dropped: int = 0
    failures: dict[str, int] = field(default_factory=dict)

    def start(self, first_beat: float = 0.0) -> None:
        """Start at `first_beat`, or, if this process came up too late for it, at the first
        sixteenth that can still be decided a lookahead ahead (never a late note)."""
        for agent in self.agents:
            self.rngs[agent.name] = random.Random(f"{self.seed}:{agent.name}")
        earliest = self.clock.tempo.beat_at(self.clock.now() + self.clock.lookahead + 0.002)
        if earliest > first_beat:
            skipped, first_beat = first_beat, math.ceil(earliest / STEP_BEATS) * STEP_BEATS
            log.warning("the conductor started late: the band comes in at beat %.2f instead "
                        "of %.2f", first_beat, skipped)
        self.clock.schedule(first_beat, self.play_step)
        self.clock.start()

    def play_step(self, beat: float, _time: float) -> None:
        self.clock.schedule(beat + STEP_BEATS, self.play_step)
        tempo = self.clock.tempo
        for agent in self.agents:
            step = Step(beat=beat, length=STEP_BEATS, time_at=tempo.time_at,
                        beats_per_bar=tempo.beats_per_bar, bpm=tempo.bpm, harmony=self.harmony,
                        listening=self.listening, memory=self.memory, rng=self.rngs[agent.name])
            try:
                events = agent.step(step)
            except Exception:
                self.failures[agent.name] = self.failures.get(agent.name, 0) + 1
                log.exception("agent %s failed at beat %.2f: it sits out this step",
                              agent.name, beat)
                continue
            self.emit(agent.name, events)

    def emit(self, agent: str, events: list[NoteEvent]) -> None:
        """Remember the notes (agents hear each other) and hand them to the dispatcher."""
        for event in events:
            self.memory.add(agent, event)
        writer = self.writers.get(agent)
        if writer is None or not events:
            return
        written = writer.write_many(events)
        if written < len(events):
            self.dropped += len(events) - written
            log.warning("ring of %s full: %d events dropped", agent, len(events) - written)
