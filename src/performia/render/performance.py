"""The band decisions: the live conductor's musical code on the offline clock.

The objects are the ones `conductor/__main__.build_loop` and `conductor/listening.Ears`
build live (the band, the harmonic context, the state book, the band loop, the follower),
wired the same way. What differs is only who moves time: the `OfflineClock` runs every
sixteenth a lookahead before it sounds, and each reading is handed to the follower when it
would have been taken by the conductor's ears live (`conductor.listening.taken_at`: on
arrival, or at the ears' next wake-up when they were asleep), never earlier: before a
reading taken at time t the clock is advanced to t (every step due by then has run with
what was heard before it).
"""

from __future__ import annotations

import math
import time as cputime
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from performia.band.band import make_band
from performia.conductor.band_loop import BandLoop
from performia.conductor.listening import (
    FOLLOWING_MODES,
    HEAR_EVERY,
    expect_counted_in,
    share_scores,
    taken_at,
    tell_beat,
    tell_book,
)
from performia.config import MODES, Config
from performia.events.note import NoteEvent
from performia.listen.follower import Chroma, Follower, FollowerSettings
from performia.listen.readings import Reading
from performia.plan import ANSWER_RING
from performia.render.hearing import Accent, Hearing
from performia.state.book import StateBook
from performia.state.context import HarmonicContext
from performia.state.tempo import FollowSettings
from performia.timing.clock import OfflineClock
from performia.timing.tempo import TempoMap
from performia.transport.event_log import note_record

Send = Callable[[NoteEvent, str], None]


DECIDED_EVERY = 0.5      # s of song time between two `decided` calls of `perform`
FOLLOWER = FollowerSettings()   # the follower's settings: the live ears' (the defaults)

@dataclass(frozen=True)
class ModeChange:
    """A scripted pedal: `mode` at `time` seconds (as /performia/mode would set it)."""

    time: float
    mode: str

    @classmethod
    def parse(cls, text: str) -> ModeChange:
        when, _, mode = text.partition(":")
        try:
            seconds = float(when)
        except ValueError:
            raise ValueError(f"{text!r}: expected SECONDS:MODE, e.g. 8:listen") from None
        if mode not in MODES or seconds < 0:
            raise ValueError(f"{text!r}: expected SECONDS:MODE with SECONDS >= 0 and MODE "
                             f"one of {', '.join(MODES)}")
        return cls(seconds, mode)


@dataclass
class Played:
    """What the band did: every note in the order it was sent, the `--events` lines."""

    notes: list[tuple[str, NoteEvent]] = field(default_factory=list)   # (ring, note)
    lines: list[dict[str, Any]] = field(default_factory=list)
    chords: list[str] = field(default_factory=list)
    cpu_seconds: float = 0.0
    readings: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    beats: list[tuple[float, float]] = field(default_factory=list)   # the band's (beat, time)
    entry: float | None = None          # the beat the band came in on (None: it never did)


class _Outlet:
    """An agent's ring as the band loop sees it; the notes go straight to `send`."""

    def __init__(self, agent: str, until: float, send: Send, played: Played) -> None:
        self.agent, self.until, self._send, self._played = agent, until, send, played
        self.written = 0
        self.dropped = 0

    def write_many(self, events: list[NoteEvent]) -> int:
        for event in events:
            if event.time >= self.until:
                continue           # after the end of the render: the live show had stopped
            self._send(event, self.agent)
            self._played.notes.append((self.agent, event))
            self._played.lines.append(note_record(event, 0.0))
            self.written += 1
        return len(events)


