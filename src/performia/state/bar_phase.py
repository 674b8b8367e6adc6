"""Is the band turned around? Guitarists change chords on the one: when the changes heard
keep falling on the same other beat of the band's bar (beat 3 of 4: the band's bar is half
a bar off the guitarist's), the band's bar lines are in the wrong place, whatever the beat
tracker said when the band came in. A band that notices drops the beats in between and is
on the one again (`TempoFollower` does it at that beat). Pure logic: song beats in,
the place in the bar out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BarPhaseSettings:
    bars: int = 8              # the changes of the last bars are counted
    least: int = 3             # changes at one other place of the bar needed to move
    share: float = 0.7         # ... and this share of all the changes counted
    least_hold: float = 1.0    # beats a chord must hold to count (a flicker is not a change)
    off_beat: float = 0.3      # a change this far from every beat (an "and") says nothing


def turned_around(changes: Sequence[float], now: float, beats_per_bar: int,
                  settings: BarPhaseSettings | None = None) -> int | None:
    """The beat of the band's bar (1 .. beats_per_bar − 1) on which the guitarist's chord
    changes fall, if they clearly do; None when they fall on the band's downbeats, or are
    too few or spread. `changes`: the song beats where the changes began, in order; `now`:
    the song beat now (the last change holds until then)."""
    place = where_changes_fall(changes, now, beats_per_bar, settings)
    return place or None


def where_changes_fall(changes: Sequence[float], now: float, beats_per_bar: int,
                       settings: BarPhaseSettings | None = None) -> int | None:
    """The beat of the bar (0 .. beats_per_bar − 1) on which the chord changes clearly
    fall; None when they are too few or spread (see `turned_around`)."""
    s = settings or BarPhaseSettings()
    if beats_per_bar < 2:
        return None
    since = now - s.bars * beats_per_bar
    counts = [0] * beats_per_bar
    for index, began in enumerate(changes):
        ended = changes[index + 1] if index + 1 < len(changes) else now
        if began < since or ended - began < s.least_hold or abs(began - round(began)) > s.off_beat:
            continue
        counts[round(began) % beats_per_bar] += 1
    total = sum(counts)
    place = max(range(beats_per_bar), key=lambda p: counts[p])
    if counts[place] >= s.least and counts[place] >= s.share * total:
        return place
    return None
