"""The follower: analysis readings in, the band's harmonic context and listening state out.

    /pitch    → Listening.level, .pitch
    /spectrum → NoiseGate (→ Listening.playing) → NnlsChroma → ChordRecognizer (HMM)
                → HarmonicContext.heard_chord; KeyEstimator → HarmonicContext.key
    /bands    → OnsetDetector → Listening.last_onset_time; BeatTracker → tempo and beat
    pedal     → set_mode(): "listen" captures one chord per bar; "play" loops what was captured

Every change also becomes an events-log entry (a dict), returned by `handle`/`set_mode` and
passed to `on_event`: {"t", "kind": "chord", "chord": "G:maj", "confidence": 0.97, "since":
t0} ("N": no chord: silence or a single-note melody; the band keeps the last chord; "since":
when the change began, dated after the fact by `change_time.ChangeTimer`), {"kind": "key",
"key": "E:min"}, {"kind": "tempo", "bpm": 96.0}, {"kind": "onset", "amp": 0.4}, {"kind":
"mode", "mode": "listen"}, {"kind": "progression", "chords": [...], "first_bar": 8}.

When the guitar stops nothing is reset: the key, the progression and the tempo stay.
Objects the agents read are replaced, never mutated in place (a new progression list), so a
reader in another thread sees the old or the new value, never a half-written one.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from performia.config import MODES
from performia.listen.change_time import WINDOW_CENTRE, ChangeTimer
from performia.listen.chords import ChordRecognizer, ChordSettings
from performia.listen.chroma import ChromaSettings, NnlsChroma, NoteFrame
from performia.listen.gate import GateSettings, NoiseGate
from performia.listen.key import KeyEstimator, KeySettings
from performia.listen.readings import (
    BandsReading,
    PitchReading,
    Reading,
    SpectrumReading,
    TakeEndReading,
)
from performia.listen.rhythm import Rhythm, RhythmSettings
from performia.state.context import HarmonicContext, Listening
from performia.theory import Chord

log = logging.getLogger(__name__)

Event = dict[str, Any]


class Chroma(Protocol):
    """What the follower needs of the chroma: NnlsChroma, or the same in a worker process."""

    @property
    def tuning(self) -> float: ...

    def frame(self, magnitudes: npt.ArrayLike, loud: bool = True) -> NoteFrame: ...
EventSink = Callable[[Event], None]
ScoreSink = Callable[[float, npt.NDArray[np.float64]], None]   # (time centred, log-likelihoods)
BarClock = Callable[[float], float]       # clock seconds → bar position (3.5 = middle of bar 3)

COUNTED_IN_SPREAD = 0.3                   # octaves: a counted-in guitarist stays near the count
MAX_FRAME_GAP = 0.25                      # s: a longer gap between chroma frames is not credited


@dataclass(frozen=True)
class FollowerSettings:
    min_bar_coverage: float = 0.5         # share of a bar the guitar must sound to be captured
    reply_id: int | None = None           # only readings with this replyID (None: all)
    gate: GateSettings = field(default_factory=GateSettings)
    chroma: ChromaSettings = field(default_factory=ChromaSettings)
    chords: ChordSettings = field(default_factory=ChordSettings)
    key: KeySettings = field(default_factory=KeySettings)
    rhythm: RhythmSettings = field(default_factory=RhythmSettings)

    @classmethod
    def in_meter(cls, beats_per_bar: int) -> FollowerSettings:
        """The defaults, with the beat tracker counting `beats_per_bar` beats to the bar (the
        band's meter: the bar's length is what the chord changes and accents tell)."""
        return cls(rhythm=replace(RhythmSettings(), beats_per_bar=beats_per_bar))


@dataclass
class _Capture:
    """Chords heard per bar while in listen mode: bar → chord → bars of time heard."""

    bars: dict[int, dict[Chord, float]] = field(default_factory=dict)
    last_position: float | None = None

    def credit(self, chord: Chord, start: float, end: float) -> None:
        position = start
        while position < end:
            bar = math.floor(position)
            stop = min(end, bar + 1.0)
            heard = self.bars.setdefault(bar, {})
            heard[chord] = heard.get(chord, 0.0) + (stop - position)
            position = stop

    def progression(self, min_coverage: float) -> tuple[int, list[Chord]] | None:
        """(first bar, one chord per bar) for the bars heard long enough, or None."""
        bars = sorted(b for b, heard in self.bars.items() if sum(heard.values()) >= min_coverage)
        if not bars:
            return None
        return bars[0], [max(self.bars[b].items(), key=lambda item: item[1])[0] for b in bars]


class Follower:
    """Fed readings (in time order, from one thread or several); updates what agents read."""

    def __init__(self, harmony: HarmonicContext, listening: Listening, bar_at: BarClock,
                 settings: FollowerSettings | None = None,
                 on_event: EventSink | None = None, chroma: Chroma | None = None) -> None:
        self.settings = settings or FollowerSettings()
        self.harmony = harmony
        self.listening = listening
        self.bar_at = bar_at
        self.on_event = on_event
        self.on_scores: ScoreSink | None = None     # each frame's chord scores (the book)
        self.gate = NoiseGate(self.settings.gate)
        # the conductor passes a ChromaWorker (the same, in another process: chroma_worker.py)
        self.chroma: Chroma = chroma or NnlsChroma(self.settings.chroma)
        self.chords = ChordRecognizer(self.settings.chords)
        self.change_timer = ChangeTimer()
        self.keys = KeyEstimator(self.settings.key, initial=harmony.key)
        self.rhythm = Rhythm(self.settings.rhythm)
        self._lock = threading.Lock()
        self._last_chroma_time: float | None = None
        self._capture = _Capture()
        self.take_ended = False

    @property
    def bpm(self) -> float | None:
        """The tempo heard (None until the beat is found)."""
        return self.rhythm.bpm

    def handle(self, reading: Reading) -> list[Event]:
        """Take one reading; the events it caused (also sent to `on_event`)."""
        wanted = self.settings.reply_id
        if wanted is not None and reading.reply_id != wanted:
            return []
        with self._lock:
            if isinstance(reading, BandsReading):
                events = self._on_bands(reading)
            elif isinstance(reading, PitchReading):
                events = self._on_pitch(reading)
            elif isinstance(reading, SpectrumReading):
                events = self._on_spectrum(reading)
            elif isinstance(reading, TakeEndReading):
                self.take_ended = True
                events = [{"t": reading.time, "kind": "take_end"}]
            else:
                raise TypeError(f"not a reading: {reading!r}")
        return self._emit(events)

    def expect_tempo(self, bpm: float, spread: float = COUNTED_IN_SPREAD) -> None:
        """The guitarist was counted in at `bpm`: the beat tracker prefers tempi near it."""
        with self._lock:
            self.rhythm.tracker.expect(bpm, spread)

    def set_mode(self, mode: str, time: float) -> list[Event]:
        """Switch listening mode (the pedal). Entering "play" from "listen" replaces the
        progression with the captured one, if anything was captured."""
        if mode not in MODES:
            raise ValueError(f"unknown listening mode {mode!r}: use one of {', '.join(MODES)}")
        with self._lock:
            previous = self.listening.mode
            self.listening.mode = mode
            events: list[Event] = [{"t": time, "kind": "mode", "mode": mode}]
            if previous == "listen" and mode != "listen":
                events += self._finish_capture(time)
            if mode == "listen" and previous != "listen":
                self._capture = _Capture(last_position=self.bar_at(time))
        return self._emit(events)

    def captured(self) -> list[Chord]:
        """The progression captured so far in listen mode (one chord per bar)."""
        with self._lock:
            result = self._capture.progression(self.settings.min_bar_coverage)
        return [] if result is None else result[1]

    # ------------------------------------------------------------------ readings

    def _on_pitch(self, reading: PitchReading) -> list[Event]:
        self.listening.level = reading.amp
        self.listening.pitch = reading.freq if reading.has_freq else 0.0
        return []

    def _on_bands(self, reading: BandsReading) -> list[Event]:
        heard = self.rhythm.update(reading.time, reading.magnitudes)
        if heard.onset is not None:
            self.listening.last_onset_time = heard.onset
            self.change_timer.onset(heard.onset)
        return [{"t": reading.time, **event} for event in heard.events]

    def _on_spectrum(self, reading: SpectrumReading) -> list[Event]:
        time = reading.time
        loud = self.gate.update(time, float(np.dot(reading.magnitudes, reading.magnitudes)))
        self.listening.playing = loud
        events: list[Event] = []
        old = self.chords.state if self.chords.started else None
        changed, chord = self.chords.update(self.chroma.frame(reading.magnitudes, loud), loud)
        self.change_timer.frame(time, self.chords.last_scores)
        if self.on_scores is not None:
            self.on_scores(time - WINDOW_CENTRE, self.chords.last_scores)
        if changed:
            since = self.change_timer.began(time, old, self.chords.state)
            self.rhythm.chord_changed(time, since, chord)
            if chord is not None:
                self.harmony.heard_chord = chord
            events.append({"t": time, "kind": "chord", "chord": self.chords.label(),
                           "confidence": round(self.chords.confidence, 3),
                           "since": round(since, 4)})
        previous, self._last_chroma_time = self._last_chroma_time, time
        if chord is None or not loud or previous is None:
            self._capture.last_position = None
            return events
        seconds = min(max(time - previous, 0.0), MAX_FRAME_GAP)
        key = self.keys.update(self.chords.heard_part() or chord, seconds, time)
        if key is not None:
            self.harmony.key = key
            self.chords.set_key(key)
            events.append({"t": time, "kind": "key", "key": key.label})
        if self.listening.mode == "listen":
            self._credit_bar(chord, time)
        return events

    # ------------------------------------------------------------------ capture

    def _credit_bar(self, chord: Chord, time: float) -> None:
        position = self.bar_at(time)
        start = self._capture.last_position
        self._capture.last_position = position
        if start is not None and position > start:
            self._capture.credit(chord, start, position)

    def _finish_capture(self, time: float) -> list[Event]:
        result = self._capture.progression(self.settings.min_bar_coverage)
        self._capture = _Capture()
        if result is None:
            log.info("listen mode ended with nothing captured: the progression stays")
            return []
        first_bar, chords = result
        length = len(chords)
        loop: list[Chord] = [chords[0]] * length
        for i, chord in enumerate(chords):          # bar n of the song plays loop[n % length]
            loop[(first_bar + i) % length] = chord
        self.harmony.progression = loop
        return [{"t": time, "kind": "progression", "chords": [c.label for c in chords],
                 "first_bar": first_bar}]

    def _emit(self, events: list[Event]) -> list[Event]:
        if self.on_event is not None:
            for event in events:
                try:
                    self.on_event(event)
                except Exception:
                    log.exception("the events sink failed on %r", event)
        return events
