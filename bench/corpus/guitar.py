"""Chord shapes on a six-string guitar in standard tuning (EADGBE), found on the fretboard.

A shape is what a hand can hold: every fretted note within a four-fret window, at most four
fingers (a barre across the lowest fret counts as one), the chord's bass note on the lowest
sounding string. Chords are Harte labels ("G:maj", "B:hdim7", "C:maj/3"); their notes come
from `mir_eval.chord.encode`, so the corpus and its judge read labels the same way.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache

import mir_eval

OPEN_STRINGS = (40, 45, 50, 55, 59, 64)   # E2 A2 D3 G3 B3 E4 (MIDI)
SHAPES = ("open", "barre", "inverted", "shell", "drop2")
SHARP_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
FLAT_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
# Keys whose signature has flats (major tonic / minor tonic pitch classes), spelled with flats.
FLAT_MAJOR_TONICS = {5, 10, 3, 8, 1}
FLAT_MINOR_TONICS = {2, 7, 0, 5, 10}


@dataclass(frozen=True)
class ChordTones:
    root: int                 # pitch class
    tones: frozenset[int]     # pitch classes
    bass: int                 # pitch class of the lowest note
    fifth: int | None         # pitch class of a perfect fifth, if the chord has one
    has_seventh: bool


def chord_tones(label: str) -> ChordTones:
    root, bitmap, bass = mir_eval.chord.encode(label)
    if root < 0:
        raise ValueError(f"{label!r} has no notes")
    tones = frozenset((root + i) % 12 for i in range(12) if bitmap[i])
    fifth = (root + 7) % 12 if bitmap[7] else None
    return ChordTones(root, tones, (root + bass) % 12, fifth, bool(bitmap[10] or bitmap[11]))


def note_name(pitch_class: int, flats: bool) -> str:
    return (FLAT_NAMES if flats else SHARP_NAMES)[pitch_class % 12]


def key_uses_flats(tonic: int, mode: str) -> bool:
    return tonic in (FLAT_MAJOR_TONICS if mode == "maj" else FLAT_MINOR_TONICS)


@dataclass(frozen=True)
class Shape:
    frets: tuple[int | None, ...]   # per string, low E first; None = not played

    @property
    def notes(self) -> tuple[int, ...]:
        """Sounding MIDI notes, low string first."""
        return tuple(OPEN_STRINGS[s] + f for s, f in enumerate(self.frets) if f is not None)

    def __str__(self) -> str:
        return " ".join("x" if f is None else str(f) for f in self.frets)


def _fingers(frets: list[int]) -> int:
    fretted = [f for f in frets if f > 0]
    if not fretted:
        return 0
    lowest = min(fretted)
    barre = 1 if fretted.count(lowest) > 1 else 0
    return len(fretted) - fretted.count(lowest) + (barre or 1)


def _string_options(chord: ChordTones, string: int, window: range,
                    open_ok: bool) -> list[int | None]:
    options: list[int | None] = [None]
    frets = ([0] if open_ok else []) + list(window)
    options += [f for f in frets if (OPEN_STRINGS[string] + f) % 12 in chord.tones]
    return options


def _required(chord: ChordTones, shape: str) -> frozenset[int]:
    """Tones a shape must hold: all of them, but a seventh chord may drop its perfect fifth."""
    if chord.has_seventh and chord.fifth is not None and len(chord.tones) >= 4:
        return chord.tones - {chord.fifth}
    return chord.tones


def _playable(frets: tuple[int | None, ...], chord: ChordTones, shape: str) -> bool:
    played = [(s, f) for s, f in enumerate(frets) if f is not None]
    count = len(played)
    limits = {"open": (4, 6), "barre": (5, 6), "inverted": (4, 6), "shell": (3, 3),
              "drop2": (4, 4)}[shape]
    if not limits[0] <= count <= limits[1]:
        return False
    strings = [s for s, _ in played]
    if shape in ("open", "barre", "inverted") and strings[-1] - strings[0] + 1 != count:
        return False   # strummed shapes: no muted string inside the chord
    if shape in ("shell", "drop2") and (strings[0] > 1 or strings[-1] - strings[0] > 4):
        return False
    notes = [OPEN_STRINGS[s] + f for s, f in played]
    if notes[0] % 12 != chord.bass or min(notes) != notes[0]:
        return False
    if not _required(chord, shape) <= {n % 12 for n in notes}:
        return False
    return _fingers([f for _, f in played]) <= 4


def _score(frets: tuple[int | None, ...], shape: str, position: int) -> float:
    played = [f for f in frets if f is not None]
    score = len(played) * (1.0 if shape in ("open", "barre", "inverted") else 0.0)
    score += 0.8 * played.count(0) if shape in ("open", "inverted") else 0.0
    score -= 0.3 * position
    lowest_string = next(s for s, f in enumerate(frets) if f is not None)
    score -= 0.3 * lowest_string if shape == "barre" else 0.0
    return score


def _barred_from_bass(frets: tuple[int | None, ...], position: int) -> bool:
    """A barre shape: no open string, the lowest sounding string held at the barre's fret."""
    played = [f for f in frets if f is not None]
    return bool(played) and 0 not in played and played[0] == position == min(played)


def _candidates(chord: ChordTones, shape: str) -> list[tuple[float, Shape]]:
    found: list[tuple[float, Shape]] = []
    positions = range(1, 2) if shape in ("open", "inverted") else range(1, 13)
    for position in positions:
        open_ok = shape in ("open", "inverted")
        window = range(1, 4) if open_ok else range(position, position + 4)
        options = [_string_options(chord, s, window, open_ok) for s in range(6)]
        for frets in itertools.product(*options):
            if shape == "barre" and not _barred_from_bass(frets, position):
                continue
            if shape in ("shell", "drop2") and 0 in frets:
                continue
            if open_ok and 0 not in frets:
                continue   # an open-position ("cowboy") chord rings at least one open string
            if _playable(frets, chord, shape):
                found.append((_score(frets, shape, position), Shape(frets)))
    found.sort(key=lambda c: (-c[0], str(c[1])))
    return found


@lru_cache(maxsize=512)
def find_shape(label: str, shape: str) -> Shape:
    """The best shape of `label` of the given kind ("open" falls back to a barre when the chord
    has no open shape, as a guitarist would; a shell falls back to a four-note drop-2)."""
    chord = chord_tones(label)
    fallbacks = {"open": ("open", "barre"), "inverted": ("inverted", "open", "barre"),
                 "barre": ("barre", "open"), "shell": ("shell", "drop2"), "drop2": ("drop2",)}
    for kind in fallbacks[shape] + ("drop2", "shell"):
        found = _candidates(chord, kind)
        if found:
            return found[0][1]
    raise ValueError(f"no {shape} shape for {label}")
