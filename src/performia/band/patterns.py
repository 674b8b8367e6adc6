"""Rhythm patterns written like a drum machine: one character per sixteenth note.

    X   accent  - a full, confident hit
    x   ghost   - a soft hit; players leave some out when the intensity is low
    .   rest

Spaces and bar lines `|` are ignored, so a bar can be written "X... X.x. | X... X...".
A pattern is read from the bar's downbeat: a pattern shorter than the bar repeats,
a longer one is cut at the bar line. Example, a rock kick: `X.......X.X.....`.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

SIXTEENTH = 0.25            # a sixteenth note, in beats (a beat is a quarter note)
SIXTEENTHS_PER_BEAT = 4
ACCENT_VELOCITY = 0.9
GHOST_VELOCITY = 0.45
_IGNORED = frozenset(" |")


class Hit(enum.Enum):
    """What a pattern says to do on one sixteenth."""

    REST = "."
    GHOST = "x"
    ACCENT = "X"

    @property
    def velocity(self) -> float:
        """The written loudness: accent 0.9, ghost 0.45, rest 0."""
        if self is Hit.ACCENT:
            return ACCENT_VELOCITY
        if self is Hit.GHOST:
            return GHOST_VELOCITY
        return 0.0

    @property
    def sounds(self) -> bool:
        return self is not Hit.REST


@dataclass(frozen=True, slots=True)
class Pattern:
    """A parsed rhythm: one `Hit` per sixteenth, looked up by position in the bar."""

    hits: tuple[Hit, ...]

    def __post_init__(self) -> None:
        if not self.hits:
            raise ValueError("a pattern needs at least one sixteenth (use '.' for a rest)")

    @classmethod
    def parse(cls, text: str) -> Pattern:
        """`Pattern.parse("X...x...")`; raises ValueError naming any bad character."""
        hits: list[Hit] = []
        for index, char in enumerate(text):
            if char in _IGNORED:
                continue
            try:
                hits.append(Hit(char))
            except ValueError:
                raise ValueError(
                    f"bad character {char!r} at position {index} in pattern {text!r}: "
                    "use 'X' (accent), 'x' (ghost), '.' (rest); spaces and '|' are ignored"
                ) from None
        if not hits:
            raise ValueError(f"pattern {text!r} has no sixteenths: use 'X', 'x' or '.'")
        return cls(tuple(hits))

    def __len__(self) -> int:
        return len(self.hits)

    def at(self, sixteenth_in_bar: int) -> Hit:
        """The hit on the given sixteenth of the bar (0 = downbeat); short patterns repeat."""
        return self.hits[sixteenth_in_bar % len(self.hits)]

    def onsets(self, steps_in_bar: int) -> tuple[int, ...]:
        """Sixteenths of a bar of `steps_in_bar` sixteenths where this pattern sounds."""
        return tuple(pos for pos in range(steps_in_bar) if self.at(pos).sounds)

    @property
    def text(self) -> str:
        return "".join(hit.value for hit in self.hits)

    def __str__(self) -> str:
        return self.text


def parse_pattern(text: str) -> Pattern:
    """Parse `X x .` notation (see the module text). Raises ValueError on bad characters."""
    return Pattern.parse(text)


def sixteenths_in(start_beat: float, length: float) -> range:
    """Song-wide sixteenth numbers k (beat = k / 4) that start in [start, start + length)."""
    if length <= 0:
        raise ValueError(f"a step must last more than 0 beats, got {length}")
    first = math.ceil(start_beat * SIXTEENTHS_PER_BEAT - 1e-9)
    end = math.ceil((start_beat + length) * SIXTEENTHS_PER_BEAT - 1e-9)
    return range(first, end)


def sixteenths_per_bar(beats_per_bar: int) -> int:
    return beats_per_bar * SIXTEENTHS_PER_BEAT


def bar_and_position(sixteenth: int, beats_per_bar: int) -> tuple[int, int]:
    """(bar, sixteenth within the bar) of a song-wide sixteenth number."""
    return divmod(sixteenth, sixteenths_per_bar(beats_per_bar))


def beat_of(sixteenth: int) -> float:
    """The beat where a song-wide sixteenth starts (exact: k / 4 is a binary fraction)."""
    return sixteenth * SIXTEENTH


def is_on_beat(position: int) -> bool:
    return position % SIXTEENTHS_PER_BEAT == 0


def is_eighth(position: int) -> bool:
    """True on the eighth-note grid (on the beat or on its 'and')."""
    return position % 2 == 0
