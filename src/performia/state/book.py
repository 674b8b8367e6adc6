"""The state book: the one writer of the band's `MusicalState`.

The listening side calls `hear_chord`, `hear_key`, `hear_tempo` (its own thread); the band
loop calls `start_bar` a little before each bar line and reads `state` on every step. Every
write builds a new frozen `MusicalState` under the book's lock and publishes it with one
assignment; readers take `book.state` without a lock and always see a whole state.

A heard chord change is credited to the beat the guitarist played it on: the beat nearest to
when the ears say it began (`since`: the strum, dated after the fact), or, without it, to
(heard time − `hearing_delay`); never later than the time heard. A change heard after its
bar was committed corrects that bar in the form memory.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from performia.state.evidence import (
    ChordEvidence,
    DoubtSettings,
    Span,
    Totals,
    sure_parts,
)
from performia.state.form import FormMemory, FormSettings, triad_of
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
DOUBT_BARS = 32         # bars whose frames tell how sure the band is of a chord's notes


@dataclass(frozen=True, slots=True)
class BookSettings:
    hearing_delay: float = 0.25     # s from a chord played to the chord heard (typical)
    changes_kept: int = 64          # heard changes kept in the state
    bars_kept: int = 128            # bars heard kept in the state
    least_hold: float = 0.5         # beats a chord must hold at the end of a part of a bar
    rest_share: float = 0.75        # a bar the ears heard "no chord" in for this share of it
                                    # (a melody, a rest) is not a bar of the form ...
    rest_margin: float = 0.6        # ... when its frames say "no chord" this much better than
                                    # any chord (log-likelihood a frame; dev: rests ~17, melody
                                    # bars 1.1-1.8, an arpeggio heard as no chord 0.2)
    form: FormSettings = field(default_factory=FormSettings)
    doubt: DoubtSettings = field(default_factory=DoubtSettings)


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
        self.evidence: ChordEvidence | None = None   # the ears' frame scores, if they give them
        # bar → where it held which chord, and its frames' evidence per chord
        self._bar_evidence: dict[int, tuple[list[Span], Totals]] = {}
        self.follow: FollowSettings | None = None  # how the band follows it (None: it leads)
        self._rests: list[tuple[float, float | None]] = []  # (clock times) no chord heard

    @property
    def state(self) -> MusicalState:
        return self._state

    # -- the listening side ----------------------------------------------------------------

    def hear_chord(self, chord: Chord | None, time: float, since: float | None = None) -> None:
        """The chord recognised now (None: none), that began at `since` if the ears know.
        Repeating the chord heard is a no-op."""
        with self._lock:
            state = self._state
            if chord is not None and self._rests and self._rests[-1][1] is None:
                self._rests[-1] = (self._rests[-1][0], self._began(time, since))
            if state.changes and chord == state.heard_chord:
                return
            beat = self._played_beat(time, since)
            kept = tuple(c for c in state.changes if c.beat < beat)
            changes = (*kept, HeardChange(beat, chord, time, since))[-self.settings.changes_kept:]
            state = dataclasses.replace(state, heard_chord=chord, heard_time=time,
                                        changes=changes)
            self._state = self._revise(state, beat // state.beats_per_bar)

    def hear_no_chord(self, time: float, since: float | None = None) -> None:
        """The ears hear no chord now (a melody, a rest), since `since` if they know. The
        band keeps its last chord; a bar that is mostly no chord is left out of the form."""
        with self._lock:
            if not self._rests or self._rests[-1][1] is not None:
                self._rests.append((self._began(time, since), None))
                del self._rests[:-self.settings.changes_kept]

    def hear_scores(self, time: float, scores: npt.NDArray[np.float64]) -> None:
        """One chroma frame's score for each chord (`evidence` must be set): a bar's chords
        are decided from them (see `_bar_chords`)."""
        evidence = self.evidence
        if evidence is None:
            raise ValueError("hear_scores needs book.evidence (the ears' vocabulary)")
        with self._lock:
            evidence.add(time, scores)

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
            changes = tuple(dataclasses.replace(c, beat=self._played_beat(c.time, c.since))
                            for c in state.changes)
            state = dataclasses.replace(state, changes=changes, bar=bar, bar_time=time)
            self._form = FormMemory(self._form.key, self.settings.form)
            self._bar_evidence.clear()
            first = min((c.beat // state.beats_per_bar for c in changes), default=bar)
            for past in range(first, bar):
                heard = self._bar_chords(state, past)
                if heard is not None:
                    self._commit(past, heard)
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
                self._commit(bar - 1, heard)
            state = dataclasses.replace(state, bar=bar, bar_time=time)
            self._state = self._with_predictions(state, assume_current=False)
            return self._state

    def change_times(self) -> list[float]:
        """The clock times where the chord changes heard began, in order (a later-heard
        change that began earlier replacing what it overlaps)."""
        return [began for began, _ in self._timeline(self._state)]

    # -- inside ------------------------------------------------------------------------------

    def _played_beat(self, time: float, since: float | None = None) -> int:
        heard_at = self.beat_at(time)
        began = self._began(time, since)
        return min(round(self.beat_at(began)), math.floor(heard_at))

    def _bar_chords(self, state: MusicalState, bar: int) -> BarChords | None:
        """The chords the guitarist played in `bar`, from the changes heard: one per part of
        the bar (`parts_of`: halves of a 4/4 bar), the chord sounding at the end of the part
        if it held for `least_hold` beats of it (the ears date a change a little late, and a
        chord flickering in the middle of a part is not the part's chord), else the chord
        that sounded longest in the part; none if the part was silent until a chord that
        began less than `least_hold` beats before its end (a guitarist coming in early)."""
        timeline = self._beat_timeline(state)
        if not timeline or self._resting(state, bar):
            return None
        bpb = state.beats_per_bar
        part = parts_of(bpb)
        start = bar * bpb
        changes: list[tuple[int, Chord]] = []
        for offset in range(0, bpb, part):
            begin, end = start + offset, start + offset + part
            chord = self._weighed(heard_in(timeline, begin, end), begin, end) \
                or part_chord(timeline, begin, end, self.settings.least_hold)
            if chord is None:
                continue
            if changes and triad_of(changes[-1][1]) == triad_of(chord):
                triad, since = triad_of(chord), start + changes[-1][0]
                both = {c for c in heard_in(timeline, since, end) if triad_of(c) == triad}
                chord = self._weighed(both, since, end) \
                    or longest_held(timeline, since, end, triad) or chord
                changes[-1] = (changes[-1][0], chord)
                continue
            changes.append((offset if changes else 0, chord))
        return tuple(changes) or None

    def _resting(self, state: MusicalState, bar: int) -> bool:
        """Did the ears hear "no chord" for `rest_share` of `bar` or more, and do its frames
        (when the ears hand them over) say so clearly (`rest_margin`)? The band keeps the
        last chord through "no chord", which a flicker in an arpeggio is, or an arpeggio's
        single notes heard as no chord for a bar; a bar of melody or of rest is not a bar
        of the form."""
        bpb = state.beats_per_bar
        start, end = bar * bpb, (bar + 1) * bpb
        resting = 0.0
        for began, ended in self._rests:
            stop = math.inf if ended is None else self.beat_at(ended)
            resting += max(0.0, min(stop, end) - max(self.beat_at(began), start))
        if resting < self.settings.rest_share * bpb:
            return False
        margin = None if self.evidence is None else self.evidence.none_margin(
            self.beat_at, float(start), float(end))
        return margin is None or margin >= self.settings.rest_margin

    def _weighed(self, heard: set[Chord], start: float, end: float) -> Chord | None:
        """Where the ears' decision flipped between chords from song beat `start` to `end`,
        the one of them that the frames' scores favour together (None: one chord only, or
        no evidence to weigh)."""
        if self.evidence is None or len(heard) < 2:
            return None
        return self.evidence.chord(self.beat_at, start, end, among=heard.__contains__)

    def _timeline(self, state: MusicalState) -> list[tuple[float, Chord]]:
        """(clock time it began, chord) of the changes heard, a later-heard change that
        began earlier replacing what it overlaps; "no chord" keeps the chord before it."""
        timeline: list[tuple[float, Chord]] = []
        for change in state.changes:
            if change.chord is None:
                continue
            began = self._began(change.time, change.since)
            while timeline and timeline[-1][0] >= began:
                timeline.pop()
            if not timeline or timeline[-1][1] != change.chord:
                timeline.append((began, change.chord))
        return timeline

    def _began(self, heard: float, since: float | None) -> float:
        """When a change heard at `heard` began: the ears' date, never after it was heard,
        or (undated) `hearing_delay` before."""
        return heard - self.settings.hearing_delay if since is None else min(since, heard)

    def _beat_timeline(self, state: MusicalState) -> list[tuple[float, Chord]]:
        """The timeline in song beats on the clock now."""
        return [(self.beat_at(began), chord) for began, chord in self._timeline(state)]

    def _revise(self, state: MusicalState, changed_bar: int) -> MusicalState:
        """A change heard in the bar just committed corrects it; one heard in the current
        bar re-predicts the next bar from what is heard now."""
        if changed_bar == state.bar - 1:
            heard = self._bar_chords(state, changed_bar)
            if heard is not None and self._form.bars and self._form.bars[-1].bar == changed_bar:
                self._commit(changed_bar, heard)
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
        played_as = state.played_as if assume_current else self._played_as()
        return dataclasses.replace(state, prediction=prediction, next_prediction=following,
                                   bars=bars, form=self._form.form(), played_as=played_as)

    def _commit(self, bar: int, heard: BarChords) -> None:
        """`bar` was heard as `heard`: into the form memory, and its frames' evidence kept
        (the last DOUBT_BARS bars) for what the band plays of its chords."""
        self._form.hear_bar(bar, heard)
        if self.evidence is None:
            return
        bpb = self._state.beats_per_bar
        ends = [beat for beat, _ in heard[1:]] + [bpb]
        spans: list[Span] = [(float(bar * bpb + beat), float(bar * bpb + end), chord)
                             for (beat, chord), end in zip(heard, ends, strict=True)]
        self._bar_evidence[bar] = (spans, self.evidence.totals(self.beat_at, spans))
        if bar - 1 in self._bar_evidence:   # again: its last frames came after its commit
            before = self._bar_evidence[bar - 1][0]
            self._bar_evidence[bar - 1] = (before, self.evidence.totals(self.beat_at, before))
        for old in [b for b in self._bar_evidence if b <= bar - DOUBT_BARS]:
            del self._bar_evidence[old]

    def _played_as(self) -> tuple[tuple[Chord, Chord], ...]:
        """The chords of the bars heard that the band plays only part of."""
        if self.evidence is None or not self._bar_evidence:
            return ()
        sure = sure_parts((totals for _, totals in self._bar_evidence.values()),
                          self.evidence.vocabulary, self.settings.doubt)
        return tuple((chord, part) for chord, part in sure.items() if part != chord)


def parts_of(beats_per_bar: int) -> int:
    """Beats in each part of a bar a chord is decided for: halves of 4/4 (and 6/8 counted
    in six), the whole bar otherwise."""
    return beats_per_bar // 2 if beats_per_bar >= 4 and beats_per_bar % 2 == 0 else beats_per_bar


def part_chord(timeline: Sequence[tuple[float, Chord]], start: float, end: float,
               least_hold: float) -> Chord | None:
    """The chord of the part of a bar from song beat `start` to `end` (see `_bar_chords`)."""
    sounding = [(position, chord) for position, chord in timeline if position < end]
    if not sounding:
        return None
    last_began, last = sounding[-1]
    if end - max(last_began, start) >= least_hold:
        return last
    if len(sounding) == 1 and last_began > start:
        return None  # silence until a strum just before the part's end: it belongs to the next
    return longest_held(timeline, start, end) or last


def heard_in(timeline: Sequence[tuple[float, Chord]], start: float, end: float) -> set[Chord]:
    """The chords the ears reported sounding at some moment from `start` to `end`."""
    before = [chord for began, chord in timeline if began <= start][-1:]
    return {chord for began, chord in timeline if start <= began < end} | set(before)


def longest_held(timeline: Sequence[tuple[float, Chord]], start: float, end: float,
                 triad: Chord | None = None) -> Chord | None:
    """The chord (heard as `triad`, if given) that sounded longest from `start` to `end`."""
    held: dict[Chord, float] = {}
    for index, (began, chord) in enumerate(timeline):
        stop = timeline[index + 1][0] if index + 1 < len(timeline) else end
        time = min(stop, end) - max(began, start)
        if time > 0 and (triad is None or triad_of(chord) == triad):
            held[chord] = held.get(chord, 0.0) + time
    return max(held, key=lambda c: held[c]) if held else None
