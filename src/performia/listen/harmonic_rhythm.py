"""The harmonic rhythm: when the harmony really changed, for the beat tracker.

The chord recogniser reports every change of its label, and some are not changes of the
harmony: a quality flickering (E:min7 ↔ E:min, G:maj ↔ G:maj7), a chord heard as its own
subset (C:maj7 → E:min), a label flipping to another chord for a strum and back. The beat
tracker reads where the harmony changes to tell the bar's length (chords change on bar
lines) and which of the notes are the beats, so it must only hear the changes a musician
would call changes. A change is passed on when the new chord has held for `confirm`
seconds, with the time the change began (`ChangeTimer.began`); a flip back to the chord
being confirmed within that time keeps the first start, not the later one.

    changes = HarmonicRhythm()
    changes.heard(time, began, chord)     # the recogniser changed its label at `time`
    began = changes.confirmed(time)       # every frame: a change to pass on, or None
"""

from __future__ import annotations

from dataclasses import dataclass

from performia.theory import Chord


@dataclass(frozen=True, slots=True)
class HarmonicRhythmSettings:
    confirm: float = 0.3         # s a new chord must hold before its change is passed on
    flicker: float = 0.8         # s: a chord interrupted is resumed (with its first start)
                                 # if it comes back within this


@dataclass(frozen=True, slots=True)
class _Candidate:
    chord: Chord
    began: float        # when the change to it began
    since: float        # when it was last heard to become the label
    ended: bool = False  # (interrupted) the label went to no chord at `began`


def same_harmony(new: Chord, old: Chord) -> bool:
    """Going from `old` to `new` is no change of harmony: the same root, or `new` is
    `old` with a note gone (C:maj7 heard as E:min when the C fades). The other way (E:min
    to C:maj7, A:min to F:maj7) a new root came in: a change."""
    return new.root == old.root or set(new.pitch_classes) <= set(old.pitch_classes)


class HarmonicRhythm:
    """Fed every label change (`heard`) and asked every frame (`confirmed`)."""

    def __init__(self, settings: HarmonicRhythmSettings | None = None) -> None:
        self.settings = settings or HarmonicRhythmSettings()
        self._held: Chord | None = None             # the harmony of the last change passed on
        self._candidate: _Candidate | None = None    # a change waiting to be confirmed
        self._interrupted: _Candidate | None = None  # ... and one a flicker interrupted

    def heard(self, time: float, began: float, chord: Chord | None) -> None:
        """The recogniser's label became `chord` (None: no chord) at `time`; the change
        began at `began`."""
        candidate = self._candidate
        if chord is None:
            self._rest(time, began)
        elif candidate is not None and same_harmony(chord, candidate.chord):
            return                                   # the candidate's quality flickered
        elif self._held is not None and same_harmony(chord, self._held):
            self._interrupted, self._candidate = candidate, None   # back to the harmony held
        else:
            start = self._resumed(time, chord)
            self._interrupted = candidate
            self._candidate = _Candidate(chord, began if start is None else start, time)

    def _rest(self, time: float, began: float) -> None:
        """The label went to no chord: the harmony held ended at `began`, and a chord that
        follows soon began then."""
        self._candidate = None
        held = self._held
        self._interrupted = None if held is None else _Candidate(held, began, time, ended=True)

    def _resumed(self, time: float, chord: Chord) -> float | None:
        """The start to keep for `chord`: that of the change a flicker interrupted when it
        is back within `flicker` s (or of the end of the harmony, after no chord)."""
        interrupted = self._interrupted
        if interrupted is None or time - interrupted.since > self.settings.flicker:
            return None
        if interrupted.ended or same_harmony(chord, interrupted.chord):
            return interrupted.began
        return None

    def confirmed(self, time: float) -> float | None:
        """When the change that has now held for `confirm` s began; None if none has."""
        candidate = self._candidate
        if candidate is None or time - candidate.since < self.settings.confirm:
            return None
        self._held, self._candidate, self._interrupted = candidate.chord, None, None
        return candidate.began
