"""The band loop: every sixteenth, a lookahead before it sounds, the band decides one chord
(the same for every agent), then each agent decides its notes, which go into the agent's
ring. Nothing here waits on the network or the disk.

While the band follows the guitarist, the chord comes from the state book (`StateBook`):
after the last step of each bar is out, the book commits the bar just heard and predicts
the next one, so the work is done a sixteenth before the bar line, not in the downbeat's
few milliseconds. Otherwise (play mode, or the guitar silent) it is the progression's.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from performia.band.agent import Agent, BandMemory, HarmonicContext, Listening, Step
from performia.band.drums import DRUM_PITCH
from performia.conductor.follow_tempo import TempoFollower
from performia.events.note import NoteEvent
from performia.state.book import StateBook
from performia.state.decision import ChordDecision, DecisionSettings, decide
from performia.state.tempo import FollowSettings
from performia.timing.clock import Clock, RealtimeClock
from performia.timing.tempo import TempoMap

log = logging.getLogger(__name__)

STEP_BEATS = 0.25
EPSILON = 1e-9

EventSink = Callable[[dict[str, Any]], None]


class NoteWriter(Protocol):
    """Where an agent's notes go (its ring)."""

    @property
    def written(self) -> int: ...

    @property
    def dropped(self) -> int: ...

    def write_many(self, events: list[NoteEvent]) -> int: ...


