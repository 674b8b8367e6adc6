"""The guitarist's time as the band reads it: the beat tracker's belief, one frozen value.

Listening writes it into the state book after every reading (`StateBook.hear_beat`); the band
loop reads it at each beat to follow the guitarist (conductor/follow_tempo.py). Kept free of
`listen/` so the state does not import the ears.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from performia.config import COME_IN_MODES, TimingConfig


@dataclass(frozen=True, slots=True)
class GuitarBeat:
    """`period` s per beat (0 until the tracker locks); `next_beat`: when the coming beat of
    the guitarist falls (clock seconds); `last_beat`: the last beat passed (None before
    any), `beat_in_bar` its place in the bar (0 = the guitarist's downbeat); `beats`: how
    many beats were passed so far; `confidence`, `downbeat_confidence` 0..1; `started`:
    the guitarist's first attack (clock seconds; None before one); `tempo_changed`: when the
    tracker last heard the guitarist change tempo (None: never)."""

    time: float
    period: float
    next_beat: float
    confidence: float
    last_beat: float | None = None
    beat_in_bar: int = 0
    beats: int = 0
    downbeat_confidence: float = 0.0
    started: float | None = None
    tempo_changed: float | None = None

    @property
    def locked(self) -> bool:
        return self.period > 0.0 and math.isfinite(self.next_beat) and self.confidence > 0.0

    @property
    def bpm(self) -> float:
        return 60.0 / self.period if self.period > 0 else 0.0

    def next_downbeat(self, after: float, beats_per_bar: int) -> float | None:
        """The guitarist's first downbeat after `after` (predicted from the beat clock)."""
        if not self.locked or self.last_beat is None:
            return None
        to_one = (beats_per_bar - self.beat_in_bar) % beats_per_bar or beats_per_bar
        downbeat = self.last_beat + to_one * self.period
        bar = beats_per_bar * self.period
        if downbeat <= after:
            downbeat += math.ceil((after - downbeat) / bar + 1e-9) * bar
        return downbeat


@dataclass(frozen=True, slots=True)
class FollowSettings:
    follow: float = 1.0              # 0 = the band leads, 1 = full gains below
    come_in: str = "listen"
    come_in_bars: int = 2            # bars of the guitarist's beat heard before coming in
    give_up_bars: int = 4            # ... and at most this many once the beat is found
    latest_bars: float = 4.0         # in on a downbeat at most this many bars after the
                                     # guitarist's first note, once the beat is found
    latest_confidence: float = 0.3   # ... heard with at least this confidence (dev)
    phase_gain: float = 0.1          # share of the phase error corrected per beat ...
    far_phase_gain: float = 0.5      # ... and this share of a far one (beyond `phase_far`;
    phase_near: float = 0.04         # s: between this and `phase_far` the share grows from
    phase_far: float = 0.08          # `phase_gain`): a strum's jitter is not chased, a
                                     # band left behind is brought back
    period_gain: float = 0.5         # share of the tempo difference taken per beat
    max_change: float = 0.05         # at most this share of the period per beat
    min_confidence: float = 0.15     # the tracker's confidence needed to follow it
    sure: float = 0.5                # ... and from which it is followed with the full gains
    max_ratio: float = 0.2           # ignore a guitar tempo further than this (log) away
    lost_beats: int = 8              # ... unless the tracker holds it for this many beats of
                                     # the band in a row: the band came in on a wrong tempo
                                     # (it stops, and comes in again on their downbeat)
    max_lead: float = 0.06           # the band's tempo stays within this share of theirs
    catch_up: float = 0.12           # max_change and max_lead both become this share ...
    catch_up_bars: float = 2.0       # ... in these bars after the tracker heard a tempo change
    catch_up_phase: float = 0.9      # ... and this share of the phase error is closed per
                                     # beat then (phase_gain otherwise): left behind while the
                                     # change was heard, the band catches up within a beat or two
    offset: float = -0.016           # s: the band's beats aimed this much after the tracker's (dev)
    still: float = 0.0005            # s: a smaller change of period is not worth a re-anchor
    log_step: float = 0.5            # BPM: a band tempo change this big is logged

    def __post_init__(self) -> None:
        if self.come_in not in COME_IN_MODES:
            raise ValueError(f"come_in must be one of {', '.join(COME_IN_MODES)}, "
                             f"got {self.come_in!r}")
        if not 0.0 <= self.follow <= 1.0:
            raise ValueError(f"follow must be between 0 and 1, got {self.follow}")
        if not 0.0 <= self.phase_near < self.phase_far:
            raise ValueError(f"need 0 ≤ phase_near < phase_far, got {self.phase_near} and "
                             f"{self.phase_far}")

    @classmethod
    def from_config(cls, timing: TimingConfig, **overrides: Any) -> FollowSettings:
        return cls(follow=timing.follow, come_in=timing.come_in,
                   come_in_bars=timing.come_in_bars, **overrides)
