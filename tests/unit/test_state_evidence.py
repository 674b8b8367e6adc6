"""The chord evidence of the last bars (state/evidence.py) and the book deciding a bar
from it when the ears' frame-by-frame decision flips within a part of the bar."""

from __future__ import annotations

import numpy as np

from performia.state.book import StateBook
from performia.state.evidence import LEAST_FRAMES, ChordEvidence
from performia.theory import Chord, Key
from performia.timing.tempo import TempoMap

TEMPO = TempoMap(bpm=120, t0=0.0)          # a bar = 2 s
AM, A, C = Chord.parse("A:min"), Chord.parse("A:maj"), Chord.parse("C:maj")
VOCABULARY: list[Chord | None] = [AM, A, C, None]


def frame(best: Chord | None, margin: float = 1.0) -> np.ndarray:
    scores = np.zeros(len(VOCABULARY))
    scores[VOCABULARY.index(best)] = margin
    return scores


def test_the_chord_that_explains_the_frames_together_wins() -> None:
    evidence = ChordEvidence(VOCABULARY)
    for k in range(10):                       # A:min clearly, then A:maj by a hair, in turn
        evidence.add(0.1 + 0.15 * k, frame(AM, 1.0) if k % 2 else frame(A, 0.2))
    assert evidence.chord(TEMPO.beat_at, 0.0, 4.0) == AM
    assert evidence.chord(TEMPO.beat_at, 0.0, 4.0, among={A, C}.__contains__) == A
    assert evidence.chord(TEMPO.beat_at, 8.0, 12.0) is None            # nothing heard there
    few = ChordEvidence(VOCABULARY)
    for k in range(LEAST_FRAMES - 1):
        few.add(0.1 * k, frame(C))
    assert few.chord(TEMPO.beat_at, 0.0, 4.0) is None


def test_a_flipping_arpeggio_bar_is_the_chord_its_frames_say() -> None:
    book = StateBook(Key.parse("A:min"), beat_at=TEMPO.beat_at, bpm=120)
    book.evidence = ChordEvidence(VOCABULARY)
    book.start_bar(0, 0.0)
    t = 0.0
    for k in range(22):                       # 2 s of frames: mostly A minor
        book.hear_scores(t, frame(AM, 1.0) if k % 3 else frame(A, 0.3))
        t += 0.09
    # the ears' decisions flipped: A:min, then A:maj for the end of each half (without the
    # evidence the bar would be A major: what sounded at the end of each half)
    book.hear_chord(AM, 0.3, since=0.0)
    book.hear_chord(A, 0.8, since=0.65)
    book.hear_chord(AM, 1.2, since=1.0)
    book.hear_chord(A, 1.6, since=1.4)
    book.start_bar(1, 2.0)
    assert book.state.bars[-1].changes == ((0, AM),)
    without = StateBook(Key.parse("A:min"), beat_at=TEMPO.beat_at, bpm=120)
    without.start_bar(0, 0.0)
    for chord, heard, since in ((AM, 0.3, 0.0), (A, 0.8, 0.65), (AM, 1.2, 1.0), (A, 1.6, 1.4)):
        without.hear_chord(chord, heard, since=since)
    without.start_bar(1, 2.0)
    assert without.state.bars[-1].changes == ((0, A),)