def perform(config: Config, hearing: Hearing | None, duration: float, send: Send,
            modes: tuple[ModeChange, ...] = (), first_beat: float = 0.0,
            follow: FollowSettings | None = None,
            decided: Callable[[float], None] | None = None,
            chroma: Chroma | None = None, hear_every: float = HEAR_EVERY) -> Played:
    """The band plays `duration` seconds with the take heard in `hearing` (None: alone),
    coming in at `first_beat` (0; a live conductor that started late came in later).
    `decided(t)` is told every `DECIDED_EVERY` s of song time that everything before t is
    decided (nothing sent from then on sounds before t): the score can go to the server.
    `chroma`: the follower's chroma computed ahead (render/chroma_ahead.py), or None.
    `hear_every`: the ears' batch time (`conductor.listening.HEAR_EVERY`, as live; a
    benchmark varies it to see how much a result owes to when the readings are taken)."""
    played = Played()
    started = cputime.process_time()
    timing = config.timing
    tempo = TempoMap(bpm=timing.tempo, t0=0.0, beats_per_bar=timing.beats_per_bar)
    clock = OfflineClock(tempo, lookahead=timing.latency_ms / 1000.0)
    agents = make_band(config.band.style, config.band.seed)
    harmony = HarmonicContext.from_labels(config.band.key, config.band.progression)
    book = StateBook(harmony.key, beat_at=lambda t: clock.tempo.beat_at(t),
                     beats_per_bar=tempo.beats_per_bar, bpm=tempo.bpm)
    outlets = {agent.name: _Outlet(agent.name, duration, send, played) for agent in agents}
    book.follow = follow or FollowSettings.from_config(timing)     # as Ears sets it live
    loop = BandLoop(agents=agents, writers=dict(outlets), clock=clock, harmony=harmony,
                    seed=config.band.seed, book=book, guitar=hearing is not None)
    listening = loop.listening

    def heard(event: dict[str, Any]) -> None:         # Ears._on_event + EventLog.add_heard
        tell_book(book, event)
        if event.get("kind") == "chord":
            played.chords.append(str(event["chord"]))
        played.lines.append({**event, "t": round(float(event["t"]), 6)})

    loop.on_event = heard

    def count_beat(beat: float) -> None:              # the band's beats, as they are played
        if abs(beat - round(beat)) < 1e-9:
            played.beats.append((beat, clock.tempo.time_at(beat)))
    loop.before_step = count_beat
    follower = Follower(harmony, listening,
                        settings=FollowerSettings.in_meter(timing.beats_per_bar),
                        bar_at=lambda t: clock.tempo.beat_at(t) / clock.tempo.beats_per_bar,
                        on_event=heard, chroma=chroma)
    share_scores(follower, book)
    expect_counted_in(follower, book.follow, timing.tempo)

    def set_mode(mode: str, at: float) -> None:       # Ears.set_mode
        follower.set_mode(mode, at)
        harmony.following = mode in FOLLOWING_MODES and listening.playing

    set_mode(config.midi.initial_mode, 0.0)
    loop.begin(first_beat)
    timeline: list[tuple[float, int, ModeChange | Accent | Reading]] = []
    if hearing is not None:           # the ears take their readings in batches (Ears._hear)
        taken = taken_at([r.time for r in hearing.readings], every=hear_every)
        timeline += [(at, 1, r) for at, r in zip(taken, hearing.readings, strict=True)]
        if config.band.answer_accents:
            timeline += [(a.time, 2, a) for a in hearing.accents]
    timeline += [(m.time, 0, m) for m in modes]
    timeline.sort(key=lambda item: (item[0], item[1]))
    told = 0.0
    for at, _, item in timeline:
        if at >= duration:
            break
        clock.advance_to(at)
        if decided is not None and at >= told + DECIDED_EVERY:
            decided(at)
            told = at
        if isinstance(item, ModeChange):
            set_mode(item.mode, at)
        elif isinstance(item, Accent):                # Ears._on_accent
            answer = NoteEvent.make(at, "drums", "answer", 76, min(1.0, 0.4 + item.amp),
                                    reactive=True)
            send(answer, ANSWER_RING)
            played.notes.append((ANSWER_RING, answer))
            played.lines.append(note_record(answer, 0.0))
        else:
            follower.handle(item)
            tell_beat(book, follower)
            played.readings += 1
            # Ears._hear: follow the heard chord while the guitar plays
            harmony.following = listening.mode in FOLLOWING_MODES and listening.playing
    while decided is not None and told + DECIDED_EVERY < duration:
        told += DECIDED_EVERY
        clock.advance_to(told)
        decided(told)
    clock.advance_to(duration)
    played.failures = dict(loop.failures)
    follower_ = loop.tempo_follower
    played.entry = (first_beat if follower_ is None or follower_.entry == -math.inf
                    else follower_.entry)
    played.cpu_seconds = cputime.process_time() - started
    return played
