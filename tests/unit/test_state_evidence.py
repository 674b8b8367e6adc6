"""The chord evidence of the last bars (state/evidence.py) and the book deciding a bar
from it when the ears' frame-by-frame decision flips within a part of the bar."""

from __future__ import annotations

import numpy as np

from performia.listen.chords import vocabulary
from performia.state.book import StateBook
from performia.state.evidence import LEAST_FRAMES, ChordEvidence, DoubtSettings, sure_part
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


# -- the part of a chord the band is sure of ---------------------------------------------

EARS = vocabulary()                                   # the recogniser's own chords


def scores_for(**margins: float) -> np.ndarray:
    """Per-frame log-likelihoods: 0 for every chord but those named (label=score)."""
    scores = np.zeros(len(EARS))
    for label, score in margins.items():
        scores[EARS.index(Chord.parse(label.replace("_", ":")))] = score
    return scores


def test_a_chord_heard_clearly_is_played_whole() -> None:
    settings = DoubtSettings()
    clear = scores_for(G_maj7=2.0, G_maj=1.0, G_min=0.2)
    assert sure_part(Chord.parse("G:maj7"), clear, EARS, settings) == Chord.parse("G:maj7")
    assert sure_part(Chord.parse("D:sus4"), scores_for(D_sus4=1.0, D_maj=0.9), EARS,
                     settings) == Chord.parse("D:sus4")          # no third to doubt


def test_a_seventh_in_doubt_is_left_out_and_a_third_in_doubt_leaves_root_and_fifth() -> None:
    settings = DoubtSettings(third=0.5, seventh=0.4)
    barely_maj7 = scores_for(C_maj7=1.2, C_maj=1.0)
    assert sure_part(Chord.parse("C:maj7"), barely_maj7, EARS, settings) == Chord.parse("C:maj")
    barely_minor = scores_for(D_min=1.0, D_maj=0.8)
    power = sure_part(Chord.parse("D:min"), barely_minor, EARS, settings)
    assert power == Chord.parse("D:5") and set(power.pitch_classes) == {2, 9}
    assert power.fifth == 9
    # a minor seventh whose third is clear but whose seventh is not: the minor triad
    assert sure_part(Chord.parse("A:min7"), scores_for(A_min7=1.3, A_min=1.0, A_7=0.2),
                     EARS, settings) == Chord.parse("A:min")


def test_the_band_plays_the_part_of_a_chord_the_bars_heard_are_sure_of() -> None:
    dm, d = Chord.parse("D:min"), Chord.parse("D:maj")
    book = StateBook(Key.parse("D:min"), beat_at=TEMPO.beat_at, bpm=120)
    book.evidence = ChordEvidence(EARS)
    book.start_bar(0, 0.0)
    for k in range(20):                       # bar 0: D minor, but D major nearly as likely
        book.hear_scores(0.1 * k, scores_for(D_min=1.0, D_maj=0.9))
    book.hear_chord(dm, 0.3, since=0.0)
    book.start_bar(1, 2.0)
    assert book.state.sure_of(dm) == Chord.parse("D:5")
    for k in range(20):                       # bar 1: D minor clearly
        book.hear_scores(2.0 + 0.1 * k, scores_for(D_min=2.0, D_maj=0.2))
    book.start_bar(2, 4.0)                    # over both bars, the third is clear enough
    assert book.state.sure_of(dm) == dm
    assert book.state.sure_of(d) == d         # a chord not heard is played as it is named
