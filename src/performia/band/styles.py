"""Style presets: how each band member plays rock, funk, ballad or jazz-swing.

A style says what the drummer plays (a groove and a fill per drum voice), how busy the
bass, the keys and the lead are, how hard the band plays by default (`intensity`) and the
swing. Swing is a feel, not a tempo change: the second eighth of every beat is played late,
at `swing` of the beat (0.5 = straight, 0.62 = a relaxed jazz swing, 0.67 = triplets).
The swung time is always computed from the tempo map, never accumulated.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from performia.band.agent import Step
from performia.band.patterns import Pattern, parse_pattern
from performia.events.note import NoteEvent

STRAIGHT = 0.5
MAX_SWING = 0.75


def swung_beat(beat: float, swing: float) -> float:
    """Where a beat position is played with swing: off-beat eighths land at `swing`.

    Inside each beat the first half [0, 0.5) is stretched to [0, swing) and the second
    half squeezed into [swing, 1), so the 'e' and 'a' sixteenths move along proportionally
    and downbeats never move.
    """
    if swing == STRAIGHT:
        return beat
    whole = math.floor(beat)
    fraction = beat - whole
    if fraction <= 0.5:
        return whole + fraction * 2.0 * swing
    return whole + swing + (fraction - 0.5) * 2.0 * (1.0 - swing)


def _check_unit(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0.0 and 1.0, got {value}")


def _check_positive(name: str, value: float) -> None:
    if value <= 0.0:
        raise ValueError(f"{name} must be > 0, got {value}")


@dataclass(frozen=True, slots=True)
class DrumPart:
    """One drum voice: its groove bar and the bar it plays as a fill at a phrase end."""

    groove: Pattern
    fill: Pattern

    @classmethod
    def of(cls, groove: str, fill: str | None = None) -> DrumPart:
        groove_pattern = parse_pattern(groove)
        return cls(groove_pattern, parse_pattern(fill) if fill is not None else groove_pattern)


@dataclass(frozen=True, slots=True)
class DrumKit:
    """The drummer's patterns for the four voices."""

    kick: DrumPart
    snare: DrumPart
    hat: DrumPart
    openhat: DrumPart

    def parts(self) -> tuple[tuple[str, DrumPart], ...]:
        """(voice, part) pairs in playing order; the open hat comes before the closed one
        so the drummer knows the hat is open when both are written on the same sixteenth."""
        return (("kick", self.kick), ("snare", self.snare),
                ("openhat", self.openhat), ("hat", self.hat))


@dataclass(frozen=True, slots=True)
class BassFeel:
    """How the bass plays.

    pattern: the bassist's own rhythm (ghost `x` notes are played with `density`);
    lock_to_kick: also play wherever the drummer's kick just played;
    walking: a jazz walking line (a chord tone on every beat);
    approach_probability: chance per bar of a leading note into the next bar's root;
    fifth/octave_probability: chance that a note is the fifth / the root an octave up;
    hold: fraction of the slot to the next note that a note is held (0.8 = detached).
    """

    pattern: Pattern
    density: float
    lock_to_kick: bool
    walking: bool
    approach_probability: float
    fifth_probability: float
    octave_probability: float
    hold: float

    def __post_init__(self) -> None:
        for name in ("density", "approach_probability", "fifth_probability",
                     "octave_probability", "hold"):
            _check_unit(f"bass {name}", getattr(self, name))
        if self.fifth_probability + self.octave_probability > 1.0:
            raise ValueError("bass fifth_probability + octave_probability must be <= 1.0")


@dataclass(frozen=True, slots=True)
class CompingFeel:
    """How the keys accompany: one rhythm bar is picked per bar from `patterns`.

    density: chance that a ghost stab `x` is played; hold: fraction of the gap to the next
    stab that a chord is held (1.0 = legato pad); max_beats: the longest a stab rings;
    voices: notes per chord (3 or 4).
    """

    patterns: tuple[Pattern, ...]
    density: float
    hold: float
    max_beats: float
    voices: int

    def __post_init__(self) -> None:
        if not self.patterns:
            raise ValueError("comping needs at least one rhythm pattern")
        _check_unit("comping density", self.density)
        _check_positive("comping hold", self.hold)
        _check_positive("comping max_beats", self.max_beats)
        if self.voices not in (3, 4):
            raise ValueError(f"comping voices must be 3 or 4, got {self.voices}")


