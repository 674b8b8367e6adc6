"""The harmonic rhythm: which label changes of the recogniser are changes of the harmony."""

from __future__ import annotations

from performia.listen.harmonic_rhythm import HarmonicRhythm, same_harmony
from performia.theory import Chord


def confirmed(rhythm: HarmonicRhythm, start: float, end: float) -> list[float]:
    """What `confirmed` passes on, frame by frame (10 ms) from `start` to `end`."""
    found = []
    for i in range(round((end - start) / 0.01)):
        began = rhythm.confirmed(start + i * 0.01)
        if began is not None:
            found.append(round(began, 3))
    return found


def test_same_harmony_is_the_root_or_a_note_gone() -> None:
    assert same_harmony(Chord.parse("E:min7"), Chord.parse("E:min"))
    assert same_harmony(Chord.parse("E:min"), Chord.parse("C:maj7"))     # E G B in C E G B
    assert not same_harmony(Chord.parse("C:maj7"), Chord.parse("E:min"))  # a new root, C
    assert not same_harmony(Chord.parse("G:maj"), Chord.parse("D:maj"))
    assert not same_harmony(Chord.parse("A:min"), Chord.parse("C:maj"))


def test_a_change_is_passed_on_once_it_has_held_with_its_start() -> None:
    rhythm = HarmonicRhythm()
    rhythm.heard(1.2, 0.9, Chord.parse("G:maj"))
    assert confirmed(rhythm, 1.2, 1.49) == []
    assert confirmed(rhythm, 1.49, 3.0) == [0.9]
    rhythm.heard(3.7, 3.4, Chord.parse("D:maj"))
    assert confirmed(rhythm, 3.7, 5.0) == [3.4]


def test_a_quality_or_a_subset_flicker_is_no_change() -> None:
    rhythm = HarmonicRhythm()
    rhythm.heard(1.0, 0.8, Chord.parse("C:maj7"))
    confirmed(rhythm, 1.0, 2.0)
    for time, label in ((2.1, "E:min"), (2.3, "C:maj7"), (2.5, "C:maj"), (2.7, "C:7")):
        rhythm.heard(time, time - 0.2, Chord.parse(label))
    assert confirmed(rhythm, 2.1, 4.0) == []


def test_a_flip_back_keeps_the_first_start() -> None:
    """G held; D heard (began 3.39), G again for a moment, then D (dated 4.01): the change
    to D began at 3.39."""
    rhythm = HarmonicRhythm()
    rhythm.heard(1.0, 0.88, Chord.parse("G:maj"))
    confirmed(rhythm, 1.0, 2.0)
    rhythm.heard(3.67, 3.39, Chord.parse("D:maj"))
    rhythm.heard(3.84, 3.39, Chord.parse("G:maj"))
    rhythm.heard(4.10, 4.01, Chord.parse("D:maj"))
    assert confirmed(rhythm, 3.67, 5.0) == [3.39]


def test_a_flicker_back_to_the_chord_held_is_no_change() -> None:
    rhythm = HarmonicRhythm()
    rhythm.heard(1.0, 0.88, Chord.parse("G:maj"))
    confirmed(rhythm, 1.0, 2.0)
    rhythm.heard(3.0, 2.9, Chord.parse("C:maj"))
    rhythm.heard(3.1, 3.0, Chord.parse("G:maj"))
    assert confirmed(rhythm, 3.0, 6.0) == []
    rhythm.heard(6.0, 5.8, Chord.parse("C:maj"))         # long after: a change of its own
    assert confirmed(rhythm, 6.0, 7.0) == [5.8]


def test_a_chord_after_a_moment_of_no_chord_began_when_the_last_one_ended() -> None:
    """Fingerpicking that rings out at the bar line: the label goes to no chord on the
    bar (3.83), the next chord is heard from the first notes after it (4.2)."""
    rhythm = HarmonicRhythm()
    rhythm.heard(1.5, 0.83, Chord.parse("A:min"))
    confirmed(rhythm, 1.5, 3.0)
    rhythm.heard(4.01, 3.83, None)
    rhythm.heard(4.69, 4.2, Chord.parse("G:maj"))
    assert confirmed(rhythm, 4.0, 6.0) == [3.83]
    rhythm.heard(9.0, 8.8, None)                         # a rest of a few seconds: the
    rhythm.heard(12.0, 11.9, Chord.parse("C:maj"))       # next chord began when heard
    assert confirmed(rhythm, 9.0, 13.0) == [11.9]
