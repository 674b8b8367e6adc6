"""One chord decision per step, made once by the band loop and handed to every agent, so
the keys and the bass always play the same chord.

At each step the band plays:
- the predicted chord when the prediction for this bar is confident (the change lands on
  the downbeat, or on the beat the form changes within the bar);
- the chord heard, as soon as a change is heard that the guitarist played at or after the
  planned one: a surprise is corrected at the next step after it is heard;
- the chord heard before, when a planned change was not heard within `confirm_delay` of its
  beat (the guitarist stayed where he was);
- without a confident prediction, the chord heard, marked unsure until the bar has been
  heard long enough (`confirm_delay`) or a change is heard in it: agents play nothing that
  can clash meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from performia.state.musical_state import EPSILON, MusicalState, Prediction
from performia.theory import Chord

TimeAt = Callable[[float], float]      # song beat → clock seconds (the tempo map)


@dataclass(frozen=True, slots=True)
class DecisionSettings:
    confident: float = 0.6          # a prediction at least this sure is played on the one
    confirm_delay: float = 0.45     # s after a beat by which a change on it has been heard


@dataclass(frozen=True, slots=True)
class ChordDecision:
    """The chord the whole band plays at this step."""

    chord: Chord           # play this now
    next_chord: Chord      # what the next bar starts with (approach notes aim here)
    sure: bool = True      # False: not known yet; play nothing that can clash
    next_sure: bool = True  # False: the next bar is a guess; do not lead into it

    @classmethod
    def certain(cls, chord: Chord, next_chord: Chord) -> ChordDecision:
        return cls(chord, next_chord)


def decide(state: MusicalState, beat: float, time_at: TimeAt, fallback: Chord,
           settings: DecisionSettings | None = None) -> ChordDecision:
    """The chord for the step starting at song `beat` (see the module text). `fallback` is
    played (unsure) when nothing has been heard at all."""
    settings = settings or DecisionSettings()
    bar = int((beat + EPSILON) // state.beats_per_bar)
    prediction = state.prediction_for(bar)
    plan = prediction if _confident(prediction, settings) else None
    if plan is not None:
        chord, sure = _planned(state, plan, beat, time_at, settings), True
    else:
        chord, sure = _unplanned(state, prediction, beat, time_at, fallback, settings)
    following = state.prediction_for(bar + 1)
    next_chord = following.chord if following is not None else chord
    return ChordDecision(state.sure_of(chord), state.sure_of(next_chord), sure,
                         _confident(following, settings))


def _confident(prediction: Prediction | None, settings: DecisionSettings) -> bool:
    return prediction is not None and prediction.confidence >= settings.confident


def _planned(state: MusicalState, plan: Prediction, beat: float, time_at: TimeAt,
             settings: DecisionSettings) -> Chord:
    bar_start = plan.bar * state.beats_per_bar
    planned_at = bar_start + max(b for b, _ in plan.changes if bar_start + b <= beat + EPSILON)
    planned = plan.chord_at(beat - bar_start)
    heard = state.last_change(beat)
    if heard is None or heard.chord is None:
        return planned
    if heard.beat >= planned_at or heard.chord == planned:
        return heard.chord                      # heard at or after the plan: the truth
    if time_at(beat) - time_at(planned_at) < settings.confirm_delay:
        return planned                          # not heard yet: trust the form
    return heard.chord                          # the planned change never came


def _unplanned(state: MusicalState, guess: Prediction | None, beat: float, time_at: TimeAt,
               fallback: Chord, settings: DecisionSettings) -> tuple[Chord, bool]:
    bar_start = int((beat + EPSILON) // state.beats_per_bar) * state.beats_per_bar
    heard = state.last_change(beat)
    if heard is None or heard.chord is None:
        return (guess.chord if guess is not None else fallback), False
    heard_in_bar = heard.beat >= bar_start
    waited = time_at(beat) - time_at(bar_start) >= settings.confirm_delay
    if heard_in_bar or waited:
        return heard.chord, True
    return (guess.chord_at(beat - bar_start) if guess is not None else heard.chord), False