@dataclass(frozen=True, slots=True)
class MelodyFeel:
    """How the lead phrases.

    density: chance of starting a note where one may start; note_lengths: the note values
    it picks from, in sixteenths (2 = eighth, 4 = quarter); on_sixteenths: may start on
    any sixteenth (funk) rather than only on eighths; play_bars / rest_bars: the phrase
    cycle when nobody else is soloing; articulation: fraction of a note's value it is held.
    """

    density: float
    note_lengths: tuple[int, ...]
    on_sixteenths: bool
    play_bars: int
    rest_bars: int
    articulation: float

    def __post_init__(self) -> None:
        _check_unit("melody density", self.density)
        _check_unit("melody articulation", self.articulation)
        if not self.note_lengths or min(self.note_lengths) < 1:
            raise ValueError("melody note_lengths must be one or more lengths >= 1 sixteenth")
        if self.play_bars < 1 or self.rest_bars < 0:
            raise ValueError("melody play_bars must be >= 1 and rest_bars >= 0")


@dataclass(frozen=True, slots=True)
class Style:
    """A complete style preset (see the module text)."""

    name: str
    swing: float
    intensity: float
    phrase_bars: int
    drums: DrumKit
    bass: BassFeel
    harmony: CompingFeel
    melody: MelodyFeel

    def __post_init__(self) -> None:
        if not STRAIGHT <= self.swing < MAX_SWING:
            raise ValueError(f"swing must be in [0.5, 0.75) (0.5 = straight), got {self.swing}")
        _check_unit("style intensity", self.intensity)
        if self.phrase_bars < 1:
            raise ValueError(f"phrase_bars must be >= 1, got {self.phrase_bars}")

    @property
    def swung(self) -> bool:
        return self.swing != STRAIGHT

    def time_at(self, step: Step, beat: float) -> float:
        """Clock seconds at which a note written at `beat` is played, swing included."""
        return step.time_at(swung_beat(beat, self.swing))


ROCK = Style(
    name="rock", swing=STRAIGHT, intensity=0.7, phrase_bars=4,
    drums=DrumKit(
        kick=DrumPart.of("X.....x.X.X.....", "X.......X.X....."),
        snare=DrumPart.of("....X.......X...", "....X...x.x.XXXX"),
        hat=DrumPart.of("X.x.X.x.X.x.X.x.", "X.x.X.x.X.x....."),
        openhat=DrumPart.of("................"),
    ),
    bass=BassFeel(pattern=parse_pattern("X.x.X.x.X.x.X.x."), density=0.55, lock_to_kick=True,
                  walking=False, approach_probability=0.5, fifth_probability=0.15,
                  octave_probability=0.1, hold=0.8),
    harmony=CompingFeel(patterns=(parse_pattern("X.......X......."),
                                  parse_pattern("X.......X.....x.")),
                        density=0.5, hold=0.9, max_beats=2.0, voices=3),
    melody=MelodyFeel(density=0.6, note_lengths=(2, 2, 2, 4, 4, 6), on_sixteenths=False,
                      play_bars=2, rest_bars=2, articulation=0.9),
)

FUNK = Style(
    name="funk", swing=STRAIGHT, intensity=0.75, phrase_bars=4,
    drums=DrumKit(
        kick=DrumPart.of("X..x..X...X..x..", "X..x..X...X....."),
        snare=DrumPart.of("..x.X..x.x..X..x", "..x.X..x.xxxXxXX"),
        hat=DrumPart.of("XxXxXxXxXxXxXx.x", "XxXxXxXxXxXx...."),
        openhat=DrumPart.of("..............X.", "................"),
    ),
    bass=BassFeel(pattern=parse_pattern("X.....x...x..x.x"), density=0.5, lock_to_kick=True,
                  walking=False, approach_probability=0.45, fifth_probability=0.2,
                  octave_probability=0.35, hold=0.55),
    harmony=CompingFeel(patterns=(parse_pattern("..X..x.X..X..x.."),
                                  parse_pattern(".X..X..x..X.x..."),
                                  parse_pattern("X..x..X...X..x..")),
                        density=0.6, hold=0.4, max_beats=0.4, voices=3),
    melody=MelodyFeel(density=0.55, note_lengths=(1, 2, 2, 3), on_sixteenths=True,
                      play_bars=2, rest_bars=2, articulation=0.6),
)

