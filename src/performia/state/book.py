"""The state book: the one writer of the band's `MusicalState`.

The listening side calls `hear_chord`, `hear_key`, `hear_tempo` (its own thread); the band
loop calls `start_bar` a little before each bar line and reads `state` on every step. Every
write builds a new frozen `MusicalState` under the book's lock and publishes it with one
assignment; readers take `book.state` without a lock and always see a whole state.

A heard chord change is credited to the beat the guitarist played it on: the beat nearest
to (heard time − `hearing_delay`), never later than the time heard. A change heard after its
bar was committed corrects that bar in the form memory.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from performia.state.form import FormMemory, FormSettings
from performia.state.musical_state import (
    BarChords,
    BarHeard,
    HeardChange,
    MusicalState,
    Prediction,
)
from performia.state.tempo import FollowSettings, GuitarBeat
from performia.theory import Chord, Key

BeatClock = Callable[[float], float]      # clock seconds → song beat (the tempo map)


@dataclass(frozen=True, slots=True)
class BookSettings:
    hearing_delay: float = 0.25     # s from a chord played to the chord heard (typical)
    changes_kept: int = 64          # heard changes kept in the state
    bars_kept: int = 128            # bars heard kept in the state
    form: FormSettings = field(default_factory=FormSettings)


class StateBook:
    """Thread-safe: writers take the lock, readers read `state` (one attribute load)."""

    def __init__(self, key: Key, beat_at: BeatClock, beats_per_bar: int = 4,
                 bpm: float | None = None, settings: BookSettings | None = None) -> None:
        if beats_per_bar < 1:
            raise ValueError(f"beats_per_bar must be >= 1, got {beats_per_bar}")
        self.settings = settings or BookSettings()
        self.beat_at = beat_at
        self._lock = threading.Lock()
        self._form = FormMemory(key, self.settings.form)
        self._state = MusicalState(key=key, beats_per_bar=beats_per_bar, bpm=bpm)
        self.beat: GuitarBeat | None = None      # the guitarist's time (one assignment)
        self.follow: FollowSettings | None = None  # how the band follows it (None: it leads)

    @property
    def state(self) -> MusicalState:
        return self._state

    # -- the listening side ----------------------------------------------------------------

    def hear_chord(self, chord: Chord | None, time: float) -> None:
        """The chord recognised now (None: none). Repeating the chord heard is a no-op."""
        with self._lock:
            state = self._state
            if state.changes and chord == state.heard_chord:
                return
            beat = self._played_beat(time)
            kept = tuple(c for c in state.changes if c.beat < beat)
            changes = (*kept, HeardChange(beat, chord, time))[-self.settings.changes_kept:]
            state = dataclasses.replace(state, heard_chord=chord, heard_time=time,
                                        changes=changes)
            self._state = self._revise(state, beat // state.beats_per_bar)

    def hear_key(self, key: Key) -> None:
        with self._lock:
            self._form.key = key
            self._state = dataclasses.replace(self._state, key=key)

    def hear_tempo(self, bpm: float, confidence: float, time: float) -> None:
        if not (math.isfinite(bpm) and bpm > 0.0):
            raise ValueError(f"a tempo must be a positive number of BPM, got {bpm}")
        with self._lock:
            self._state = dataclasses.replace(self._state, bpm=bpm,
                                              bpm_confidence=confidence, bpm_time=time)

    def hear_beat(self, beat: GuitarBeat) -> None:
        """The beat tracker's belief after a reading (replaced as a whole)."""
        self.beat = beat

    # -- the band loop ---------------------------------------------------------------------

    def realign(self, bar: int, time: float) -> MusicalState:
        """The clock was re-anchored onto the guitarist's bars (before the band came in):
        every heard change is credited again to its beat on the new clock, the form memory
        hears the bars again, and `bar` (starting at `time`) is the current bar."""
        with self._lock:
            state = self._state
            changes = tuple(dataclasses.replace(c, beat=self._played_beat(c.time))
                            for c in state.changes)
            state = dataclasses.replace(state, changes=changes, bar=bar, bar_time=time)
            self._form = FormMemory(self._form.key, self.settings.form)
            first = min((c.beat // state.beats_per_bar for c in changes), default=bar)
            for past in range(max(0, first), bar):
                heard = self._bar_chords(state, past)
                if heard is not None:
                    self._form.hear_bar(past, heard)
            self._state = self._with_predictions(state, assume_current=False)
            return self._state

    def start_bar(self, bar: int, time: float) -> MusicalState:
        """`bar` starts at clock `time`: commit the bar just heard, predict `bar` and the
        one after. Calling it again for the same bar changes nothing."""
        with self._lock:
            state = self._state
            if bar <= state.bar:
                return state
            heard = self._bar_chords(state, bar - 1)
            if heard is not None:
                self._form.hear_bar(bar - 1, heard)
            state = dataclasses.replace(state, bar=bar, bar_time=time)
            self._state = self._with_predictions(state, assume_current=False)
            return self._state

    # -- inside ------------------------------------------------------------------------------

    def _played_beat(self, time: float) -> int:
        heard_at = self.beat_at(time)
        return min(round(self.beat_at(time - self.settings.hearing_delay)), math.floor(heard_at))

    def _bar_chords(self, state: MusicalState, bar: int) -> BarChords | None:
        """The chords the guitarist played in `bar`, from the changes heard."""
        start = bar * state.beats_per_bar
        end = start + state.beats_per_bar
        opening = state.last_change(start)
        changes: list[tuple[int, Chord]] = []
        if opening is not None and opening.chord is not None:
            changes.append((0, opening.chord))
        for change in state.changes:
            if start < change.beat < end and change.chord is not None:
                if changes and changes[-1][1] == change.chord:
                    continue
                if not changes:
                    changes.append((0, change.chord))   # nothing before: from the downbeat
                    continue
                changes.append((change.beat - start, change.chord))
        return tuple(changes) or None

    def _revise(self, state: MusicalState, changed_bar: int) -> MusicalState:
        """A change heard in the bar just committed corrects it; one heard in the current
        bar re-predicts the next bar from what is heard now."""
        if changed_bar == state.bar - 1:
            heard = self._bar_chords(state, changed_bar)
            if heard is not None and self._form.bars and self._form.bars[-1].bar == changed_bar:
                self._form.hear_bar(changed_bar, heard)
                return self._with_predictions(state, assume_current=False)
        if changed_bar == state.bar:
            return self._with_predictions(state, assume_current=True)
        return state

    def _with_predictions(self, state: MusicalState, assume_current: bool) -> MusicalState:
        bar = state.bar
        prediction = self._form.predict(bar) if not assume_current else state.prediction
        current: BarChords | None
        if assume_current:
            current = self._bar_chords(state, bar)
        else:
            current = prediction.changes if prediction is not None else None
        following: Prediction | None = None
        if current is not None:
            following = self._form.predict(bar + 1, assume=[current])
        bars: tuple[BarHeard, ...] = self._form.bars[-self.settings.bars_kept:]
        return dataclasses.replace(state, prediction=prediction, next_prediction=following,
                                   bars=bars, form=self._form.form())
