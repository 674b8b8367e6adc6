"""The musical state of the band, one frozen value replaced as a whole.

A bar's chords are written as changes: `((0, G:maj), (2, E:min))` = G on beat 1, E minor
from beat 3 (beats counted from 0 within the bar). Heard chord changes carry the song beat
where the guitarist played them (the time they were heard, less the hearing delay, on the
nearest beat), so a bar is credited with what was played in it, not with what was heard
during it.
"""

from __future__ import annotations

from dataclasses import dataclass

from performia.theory import Chord, Key

EPSILON = 1e-9

BarChords = tuple[tuple[int, Chord], ...]   # (beat in the bar, chord from that beat on)


def chord_in_bar(changes: BarChords, beat_in_bar: float) -> Chord:
    """The chord sounding at `beat_in_bar` of a bar written as changes."""
    chord = changes[0][1]
    for beat, changed in changes:
        if beat <= beat_in_bar + EPSILON:
            chord = changed
    return chord


def bar_label(changes: BarChords) -> str:
    """'G:maj' or 'G:maj E:min@2' (a change on beat index 2)."""
    return " ".join(chord.label if beat == 0 else f"{chord.label}@{beat}"
                    for beat, chord in changes)


@dataclass(frozen=True, slots=True)
class HeardChange:
    """The guitarist changed to `chord` (None: nothing recognised) on song beat `beat`;
    the band heard it at clock time `time`; the ears date its start at `since` (None:
    unknown)."""

    beat: int
    chord: Chord | None
    time: float
    since: float | None = None


@dataclass(frozen=True, slots=True)
class BarHeard:
    """The chords heard in one bar of the song."""

    bar: int
    changes: BarChords

    @property
    def chord(self) -> Chord:
        """The bar's first chord (the one on its downbeat)."""
        return self.changes[0][1]


@dataclass(frozen=True, slots=True)
class Prediction:
    """What the form says the guitarist plays in `bar`, and how sure it is (0..1)."""

    bar: int
    changes: BarChords
    confidence: float

    @property
    def chord(self) -> Chord:
        return self.changes[0][1]

    def chord_at(self, beat_in_bar: float) -> Chord:
        return chord_in_bar(self.changes, beat_in_bar)


@dataclass(frozen=True, slots=True)
class FormFound:
    """The song form found so far: it repeats every `length` bars (`strength` 0..1 says how
    well), `sections` names its blocks in order ("AABA"), `position` is the bar of the form
    that the next bar is (0 = the form's first bar)."""

    length: int
    strength: float
    sections: str
    position: int


@dataclass(frozen=True, slots=True)
class MusicalState:
    """Everything the band knows about the music now. Never mutated: replaced whole."""

    key: Key
    beats_per_bar: int = 4
    bpm: float | None = None               # the guitarist's tempo as heard (None: unknown)
    bpm_confidence: float = 0.0
    bpm_time: float = 0.0
    bar: int = -1                          # the bar the band is in (-1: not started)
    bar_time: float = 0.0                  # clock time of that bar's downbeat
    heard_chord: Chord | None = None       # the chord heard now
    heard_time: float = 0.0                # when it was heard
    changes: tuple[HeardChange, ...] = ()  # recent changes heard, oldest first
    bars: tuple[BarHeard, ...] = ()        # the bars heard, oldest first
    form: FormFound | None = None
    prediction: Prediction | None = None       # for `bar`
    next_prediction: Prediction | None = None  # for `bar + 1`
    played_as: tuple[tuple[Chord, Chord], ...] = ()  # (chord heard, the part of it the band
                                                     # is sure of) where they differ

    def sure_of(self, chord: Chord) -> Chord:
        """What the band plays of `chord`: all of it, or the part the ears are sure of (its
        triad, or root and fifth: see `state.evidence.sure_part`)."""
        for heard, sure in self.played_as:
            if heard == chord:
                return sure
        return chord

    def last_change(self, until_beat: float) -> HeardChange | None:
        """The latest change heard that the guitarist played at or before `until_beat`."""
        for change in reversed(self.changes):
            if change.beat <= until_beat + EPSILON:
                return change
        return None

    def prediction_for(self, bar: int) -> Prediction | None:
        for prediction in (self.prediction, self.next_prediction):
            if prediction is not None and prediction.bar == bar:
                return prediction
        return None
