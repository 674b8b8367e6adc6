"""The rhythm the guitarist plays: /bands frames → onsets (onsets.py) → beat, tempo and
downbeat (beat.py), causally, one frame at a time.

    update(time, magnitudes) → RhythmHeard: the onset found in this frame (if any) and the
                               events it caused: {"kind": "onset", "amp"}, {"kind": "tempo",
                               "bpm", "confidence"} when the tempo heard moves, {"kind":
                               "beat", "beat": 0..3, "bpm"} when a beat is passed
    chord_changed(time, began, chord)  the recogniser's label changed at `time`, the change
                               began at `began`; changes of the harmony (harmonic_rhythm.py)
                               tell the tracker the bar and the beats, and vote for the 1
    bpm, state, beats, downbeats
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy.typing as npt

from performia.listen.beat import BeatSettings, BeatState, BeatTracker
from performia.listen.harmonic_rhythm import HarmonicRhythm, HarmonicRhythmSettings
from performia.listen.onsets import OnsetDetector, OnsetSettings
from performia.theory import Chord


@dataclass(frozen=True)
class RhythmSettings:
    beats_per_bar: int = 4
    tempo_step: float = 1.0          # BPM the heard tempo must move before it is reported
    onsets: OnsetSettings = field(default_factory=OnsetSettings)
    changes: HarmonicRhythmSettings = field(default_factory=HarmonicRhythmSettings)
    beat: BeatSettings = field(default_factory=BeatSettings)


@dataclass(frozen=True)
class RhythmHeard:
    onset: float | None = None                     # time of an onset found in this frame
    events: list[dict[str, Any]] = field(default_factory=list)


class Rhythm:
    def __init__(self, settings: RhythmSettings | None = None) -> None:
        self.settings = s = settings or RhythmSettings()
        self.onsets = OnsetDetector(s.onsets)
        self.tracker = BeatTracker(s.beat, beats_per_bar=s.beats_per_bar)
        self.changes = HarmonicRhythm(s.changes)
        self.state = BeatState()
        self.bpm: float | None = None

    @property
    def beats(self) -> list[float]:
        return list(self.tracker.beats)

    @property
    def downbeats(self) -> list[float]:
        return list(self.tracker.downbeats)

    def update(self, time: float, magnitudes: npt.ArrayLike) -> RhythmHeard:
        strength, onset = self.onsets.update(time, magnitudes)
        began = self.changes.confirmed(time)
        if began is not None:
            self.tracker.note_chord_change(began)
        self.state = state = self.tracker.update(time, strength, self.onsets.bass_strength,
                                                 self.onsets.sounding)
        events: list[dict[str, Any]] = []
        if onset is not None:
            self.tracker.note_onset(onset.time, onset.rise)
            events.append({"kind": "onset", "amp": round(onset.strength, 4)})
        if self.onsets.swell is not None:
            self.tracker.note_swell(self.onsets.swell)
        if state.confidence > 0 and state.bpm > 0 and (
                self.bpm is None or abs(state.bpm - self.bpm) >= self.settings.tempo_step):
            self.bpm = round(state.bpm, 1)
            events.append({"kind": "tempo", "bpm": self.bpm,
                           "confidence": round(state.confidence, 3)})
        if state.beat and state.beat_time is not None:
            events.append({"kind": "beat", "beat": state.beat_in_bar,
                           "bpm": round(state.bpm, 1)})
        return RhythmHeard(None if onset is None else onset.time, events)

    def chord_changed(self, time: float, began: float, chord: Chord | None) -> None:
        """The recogniser's label became `chord` (None: no chord) at `time`; the change
        began at `began` (`ChangeTimer.began`: the strum that brought it, when one is
        near). The tracker hears it once it is a change of the harmony."""
        self.changes.heard(time, began, chord)
