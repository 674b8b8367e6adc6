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


def hear(rhythm: HarmonicRhythm, *changes: tuple[float, float, str | None]) -> None:
    """Label changes (time heard, time began, label; None: no chord), in order."""
    for time, began, label in changes:
        rhythm.heard(time, began, None if label is None else Chord.parse(label))


def holding(label: str) -> HarmonicRhythm:
    """A rhythm whose harmony is `label`, heard at 1.0 s (begun at 0.88) and confirmed."""
    rhythm = HarmonicRhythm()
    hear(rhythm, (1.0, 0.88, label))
    assert confirmed(rhythm, 1.0, 2.0) == [0.88]
    return rhythm


def test_a_change_is_passed_on_once_it_has_held_with_its_start() -> None:
    rhythm = HarmonicRhythm()
    hear(rhythm, (1.2, 0.9, "G:maj"))
    assert confirmed(rhythm, 1.2, 1.49) == []
    assert confirmed(rhythm, 1.49, 3.0) == [0.9]
    hear(rhythm, (3.7, 3.4, "D:maj"))
    assert confirmed(rhythm, 3.7, 5.0) == [3.4]


def test_a_quality_or_a_subset_flicker_is_no_change() -> None:
    rhythm = holding("C:maj7")
    hear(rhythm, *((time, time - 0.2, label) for time, label in
                   ((2.1, "E:min"), (2.3, "C:maj7"), (2.5, "C:maj"), (2.7, "C:7"))))
    assert confirmed(rhythm, 2.1, 4.0) == []


def test_a_flip_back_keeps_the_first_start() -> None:
    """G held; D heard (began 3.39), G again for a moment, then D (dated 4.01): the change
    to D began at 3.39."""
    rhythm = holding("G:maj")
    hear(rhythm, (3.67, 3.39, "D:maj"), (3.84, 3.39, "G:maj"), (4.10, 4.01, "D:maj"))
    assert confirmed(rhythm, 3.67, 5.0) == [3.39]


def test_a_flicker_back_to_the_chord_held_is_no_change() -> None:
    rhythm = holding("G:maj")
    hear(rhythm, (3.0, 2.9, "C:maj"), (3.1, 3.0, "G:maj"))
    assert confirmed(rhythm, 3.0, 6.0) == []
    hear(rhythm, (6.0, 5.8, "C:maj"))                     # long after: a change of its own
    assert confirmed(rhythm, 6.0, 7.0) == [5.8]


def test_a_chord_after_a_moment_of_no_chord_began_when_the_last_one_ended() -> None:
    """Fingerpicking that rings out at the bar line: the label goes to no chord on the
    bar (3.83), the next chord is heard from the first notes after it (4.2)."""
    rhythm = holding("A:min")
    hear(rhythm, (4.01, 3.83, None), (4.69, 4.2, "G:maj"))
    assert confirmed(rhythm, 4.0, 6.0) == [3.83]
    hear(rhythm, (9.0, 8.8, None), (12.0, 11.9, "C:maj"))   # a rest of a few seconds: the
    assert confirmed(rhythm, 9.0, 13.0) == [11.9]           # next chord began when heard
