"""The corpus plan: every take's spec (style, guitar, soundfont, key, tempo, bars) and the split.

A bar is written in Roman numerals relative to the key of the moment: "I", "vi", "V7", "ii7",
"IVmaj7", "iiø" (half-diminished), "vii°" (diminished), "Vsus4", "V/3" (first inversion),
"I/5"; two numerals in one bar ("ii7 V7") split it in halves; "M" is a bar of single-note
melody, "R" a bar of rest. Upper case = major (7 = dominant seventh), lower case = minor
(7 = minor seventh).

THE SPLIT (fixed before anything was scored, never to be changed by a result):
    held out = every take on the MuseScore General soundfont (a timbre family the dev takes
               never use) + every other take whose seed % 3 == 0;
    dev      = the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bench.corpus.guitar import key_uses_flats, note_name

SOUNDFONTS = {   # Debian packages: fluid-soundfont-gm, timgm6mb-soundfont,
    #                  musescore-general-soundfont-small (MIT; sf3 = Vorbis-compressed samples)
    "fluidr3": "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "timgm": "/usr/share/sounds/sf2/TimGM6mb.sf2",
    "musescore": "/usr/share/sounds/sf3/MuseScore_General_Lite.sf3",
}
HELD_OUT_SOUNDFONT = "musescore"
PROGRAMS = {24: "nylon", 25: "steel", 26: "jazz electric", 27: "clean electric",
            29: "overdriven", 30: "distortion"}
DEGREES = {"I": 0, "II": 2, "III": 4, "IV": 5, "V": 7, "VI": 9, "VII": 11}
MINOR_DEGREES = {"I": 0, "II": 2, "III": 3, "IV": 5, "V": 7, "VI": 8, "VII": 10}  # natural minor
NUMERAL = re.compile(r"^(b|#)?(VII|VI|V|IV|III|II|I|vii|vi|v|iv|iii|ii|i)"
                     r"(maj7|7|ø|°|sus4)?(?:/(3|5))?$")


def split_of(seed: int, soundfont: str) -> str:
    """The split rule (see the module docstring and docs/CORPUS.md)."""
    return "heldout" if soundfont == HELD_OUT_SOUNDFONT or seed % 3 == 0 else "dev"


@dataclass(frozen=True)
class TakeSpec:
    name: str
    style: str              # strum, arpeggio, fingerpick, jazz, blues
    program: int            # General MIDI program (24 nylon ... 30 distortion)
    soundfont: str          # a key of SOUNDFONTS
    key: str                # "G:maj" / "E:min": the key at the start
    bpm: float
    beats_per_bar: int
    bars: tuple[str, ...]   # one entry per bar (see the module docstring)
    seed: int
    shape: str = "open"     # open, barre, inverted, shell, drop2
    pattern: str = "D.DU.UDU"   # eighths: D/d down (accent/normal), U/u up, . hold, x damp
    swing: bool = False
    ring: bool = True       # let strings ring until struck again; False = damped, short
    spread_ms: tuple[float, float] = (10.0, 30.0)
    jitter_ms: float = 6.0
    reverb: bool = False
    tempo_changes: tuple[tuple[int, float], ...] = ()   # (bar index, new bpm)
    key_changes: tuple[tuple[int, str], ...] = ()       # (bar index, new key)
    lead_in: float = 0.8    # seconds of silence before the first bar
    intonation: float = 0.0  # cents (σ): each string tuned off by half this, each fret's
                             # note off by this more, as on a real guitar (0: in tune)

    @property
    def split(self) -> str:
        return split_of(self.seed, self.soundfont)

    @property
    def steady(self) -> bool:
        return not self.tempo_changes and not self.key_changes


def chord_label(numeral: str, key: str) -> str:
    """'V7' in 'G:maj' → 'D:7'; 'iiø' in 'A:min' → 'B:hdim7'; 'V/3' in 'C:maj' → 'G:maj/3'."""
    tonic_name, mode = key.split(":")
    tonic = note_to_pc(tonic_name)
    m = NUMERAL.match(numeral)
    if not m:
        raise ValueError(f"cannot read the numeral {numeral!r}")
    accidental, roman, suffix, inversion = m.groups()
    degrees = MINOR_DEGREES if mode == "min" else DEGREES
    root = (tonic + degrees[roman.upper()] + {"b": -1, "#": 1, None: 0}[accidental]) % 12
    minor = roman.islower()
    quality = {None: "min" if minor else "maj", "7": "min7" if minor else "7",
               "maj7": "maj7", "ø": "hdim7", "°": "dim", "sus4": "sus4"}[suffix]
    label = f"{note_name(root, key_uses_flats(tonic, mode))}:{quality}"
    if inversion == "3":
        label += "/b3" if quality in ("min", "min7", "dim", "hdim7") else "/3"
    elif inversion == "5":
        label += "/b5" if quality in ("dim", "hdim7") else "/5"
    return label


def note_to_pc(name: str) -> int:
    base = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}[name[0]]
    return (base + name.count("#") - name.count("b")) % 12


def _bars(*sections: tuple[str, int]) -> tuple[str, ...]:
    """('I V vi IV', 2) → the four bars twice; bars separated by '|' may hold two chords."""
    bars: list[str] = []
    for text, times in sections:
        one = [b.strip() for b in (text.split("|") if "|" in text else text.split())]
        bars += one * times
    return tuple(bars)


ARPEGGIO_44 = "B A t2 t1 t0 t1 t2 A"
ARPEGGIO_34 = "B A t1 t0 t1 A"
ARPEGGIO_ROLL_44 = "B t2 t1 t0 A t2 t1 t0"
ARPEGGIO_PINCH_44 = "B+t0 t2 t1 t2 A+t0 t2 t1 t2"
TRAVIS_44 = "B+t0 t1 A t0 B t1+t0 A t1"
TRAVIS_34 = "B+t0 t1 A t0 A t1"

# (style, program, soundfont, key, bpm, beats, bars, shape, pattern, options)
_PLAN: list[tuple[str, int, str, str, float, int, tuple[str, ...], str, str, dict[str, object]]] = [
    ("strum", 25, "fluidr3", "G:maj", 96, 4, _bars(("I V vi IV", 3)), "open", "D.DU.UDU", {}),
    ("strum", 27, "timgm", "D:maj", 120, 4, _bars(("I vi IV V", 2), ("M M", 1), ("I vi IV V", 1)),
     "barre", "D.DUDUDU", {}),
    ("strum", 29, "fluidr3", "E:min", 140, 4, _bars(("i VI III VII", 3)), "barre", "D.D.DUDU",
     {"ring": False}),
    ("strum", 25, "timgm", "C:maj", 84, 4, _bars(("I V/3 vi IV I I/3 IV V", 2)), "inverted",
     "D.DU.UDU", {}),
    ("strum", 25, "musescore", "A:maj", 108, 4, _bars(("I Vsus4 V vi IV IVsus4 IV V", 2)),
     "open", "D.DU.UDU", {}),
    ("strum", 30, "fluidr3", "A:min", 150, 4, _bars(("i VII VI VII", 3)), "barre", "DdDdDdDd",
     {"ring": False, "spread_ms": (5.0, 12.0)}),
    ("strum", 25, "timgm", "F:maj", 72, 3, _bars(("I vi ii V7", 2)), "open", "D.DUDU", {}),
    ("strum", 27, "fluidr3", "Bb:maj", 100, 4, _bars(("I V vi IV", 4)), "barre", "D.DU.UDU",
     {"tempo_changes": ((8, 110.0),)}),
    ("strum", 29, "timgm", "B:min", 132, 4, _bars(("i VI III VII", 2), ("R", 2),
                                                    ("i VI III VII", 1)), "barre", "D.DUDUDU", {}),
    ("strum", 25, "musescore", "Eb:maj", 88, 4, _bars(("I vi IV V", 3)), "barre", "D.DU.UDU", {}),
    ("strum", 27, "fluidr3", "C:maj", 112, 4, _bars(("I V vi IV", 2)) + _bars(("I V vi IV", 2)),
     "open", "D.DUDUDU", {"key_changes": ((8, "D:maj"),)}),
    ("strum", 25, "timgm", "E:maj", 160, 4, _bars(("I V vi IV", 3)), "open", "D.DUDUDU",
     {"spread_ms": (8.0, 20.0)}),
    ("strum", 27, "fluidr3", "Ab:maj", 66, 4, _bars(("I IV I V", 2)), "barre", "DuDuDuDu",
     {"spread_ms": (20.0, 40.0)}),
    ("strum", 29, "timgm", "F#:min", 176, 4, _bars(("i iv v i", 3)), "barre", "D.D.D.D.",
     {"ring": False}),
    ("strum", 27, "musescore", "G:maj", 120, 4, _bars(("I I/3 IV V vi V/3 IV I/5", 2)),
     "inverted", "D.DU.UDU", {"reverb": True}),
    ("strum", 27, "fluidr3", "Db:maj", 92, 4, _bars(("I V vi IV", 1), ("R R", 1),
                                                     ("I V vi IV", 1), ("M M", 1)),
     "barre", "D.DU.UDU", {}),
    ("strum", 25, "timgm", "C:maj", 104, 3, _bars(("I V/3 vi I/5 IV I/3 ii V", 2)), "inverted",
     "D.DUDU", {}),
    ("strum", 29, "fluidr3", "D:min", 124, 4, _bars(("i VI VII V7", 3)), "barre", "D.DUDUDU",
     {"ring": False}),
    ("strum", 25, "musescore", "A:maj", 100, 4, _bars(("I V|vi IV|I V|IV IV", 2)), "open",
     "D.DU.UDU", {}),
    ("strum", 27, "timgm", "G:maj", 80, 4, _bars(("I #i° ii7 V7", 3)),
     "open", "D.DU.UDU", {}),
    ("arpeggio", 24, "fluidr3", "A:min", 76, 4, _bars(("i VI III VII", 2)), "open", ARPEGGIO_44,
     {}),
    ("arpeggio", 24, "timgm", "C:maj", 90, 3, _bars(("Imaj7 vi7 ii7 V7", 2)), "open", ARPEGGIO_34,
     {}),
    ("arpeggio", 24, "musescore", "E:min", 66, 4, _bars(("i iv VI V7", 2)), "open", ARPEGGIO_44,
     {"reverb": True}),
    ("arpeggio", 24, "fluidr3", "G:maj", 110, 4, _bars(("I vi IV V", 1), ("M M", 1),
                                                       ("I vi IV V", 1)), "open", ARPEGGIO_44, {}),
    ("fingerpick", 24, "timgm", "D:maj", 100, 4, _bars(("I IV V I", 3)), "open", TRAVIS_44, {}),
    ("fingerpick", 24, "musescore", "F:maj", 84, 4, _bars(("I vi IV V7", 2)), "barre", TRAVIS_44,
     {}),
    ("fingerpick", 25, "fluidr3", "E:maj", 120, 4, _bars(("I IV I V", 2), ("M M", 1)), "open",
     TRAVIS_44, {}),
    ("fingerpick", 24, "timgm", "B:min", 72, 3, _bars(("i VI III V", 2)), "barre", TRAVIS_34, {}),
    ("jazz", 26, "fluidr3", "C:maj", 120, 4, _bars(("ii7 V7 Imaj7 Imaj7", 3)), "shell", "D.D.D.D.",
     {}),
    ("jazz", 26, "musescore", "Bb:maj", 160, 4, _bars(("Imaj7 vi7|ii7 V7|iii7 VI7|ii7 V7", 2)),
     "drop2", "D..D..D.", {}),
    ("jazz", 26, "timgm", "A:min", 132, 4, _bars(("iiø V7 i7 i7", 3)), "drop2", "D..D....", {}),
    ("jazz", 26, "fluidr3", "F:maj", 100, 4, _bars(("ii7 V7 Imaj7 vi7", 3)), "shell", "D.D.D.D.",
     {}),
    ("jazz", 26, "timgm", "Eb:maj", 180, 4, _bars(("ii7 V7 Imaj7 Imaj7", 3)), "shell",
     "D..D..D.", {}),
    ("jazz", 26, "musescore", "G:min", 90, 4, _bars(("iv7 VII7 IIImaj7 VImaj7 iiø V7 i7 i7", 1)),
     "drop2", "D..D.D..", {}),
    ("blues", 27, "fluidr3", "A:maj", 96, 4,
     _bars(("I7 I7 I7 I7 IV7 IV7 I7 I7 V7 IV7 I7 V7", 1)), "open", "D.DuD.Du", {}),
    ("blues", 29, "timgm", "E:maj", 120, 4,
     _bars(("I7 IV7 I7 I7 IV7 IV7 I7 I7 V7 IV7 I7 V7", 1)), "open", "D.DuD.Du", {"ring": False}),
    ("blues", 26, "musescore", "G:maj", 140, 4,
     _bars(("I7 IV7 I7 I7 IV7 IV7 I7 I7 V7 IV7 I7 V7", 1)), "barre", "D..D.D..", {}),
    ("blues", 25, "fluidr3", "C:maj", 80, 4,
     _bars(("I7 I7 I7 I7 IV7 IV7 I7 I7 V7 IV7 I7 V7", 1)), "barre", "D.DuD.Du", {}),
    ("strum", 24, "timgm", "F#:maj", 116, 4, _bars(("I IV M M V I R R", 1), ("I IV V I", 1)),
     "barre", "D.DU.UDU", {}),
    ("strum", 27, "musescore", "B:maj", 92, 4, _bars(("I V vi IV", 2)), "barre", "D.DU.UDU",
     {"tempo_changes": ((4, 84.0),)}),
]

SWUNG_STYLES = {"jazz", "blues"}


def _spec(seed: int, row: tuple[str, int, str, str, float, int, tuple[str, ...], str, str,
                                  dict[str, object]]) -> TakeSpec:
    style, program, soundfont, key, bpm, beats, bars, shape, pattern, options = row
    tonic = key.split(":")[0].replace("#", "s").lower()
    name = f"{seed:03d}_{style}_{tonic}{'m' if key.endswith('min') else ''}_{int(bpm)}"
    swing = style in SWUNG_STYLES and not (style == "blues" and options.get("ring") is False)
    lead_in = 0.5 + (seed * 0.37) % 1.0
    return TakeSpec(name=name, style=style, program=program, soundfont=soundfont, key=key,
                    bpm=float(bpm), beats_per_bar=beats, bars=bars, seed=seed, shape=shape,
                    pattern=pattern, swing=swing, lead_in=round(lead_in, 3),
                    **options)  # type: ignore[arg-type]


def corpus_plan() -> list[TakeSpec]:
    """Every take of the corpus, seeds 1, 2, 3, ... in plan order."""
    return [_spec(i + 1, row) for i, row in enumerate(_PLAN)]


# A second set for tuning only (`generate.py --plan tuning`, build/corpus_tuning): more of the
# sparse textures (arpeggios, fingerpicking, jazz, blues), on the development soundfonts only
# and with seeds that the split rule puts in dev, so the held-out set is untouched by it.
_TUNING: list[tuple[str, int, str, str, float, int, tuple[str, ...], str, str,
                    dict[str, object]]] = [
    ("arpeggio", 24, "timgm", "D:min", 70, 4, _bars(("i VI iv7 V7", 2)), "open", ARPEGGIO_44, {}),
    ("arpeggio", 24, "fluidr3", "F:maj", 96, 4, _bars(("I vi7 ii7 V7", 2)), "open", ARPEGGIO_44,
     {}),
    ("arpeggio", 25, "fluidr3", "B:min", 84, 3, _bars(("i VI III VII", 2)), "barre", ARPEGGIO_34,
     {}),
    ("arpeggio", 24, "timgm", "Bb:maj", 62, 4, _bars(("I IV ii V", 2)), "open", ARPEGGIO_44,
     {"reverb": True}),
    ("fingerpick", 24, "fluidr3", "G:maj", 92, 4, _bars(("I V/3 vi IV", 2)), "open", TRAVIS_44,
     {}),
    ("fingerpick", 25, "timgm", "A:min", 80, 4, _bars(("i VII VI V7", 2)), "barre", TRAVIS_44,
     {}),
    ("fingerpick", 24, "fluidr3", "Eb:maj", 108, 4, _bars(("Imaj7 IVmaj7 ii7 V7", 2)), "barre",
     TRAVIS_44, {}),
    ("jazz", 26, "timgm", "D:maj", 112, 4, _bars(("ii7 V7 Imaj7 vi7", 3)), "drop2", "D.D.D.D.",
     {}),
    ("jazz", 26, "fluidr3", "Ab:maj", 144, 4, _bars(("iii7 VI7 ii7 V7", 3)), "shell",
     "D..D..D.", {}),
    ("blues", 27, "timgm", "D:maj", 104, 4,
     _bars(("I7 IV7 I7 I7 IV7 IV7 I7 I7 V7 IV7 I7 V7", 1)), "open", "D.DuD.Du", {}),
    ("blues", 29, "fluidr3", "B:maj", 126, 4,
     _bars(("I7 I7 I7 I7 IV7 IV7 I7 I7 V7 IV7 I7 V7", 1)), "barre", "D.D.D.D.", {}),
    # strummed takes (added in the fifth session, for the first chord and the band's entry)
    ("strum", 25, "timgm", "A:maj", 116, 4, _bars(("I IV vi V", 3)), "open", "D.DU.UDU", {}),
    ("strum", 29, "fluidr3", "C#:min", 144, 4, _bars(("i VI III VII", 3)), "barre", "D.D.DUDU",
     {"ring": False}),
    ("strum", 27, "timgm", "Bb:maj", 78, 4, _bars(("I vi7 IVmaj7 V7", 2)), "barre", "D.DU.UDU",
     {}),
    ("strum", 25, "fluidr3", "E:maj", 100, 4, _bars(("I V/3 vi IV", 3)), "inverted", "D.DUDUDU",
     {"spread_ms": (15.0, 35.0)}),
    ("strum", 30, "timgm", "G:min", 168, 4, _bars(("i iv VII III", 3)), "barre", "DdDdDdDd",
     {"ring": False, "spread_ms": (5.0, 12.0)}),
    ("strum", 25, "fluidr3", "F:maj", 90, 3, _bars(("I IV V7 I", 2)), "open", "D.DUDU", {}),
    ("strum", 27, "timgm", "D:maj", 132, 4, _bars(("I Vsus4 V vi IV", 2)), "open", "D.DUDUDU",
     {}),
    ("strum", 29, "fluidr3", "Eb:min", 110, 4, _bars(("i VI VII i", 3)), "barre", "D.DU.UDU",
     {}),
    # tempo changes (added in the sixth session, for following a guitarist who speeds up or
    # slows down: the corpus has one in dev and one held out)
    ("strum", 25, "timgm", "G:maj", 90, 4, _bars(("I IV V IV", 4)), "open", "D.DU.UDU",
     {"tempo_changes": ((8, 99.0),)}),
    ("strum", 29, "fluidr3", "A:min", 120, 4, _bars(("i VI VII i", 4)), "barre", "D.DUDUDU",
     {"tempo_changes": ((8, 108.0),)}),
    ("strum", 27, "timgm", "E:maj", 132, 4, _bars(("I vi IV V", 4)), "barre", "D.D.DUDU",
     {"tempo_changes": ((8, 145.0),)}),
    ("fingerpick", 24, "fluidr3", "C:maj", 84, 4, _bars(("I vi IV V", 4)), "open", TRAVIS_44,
     {"tempo_changes": ((8, 92.0),)}),
    # slowing down (added in the seventh session: dev had one take that slows, 1031)
    ("strum", 25, "timgm", "D:maj", 110, 4, _bars(("I V vi IV", 4)), "open", "D.DU.UDU",
     {"tempo_changes": ((8, 100.0),)}),
    ("strum", 27, "fluidr3", "F:maj", 96, 4, _bars(("I IV vi V", 4)), "barre", "D.DUDUDU",
     {"tempo_changes": ((8, 88.0),)}),
    ("fingerpick", 24, "timgm", "E:min", 100, 4, _bars(("i VI III VII", 4)), "open",
     TRAVIS_44, {"tempo_changes": ((8, 91.0),)}),
    # the band's entry and the meter (added in the ninth session): syncopated comping at fast
    # tempi, a quick-change blues on the off-beats, rests, two chords a bar, even eighths
    ("jazz", 26, "fluidr3", "G:maj", 164, 4, _bars(("Imaj7 vi7|ii7 V7|iii7 VI7|ii7 V7", 2)),
     "drop2", "D..D..D.", {}),
    ("jazz", 26, "timgm", "Eb:maj", 152, 4, _bars(("ii7 V7 Imaj7 vi7", 3)), "shell", "D..D..D.",
     {}),
    ("blues", 26, "timgm", "C:maj", 144, 4,
     _bars(("I7 IV7 I7 I7 IV7 IV7 I7 I7 V7 IV7 I7 V7", 1)), "barre", "D..D.D..", {}),
    ("blues", 26, "fluidr3", "F:maj", 136, 4,
     _bars(("I7 IV7 I7 I7 IV7 IV7 I7 I7 V7 IV7 I7 V7", 1)), "barre", "D..D.D..", {}),
    ("strum", 29, "fluidr3", "D:min", 128, 4, _bars(("i VI III VII", 2), ("R", 2),
                                                     ("i VI III VII", 1)), "barre", "D.DUDUDU",
     {}),
    ("strum", 25, "timgm", "E:maj", 104, 4, _bars(("I V|vi IV|I V|IV IV", 2)), "open",
     "D.DU.UDU", {}),
    ("strum", 30, "timgm", "B:min", 146, 4, _bars(("i VII VI VII", 3)), "barre", "DdDdDdDd",
     {"ring": False, "spread_ms": (5.0, 12.0)}),
    # early tempo changes (added in the thirteenth session: every tuning take changed tempo
    # after 8 bars, when the beat tracker has long settled; a guitarist may move after 4)
    ("strum", 25, "timgm", "C:maj", 96, 4, _bars(("I V vi IV", 2)), "barre", "D.DU.UDU",
     {"tempo_changes": ((4, 88.0),)}),
    ("strum", 29, "fluidr3", "F#:min", 104, 4, _bars(("i VI III VII", 3)), "barre", "D.DUDUDU",
     {"tempo_changes": ((4, 114.0),)}),
    ("fingerpick", 24, "timgm", "A:maj", 88, 4, _bars(("I IV V IV", 3)), "open", TRAVIS_44,
     {"tempo_changes": ((5, 80.0),)}),
    ("strum", 29, "timgm", "G:min", 136, 4, _bars(("i VI III VII", 2), ("R", 2),
                                                   ("i VI III VII", 1)), "barre", "D.DUDUDU",
     {}),
    # more arpeggios (added in the fourteenth session: dev and tuning held 5 arpeggiated
    # takes, 40 bars, all but one 8 bars long; slow minor keys, melody bars, other patterns)
    ("arpeggio", 24, "fluidr3", "C#:min", 72, 4, _bars(("i iv VI V", 3)), "open", ARPEGGIO_44,
     {}),
    ("arpeggio", 24, "timgm", "G:min", 80, 4, _bars(("i VI III VII", 3)), "barre",
     ARPEGGIO_ROLL_44, {}),
    ("arpeggio", 24, "fluidr3", "E:maj", 64, 4, _bars(("I vi IV V", 2)), "open", ARPEGGIO_44,
     {"reverb": True}),
    ("arpeggio", 24, "timgm", "A:maj", 104, 4, _bars(("I vi IV V", 1), ("M M", 1),
                                                      ("I vi IV V", 1)), "open", ARPEGGIO_44,
     {}),
    ("arpeggio", 25, "fluidr3", "F:min", 88, 4, _bars(("i iv v i", 2)), "barre",
     ARPEGGIO_PINCH_44, {}),
    ("arpeggio", 24, "timgm", "Ab:maj", 68, 3, _bars(("I iii vi IV", 2)), "barre", ARPEGGIO_34,
     {"reverb": True}),
    ("fingerpick", 24, "fluidr3", "B:maj", 96, 4, _bars(("I vi IV V7", 2)), "barre",
     TRAVIS_44, {}),
    ("fingerpick", 24, "timgm", "D:min", 76, 4, _bars(("i VI iv V7", 2)), "open", TRAVIS_44,
     {"reverb": True}),
    # a guitar not quite in tune with itself (added in the fourteenth session): strings
    # tuned a few cents apart and frets that intonate a little off, as on a real guitar
    ("strum", 25, "fluidr3", "G:maj", 100, 4, _bars(("I V vi IV", 3)), "open", "D.DU.UDU",
     {"intonation": 10.0}),
    ("strum", 29, "timgm", "A:min", 120, 4, _bars(("i VI III VII", 3)), "barre", "D.DUDUDU",
     {"intonation": 10.0}),
    ("arpeggio", 24, "fluidr3", "D:min", 76, 4, _bars(("i VI iv V7", 2)), "open", ARPEGGIO_44,
     {"intonation": 10.0}),
    ("arpeggio", 24, "timgm", "C:maj", 88, 4, _bars(("I vi IV V", 2)), "open", ARPEGGIO_ROLL_44,
     {"intonation": 15.0}),
    ("fingerpick", 24, "fluidr3", "E:min", 92, 4, _bars(("i VI III VII", 2)), "open", TRAVIS_44,
     {"intonation": 10.0}),
    ("jazz", 26, "timgm", "F:maj", 132, 4, _bars(("ii7 V7 Imaj7 vi7", 3)), "drop2", "D..D..D.",
     {"intonation": 10.0}),
    ("blues", 27, "fluidr3", "E:maj", 112, 4,
     _bars(("I7 IV7 I7 I7 IV7 IV7 I7 I7 V7 IV7 I7 V7", 1)), "open", "D.DuD.Du",
     {"intonation": 10.0}),
    # fast jazz comping (added in the fifteenth session: the tuning set's fastest comps were
    # at 152 and 164 BPM, one of them syncopated; a band not told the tempo can take a comp
    # at 160+ for one at half its tempo)
    ("jazz", 26, "fluidr3", "Bb:maj", 172, 4, _bars(("ii7 V7 Imaj7 vi7", 3)), "drop2",
     "D..D..D.", {}),
    ("jazz", 26, "timgm", "C:maj", 160, 4, _bars(("Imaj7 vi7 ii7 V7", 3)), "shell", "D.D.D.D.",
     {}),
    ("jazz", 27, "fluidr3", "A:maj", 184, 4, _bars(("ii7 V7 Imaj7 Imaj7", 3)), "drop2",
     "D..D.D..", {}),
]


def tuning_plan() -> list[TakeSpec]:
    """The tuning set: seeds 1001, 1002, 1004, ... (never a multiple of 3: all dev)."""
    seeds = [n for n in range(1001, 1100) if n % 3][:len(_TUNING)]
    return [_spec(seed, row) for seed, row in zip(seeds, _TUNING, strict=True)]
