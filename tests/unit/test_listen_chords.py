"""Chord recognition on synthetic chroma: templates, smoothing, hysteresis, silence, no
look-ahead."""

from __future__ import annotations

import numpy as np
import pytest

from performia.listen.chords import ChordRecognizer, ChordSettings, chord_templates, note_profile
from performia.theory import Chord

FRAME = 2048 / 48000                        # the analysis' chroma frame period


def chroma_of(label: str, noise: float = 0.0, rng: np.random.Generator | None = None,
              bass: bool = True) -> np.ndarray:
    """A chord's chroma as the analysis sees a strummed guitar: every tone with its
    harmonics, the root doubled in the bass."""
    chord = Chord.parse(label)
    note = note_profile()
    chroma = np.zeros(12)
    for interval in chord.intervals:
        chroma += np.roll(note, (chord.root + interval) % 12) * (2.0 if bass and interval == 0
                                                                 else 1.0)
    if noise and rng is not None:
        chroma += rng.uniform(0, noise, 12)
    return chroma


LABELS = [f"{root}:{quality}" for root in ("C", "Eb", "F#", "A", "B")
          for quality in ("maj", "min", "7", "min7", "maj7")]


@pytest.mark.parametrize("label", LABELS)
def test_each_chord_is_classified_from_its_chroma(label: str) -> None:
    recognizer = ChordRecognizer()
    assert recognizer.classify(chroma_of(label)) == Chord.parse(label)


def test_classification_survives_noise() -> None:
    rng = np.random.default_rng(3)
    recognizer = ChordRecognizer()
    labels = [f"{r}:{q}" for r in ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb",
                                    "B") for q in ("maj", "min", "7", "min7", "maj7")]
    right = sum(recognizer.classify(chroma_of(label, 0.15, rng)) == Chord.parse(label)
                for label in labels)
    assert right / len(labels) >= 0.9


def test_templates_cover_all_roots_and_are_unit_length() -> None:
    chords, templates = chord_templates(("maj", "min"), 1.4)
    assert len(chords) == 24 and templates.shape == (24, 12)
    assert np.allclose(np.linalg.norm(templates, axis=1), 1.0)


def test_update_reports_only_changes_after_the_hold() -> None:
    recognizer = ChordRecognizer(ChordSettings(hold=3))
    results = [recognizer.update(chroma_of("G:maj"), 0.3, i * FRAME) for i in range(6)]
    assert results[:2] == [None, None]
    assert results[2] == Chord.parse("G:maj")
    assert results[3:] == [None, None, None]
    assert recognizer.current == Chord.parse("G:maj")


def test_a_one_frame_glitch_does_not_change_the_chord() -> None:
    recognizer = ChordRecognizer()
    t = 0.0
    for _ in range(10):
        recognizer.update(chroma_of("G:maj"), 0.3, t)
        t += FRAME
    assert recognizer.update(chroma_of("Bb:min"), 0.3, t) is None
    for _ in range(5):
        t += FRAME
        assert recognizer.update(chroma_of("G:maj"), 0.3, t) is None
    assert recognizer.current == Chord.parse("G:maj")


def test_a_chord_change_is_heard_within_a_quarter_second() -> None:
    recognizer = ChordRecognizer()
    t = 0.0
    for _ in range(20):
        recognizer.update(chroma_of("G:maj"), 0.3, t)
        t += FRAME
    change = t
    heard = None
    while heard is None and t < change + 1.0:
        if recognizer.update(chroma_of("E:min7"), 0.3, t) is not None:
            heard = t
        t += FRAME
    assert heard is not None and heard - change < 0.25
    assert recognizer.current == Chord.parse("E:min7")


def test_silence_keeps_the_last_chord_and_reports_nothing() -> None:
    recognizer = ChordRecognizer()
    t = 0.0
    for _ in range(10):
        recognizer.update(chroma_of("A:min"), 0.3, t)
        t += FRAME
    for _ in range(50):                       # quiet: only hiss in the chroma
        assert recognizer.update(chroma_of("F#:7"), 0.001, t) is None
        t += FRAME
    assert recognizer.current == Chord.parse("A:min")


def test_empty_or_invalid_frames_are_ignored() -> None:
    recognizer = ChordRecognizer()
    assert recognizer.update(np.zeros(12), 0.3, 0.0) is None
    assert recognizer.update([float("nan")] * 12, 0.3, 0.1) is None
    assert recognizer.update([1.0] * 11, 0.3, 0.2) is None
    assert recognizer.current is None


def test_no_look_ahead() -> None:
    """The output at frame n depends only on frames 0..n: the outputs on a prefix of a
    sequence equal the first outputs on the whole sequence, whatever follows."""
    rng = np.random.default_rng(11)
    labels = ["G:maj"] * 15 + ["C:maj7"] * 15 + ["D:7"] * 15 + ["E:min7"] * 15
    frames = [chroma_of(label, 0.3, rng) for label in labels]
    levels = rng.uniform(0.002, 0.4, len(frames))

    def run(count: int, tail: list[np.ndarray]) -> list[Chord | None]:
        recognizer = ChordRecognizer()
        sequence = frames[:count] + tail
        return [recognizer.update(f, float(levels[i % len(levels)]), i * FRAME)
                for i, f in enumerate(sequence)]

    full = run(len(frames), [])
    for cut in (7, 16, 31, 44):
        other_future = [chroma_of("Bb:maj", 0.3, rng) for _ in range(20)]
        assert run(cut, other_future)[:cut] == full[:cut]
        assert run(cut, [])[:cut] == full[:cut]


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        ChordSettings(qualities=())
    with pytest.raises(ValueError):
        ChordSettings(hold=0)
    with pytest.raises(ValueError):
        ChordSettings(profile=(1.0, 0.0))


def test_once_onsets_are_known_a_chord_changes_only_after_a_strum() -> None:
    recognizer = ChordRecognizer(ChordSettings(onset_window=0.8))
    recognizer.onset(0.0)
    t = 0.0
    for _ in range(10):
        recognizer.update(chroma_of("A:min7"), 0.3, t)
        t += FRAME
    assert recognizer.current == Chord.parse("A:min7")
    t = 2.0                                   # the chord rings on; its colour drifts
    for _ in range(20):
        assert recognizer.update(chroma_of("A:maj7"), 0.3, t) is None
        t += FRAME
    recognizer.onset(t)                       # a new strum: now the change is accepted
    changes = [recognizer.update(chroma_of("D:7"), 0.3, t + i * FRAME) for i in range(5)]
    assert Chord.parse("D:7") in changes


def test_without_onsets_changes_are_accepted_any_time() -> None:
    recognizer = ChordRecognizer()
    for i in range(10):
        recognizer.update(chroma_of("A:min7"), 0.3, i * FRAME)
    changes = [recognizer.update(chroma_of("D:7"), 0.3, 5.0 + i * FRAME) for i in range(5)]
    assert Chord.parse("D:7") in changes
