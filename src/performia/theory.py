"""Chords, keys and scales, named with Harte labels ("G:maj", "E:min7", "A:7").

Pure music theory shared by the listening side (what was heard) and the band (what to play).
"""

from __future__ import annotations

from dataclasses import dataclass

PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_ALIASES = {"Db": 1, "D#": 3, "Gb": 6, "G#": 8, "A#": 10, "Cb": 11, "Fb": 4, "E#": 5, "B#": 0}

CHORD_QUALITIES: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "7": (0, 4, 7, 10),
    "min7": (0, 3, 7, 10),
    "maj7": (0, 4, 7, 11),
    "dim": (0, 3, 6),
    "aug": (0, 4, 8),
    "sus4": (0, 5, 7),
    "5": (0, 7),              # root and fifth: what the band plays when the third is in doubt
}
SCALES: dict[str, tuple[int, ...]] = {
    "maj": (0, 2, 4, 5, 7, 9, 11),
    "min": (0, 2, 3, 5, 7, 8, 10),
}


def pitch_class(name: str) -> int:
    """'E' → 4, 'Bb' → 10. Raises ValueError naming the accepted spellings."""
    if name in PITCH_NAMES:
        return PITCH_NAMES.index(name)
    if name in _ALIASES:
        return _ALIASES[name]
    raise ValueError(f"unknown note name {name!r}: use C, C#, Db, D, ..., B")


@dataclass(frozen=True, slots=True)
class Chord:
    root: int        # pitch class 0..11
    quality: str     # a key of CHORD_QUALITIES

    @classmethod
    def parse(cls, label: str) -> Chord:
        """Parse a Harte label: 'G:maj', 'E:min7', 'A:7'; a bare root means major."""
        root_name, _, quality = label.partition(":")
        quality = quality or "maj"
        if quality not in CHORD_QUALITIES:
            raise ValueError(f"unknown chord quality in {label!r}: use one of "
                             f"{', '.join(CHORD_QUALITIES)}")
        return cls(pitch_class(root_name.strip()), quality)

    @property
    def label(self) -> str:
        return f"{PITCH_NAMES[self.root]}:{self.quality}"

    @property
    def intervals(self) -> tuple[int, ...]:
        return CHORD_QUALITIES[self.quality]

    @property
    def pitch_classes(self) -> tuple[int, ...]:
        return tuple((self.root + i) % 12 for i in self.intervals)

    @property
    def fifth(self) -> int:
        """The chord's fifth (diminished, perfect or augmented)."""
        return (self.root + next(i for i in self.intervals if i in (6, 7, 8))) % 12

    def contains(self, midi: int) -> bool:
        return midi % 12 in self.pitch_classes

    def __str__(self) -> str:
        return self.label


@dataclass(frozen=True, slots=True)
class Key:
    tonic: int       # pitch class
    mode: str        # "maj" or "min"

    @classmethod
    def parse(cls, label: str) -> Key:
        """'E:min', 'G:maj' or 'G' (major)."""
        tonic, _, mode = label.partition(":")
        mode = mode or "maj"
        if mode not in SCALES:
            raise ValueError(f"unknown key mode in {label!r}: use maj or min")
        return cls(pitch_class(tonic.strip()), mode)

    @property
    def label(self) -> str:
        return f"{PITCH_NAMES[self.tonic]}:{self.mode}"

    @property
    def scale(self) -> tuple[int, ...]:
        return tuple((self.tonic + i) % 12 for i in SCALES[self.mode])

    def __str__(self) -> str:
        return self.label


def nearest_midi(pitch_class_: int, around: int) -> int:
    """The MIDI note of `pitch_class_` closest to `around`."""
    base = around - ((around - pitch_class_) % 12)
    return base if around - base <= 6 else base + 12
