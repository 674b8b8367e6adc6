"""Key estimation from the chords heard."""

from __future__ import annotations

import pytest

from performia.listen.key import KeyEstimator, KeySettings, tonic_chord_of, tonic_keys_of
from performia.theory import Chord, Key


def play(estimator: KeyEstimator, labels: list[str], seconds: float, start: float = 0.0,
         step: float = 0.1) -> tuple[float, list[Key]]:
    """Each chord for `seconds`, credited in `step` slices; the end time and keys reported."""
    reported: list[Key] = []
    t = start
    for label in labels:
        chord = Chord.parse(label)
        for _ in range(round(seconds / step)):
            t += step
            key = estimator.update(chord, step, t)
            if key is not None:
                reported.append(key)
    return t, reported


@pytest.mark.parametrize(("progression", "key"), [
    (["G:maj", "E:min7", "C:maj7", "D:7"], "G:maj"),
    (["A:min", "F:maj7", "D:min7", "E:7"], "A:min"),
    (["E:min", "C:maj", "G:maj", "D:maj"], "E:min"),      # the notes of G major: E starts
    (["D:maj", "B:min7", "G:maj7", "A:7"], "D:maj"),
    (["C:maj", "A:min7", "F:maj", "G:7"], "C:maj"),
    (["F#:min", "D:maj", "A:maj", "E:maj"], "F#:min"),
    (["Bb:maj", "G:min7", "Eb:maj7", "F:7"], "Bb:maj"),
])
def test_key_of_common_progressions(progression: list[str], key: str) -> None:
    estimator = KeyEstimator()
    _, reported = play(estimator, progression * 4, 2.0)
    assert estimator.key == Key.parse(key)
    assert reported == [Key.parse(key)]                    # decided once, never wavered


def test_key_changes_after_a_modulation_and_hold() -> None:
    estimator = KeyEstimator(KeySettings(memory=10.0))
    t, _ = play(estimator, ["G:maj", "C:maj", "D:7", "G:maj"] * 4, 2.0)
    assert estimator.key == Key.parse("G:maj")
    _, reported = play(estimator, ["Eb:maj", "Ab:maj", "Bb:7", "Eb:maj"] * 4, 2.0, start=t)
    assert reported and reported[-1] == Key.parse("Eb:maj")


def test_nothing_is_reported_before_enough_evidence() -> None:
    estimator = KeyEstimator(KeySettings(min_evidence=3.0))
    _, reported = play(estimator, ["A:min"], 2.0)
    assert reported == [] and estimator.key is None


def test_the_key_stays_when_the_guitar_stops() -> None:
    estimator = KeyEstimator()
    t, _ = play(estimator, ["A:min", "F:maj7", "D:min7", "E:7"] * 2, 2.0)
    assert estimator.key == Key.parse("A:min")
    # minutes later the guitar comes back on one ambiguous chord: no jump
    _, reported = play(estimator, ["C:maj"], 1.0, start=t + 300.0)
    assert estimator.key == Key.parse("A:min") and reported == []


def test_initial_key_is_kept_until_evidence_says_otherwise() -> None:
    estimator = KeyEstimator(initial=Key.parse("E:min"))
    assert estimator.key == Key.parse("E:min")
    _, reported = play(estimator, ["E:min", "C:maj", "G:maj", "D:maj"] * 2, 2.0)
    assert reported == [] and estimator.key == Key.parse("E:min")


def test_tonic_chord_of() -> None:
    assert tonic_chord_of(Chord.parse("A:min7")) == Key.parse("A:min")
    assert tonic_chord_of(Chord.parse("G:7")) == Key.parse("G:maj")


def test_negative_duration_is_refused() -> None:
    with pytest.raises(ValueError):
        KeyEstimator().update(Chord.parse("C:maj"), -1.0, 0.0)


def test_a_tonic_without_its_third_leaves_the_mode_to_the_other_chords() -> None:
    """A, G, F, E7 with the A's third never heard (root and fifth): A minor, whatever the
    A chord was guessed to be; heard as A major throughout, the same chords say A major
    (the tonic's time decides between keys that share most notes)."""
    thirdless, guessed = KeyEstimator(), KeyEstimator()
    play(thirdless, ["A:5", "G:maj", "F:maj", "E:7"] * 3, 2.0)
    play(guessed, ["A:maj", "G:maj", "F:maj", "E:7"] * 3, 2.0)
    assert thirdless.key == Key(9, "min")
    assert guessed.key == Key(9, "maj")
    assert tonic_keys_of(Chord.parse("A:5")) == ((Key(9, "maj"), 0.5), (Key(9, "min"), 0.5))
    assert tonic_keys_of(Chord.parse("A:min7")) == ((Key(9, "min"), 1.0),)