@dataclass
class BandLoop:
    agents: list[Agent]
    writers: dict[str, NoteWriter]
    clock: Clock
    harmony: HarmonicContext
    listening: Listening = field(default_factory=Listening)
    memory: BandMemory = field(default_factory=BandMemory)
    seed: int = 0
    book: StateBook | None = None           # None: always the harmonic context's chord
    on_event: EventSink | None = None       # predictions, as `--events` lines
    decision_settings: DecisionSettings = field(default_factory=DecisionSettings)
    dropped: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    decision: ChordDecision | None = None   # the chord decided at the last step
    # runs at the top of every step, before anything is decided (control/band.py applies
    # the control changes due at this step there)
    before_step: Callable[[float], None] | None = None
    # following the guitarist's time and coming in (None: the book's `follow`, or the band
    # leads from its first beat); `guitar`: is there a guitar to follow at all
    follow: FollowSettings | None = None
    guitar: bool = True
    tempo_follower: TempoFollower | None = None
    COUNT_IN_VOICE = "hat"

    def start(self, first_beat: float = 0.0) -> None:
        """Start at `first_beat`, or, if this process came up too late for it, at the first
        sixteenth that can still be decided a lookahead ahead (never a late note)."""
        earliest = self.clock.tempo.beat_at(self.clock.now() + self.clock.lookahead + 0.002)
        if earliest > first_beat:
            skipped, first_beat = first_beat, math.ceil(earliest / STEP_BEATS) * STEP_BEATS
            log.warning("the conductor started late: the band comes in at beat %.2f instead "
                        "of %.2f", first_beat, skipped)
        self.begin(first_beat)
        if isinstance(self.clock, RealtimeClock):
            self.clock.start()

    def begin(self, first_beat: float = 0.0) -> None:
        """Schedule the first step (the clock runs the rest)."""
        settings = self.follow or (self.book.follow if self.book is not None else None)
        if settings is not None and self.tempo_follower is None:
            book = self.book
            self.tempo_follower = TempoFollower(
                settings, self.clock, beat=lambda: book.beat if book is not None else None,
                on_event=self._event, realign=book.realign if book is not None else None,
                guitar=self.guitar, mode=lambda: self.listening.mode,
                changes=book.change_times if book is not None else None)
        self.clock.schedule(first_beat, self.play_step)

    def dice(self, agent: str, beat: float) -> random.Random:
        """The agent's dice for the step at `beat`, seeded by (seed, agent, beat): what it
        draws there never depends on what it drew before. A step decided differently (live,
        a chord heard a few ms earlier) then changes that step's choices only, not every
        random choice after it, and the same song with the same seed plays the same."""
        return random.Random(f"{self.seed}:{agent}:{beat:.4f}")

    def _event(self, event: dict[str, Any]) -> None:
        if self.on_event is not None:
            self.on_event(event)

    def play_step(self, beat: float, _time: float) -> None:
        beat = self._turn_around(beat)
        self.clock.schedule(beat + STEP_BEATS, self.play_step)
        if self.before_step is not None:
            try:
                self.before_step(beat)
            except Exception:
                log.exception("the control changes at beat %.2f failed: the band plays on",
                              beat)
        playing: bool | str = True
        if self.tempo_follower is not None:
            playing = self.tempo_follower.at_step(beat)
        tempo = self.clock.tempo
        if playing is not True:
            if playing == "count" and abs(beat - round(beat)) < EPSILON:
                self.count_in(beat, tempo)
            self.prepare_bar(beat + STEP_BEATS, tempo)
            return
        decision = self.decide(beat, tempo)
        self.decision = decision
        for agent in self.agents:
            step = Step(beat=beat, length=STEP_BEATS, time_at=tempo.time_at,
                        beats_per_bar=tempo.beats_per_bar, bpm=tempo.bpm, harmony=self.harmony,
                        listening=self.listening, memory=self.memory,
                        rng=self.dice(agent.name, beat), decision=decision)
            try:
                events = agent.step(step)
            except Exception:
                self.failures[agent.name] = self.failures.get(agent.name, 0) + 1
                log.exception("agent %s failed at beat %.2f: it sits out this step",
                              agent.name, beat)
                continue
            self.emit(agent.name, events)
        self.prepare_bar(beat + STEP_BEATS, tempo)

    def _turn_around(self, beat: float) -> float:
        """The band was a few beats off the guitarist's bar: this step becomes the one (the
        beats between are dropped; the time does not move) and the heard bars are credited
        again on the new bar lines. The beat this step plays."""
        if self.tempo_follower is None:
            return beat
        dropped = self.tempo_follower.turn_around(beat)
        if dropped == 0:
            return beat
        time = self.clock.tempo.time_at(beat)
        self.clock.skip(beat, dropped)
        beat += dropped
        bar = round(beat / self.clock.tempo.beats_per_bar)
        if self.book is not None:
            self.book.realign(bar, time)
        log.info("the band was %d beats off the guitarist's bar: beat %.0f is the one", dropped,
                 beat)
        self._event({"t": round(time, 6), "kind": "turn_around", "beat": beat,
                     "dropped": dropped})
        return beat

    def count_in(self, beat: float, tempo: TempoMap) -> None:
        """One click of the count-in bar (the drummer's hat; the one accented)."""
        first = round(beat) % tempo.beats_per_bar == 0
        click = NoteEvent.make(tempo.time_at(beat), "drums", self.COUNT_IN_VOICE,
                               DRUM_PITCH[self.COUNT_IN_VOICE], 0.95 if first else 0.7)
        self.emit("drums", [click])

    def change_tempo(self, bpm: float, at_beat: float) -> None:
        """Play `bpm` from `at_beat` on: the one tempo map is re-anchored there
        (time = t0 + (beat − b0)·60/bpm with t0 = the old map's time of `at_beat`), so no
        beat before it moves and nothing jumps. Call it on the band loop's thread, at a step
        (at_beat = the step's beat) before the step decides its notes."""
        if bpm != self.clock.tempo.bpm:
            self.clock.set_tempo(bpm, at_beat)

    def decide(self, beat: float, tempo: TempoMap) -> ChordDecision:
        """The band's one chord for the step at `beat`."""
        bar = int((beat + EPSILON) // tempo.beats_per_bar)
        progression = ChordDecision.certain(self.harmony.chord_at_bar(bar),
                                            self.harmony.chord_at_bar(bar + 1))
        if self.book is None or not self.harmony.following:
            return progression
        if self.book.state.bar < bar:          # came in mid-bar: the bar line was missed
            self.start_bar(bar, tempo)
        return decide(self.book.state, beat, tempo.time_at, progression.chord,
                      self.decision_settings)

    def prepare_bar(self, next_beat: float, tempo: TempoMap) -> None:
        """When the next step starts a bar: commit the bar heard, predict the next."""
        bars = next_beat / tempo.beats_per_bar
        if abs(bars - round(bars)) > EPSILON or self.book is None or not self.listening.playing:
            return
        self.start_bar(round(bars), tempo)

    def start_bar(self, bar: int, tempo: TempoMap) -> None:
        if self.book is None:
            return
        time = tempo.time_at(bar * tempo.beats_per_bar)
        state = self.book.start_bar(bar, time)
        prediction = state.prediction
        if self.on_event is not None and prediction is not None and prediction.bar == bar:
            self.on_event({"t": time, "kind": "predict", "bar": bar,
                           "chord": prediction.chord.label,
                           "confidence": round(prediction.confidence, 3)})

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