BALLAD = Style(
    name="ballad", swing=STRAIGHT, intensity=0.4, phrase_bars=4,
    drums=DrumKit(
        kick=DrumPart.of("X......xX.......", "X.......X......."),
        snare=DrumPart.of("....X.......X...", "....X.....x.X.xx"),
        hat=DrumPart.of("X.x.X.x.X.x.X.x.", "X.x.X.x.X.x....."),
        openhat=DrumPart.of("................"),
    ),
    bass=BassFeel(pattern=parse_pattern("X.......X......."), density=0.3, lock_to_kick=True,
                  walking=False, approach_probability=0.3, fifth_probability=0.3,
                  octave_probability=0.05, hold=0.95),
    harmony=CompingFeel(patterns=(parse_pattern("X..............."),),
                        density=0.3, hold=1.0, max_beats=16.0, voices=4),
    melody=MelodyFeel(density=0.55, note_lengths=(4, 4, 6, 8), on_sixteenths=False,
                      play_bars=2, rest_bars=2, articulation=0.97),
)

JAZZ_SWING = Style(
    name="jazz-swing", swing=0.62, intensity=0.5, phrase_bars=4,
    drums=DrumKit(
        kick=DrumPart.of("x...x...x...x...", "x...x...x...X..."),
        snare=DrumPart.of("......x.......x.", "..x...x.X.x.X.X."),
        hat=DrumPart.of("X...X.x.X...X.x.", "X...X.x.X......."),
        openhat=DrumPart.of("................"),
    ),
    bass=BassFeel(pattern=parse_pattern("X...X...X...X..."), density=0.3, lock_to_kick=False,
                  walking=True, approach_probability=0.6, fifth_probability=0.0,
                  octave_probability=0.0, hold=0.9),
    harmony=CompingFeel(patterns=(parse_pattern("......X.....X..."),
                                  parse_pattern("X.....X........."),
                                  parse_pattern("..X.......X....."),
                                  parse_pattern("....X.....x...X.")),
                        density=0.5, hold=0.6, max_beats=1.0, voices=4),
    melody=MelodyFeel(density=0.7, note_lengths=(2, 2, 2, 4, 6), on_sixteenths=False,
                      play_bars=2, rest_bars=2, articulation=0.85),
)

STYLES: dict[str, Style] = {s.name: s for s in (ROCK, FUNK, BALLAD, JAZZ_SWING)}


def style_names() -> tuple[str, ...]:
    return tuple(STYLES)


def style(name: str) -> Style:
    """The preset called `name`; raises ValueError listing the valid names."""
    try:
        return STYLES[name]
    except KeyError:
        raise ValueError(f"unknown style {name!r}: choose one of "
                         f"{', '.join(STYLES)}") from None


class Musician:
    """What every band member shares: a style, an intensity 0..1 and its own seeded dice.

    `seed` / `rng` are the member's own reproducible random generator; the conductor
    should hand `rng` in as `Step.rng` (see band.own_rng). The intensity may be changed
    live (a GUI fader); None means the style's default.
    """

    name: str = ""

    def __init__(self, style: Style, intensity: float | None = None, seed: int = 0) -> None:
        if not isinstance(style, Style):
            raise TypeError(f"style must be a Style (use styles.style(name)), "
                            f"got {type(style).__name__}")
        self.style = style
        self.seed = seed
        self.rng = random.Random(seed)
        self._intensity = style.intensity
        self.intensity = style.intensity if intensity is None else intensity

    @property
    def intensity(self) -> float:
        """How hard and busy the player is: 0 = barely there, 1 = all in."""
        return self._intensity

    @intensity.setter
    def intensity(self, value: float) -> None:
        _check_unit("intensity", value)
        self._intensity = float(value)

    def step(self, step: Step) -> list[NoteEvent]:
        """The notes this member decides for `step` (each member plays its own part)."""
        raise NotImplementedError(f"{type(self).__name__} must decide its own notes")

    def time_at(self, step: Step, beat: float) -> float:
        """Clock seconds of a written beat position, with the style's swing."""
        return self.style.time_at(step, beat)

    def seconds_between(self, step: Step, start_beat: float, end_beat: float) -> float:
        """Length in seconds of the written span [start, end), with swing."""
        return max(0.0, self.time_at(step, end_beat) - self.time_at(step, start_beat))


def humanise(rng: random.Random, velocity: float, spread: float = 0.04) -> float:
    """A velocity with a little human variation, kept inside 0.05..1.0."""
    return min(1.0, max(0.05, velocity + rng.uniform(-spread, spread)))
