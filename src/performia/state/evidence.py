"""The chord evidence of the last bars: every chroma frame's score for each chord of the
ears' vocabulary, kept with the time its sound was centred on. The chord of a part of a bar
is the one that explains all of that part's frames best together (their log-likelihoods
summed), which holds an arpeggio together where the frame-by-frame decision flips between
A:min and A:maj as single notes come and go. Pure logic: the book asks, the ears feed.

    evidence = ChordEvidence(vocabulary)         # the recogniser's chords (None: no chord)
    evidence.add(centre_time, log_likelihoods)   # every /spectrum frame
    evidence.chord(beat_at, 8.0, 10.0)           # song beats 8..10: Chord | None
    bar = evidence.totals(beat_at, [(0, 2, G:maj7), (2, 4, E:min)])   # one bar's frames
    sure_parts([bar, ...], vocabulary, DoubtSettings())          # {G:maj7: G:maj, ...}

What the band plays of a chord is the part of it the evidence is sure of (`sure_part`): a
keyboard player who cannot tell a major from a minor third plays root and fifth, one who
is unsure of the seventh plays the triad, and neither clashes with what the guitarist plays.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from performia.theory import Chord

FRAMES_KEPT = 512          # ~44 s of /spectrum frames (11.7 a second)
LEAST_FRAMES = 3           # a part heard for fewer frames is not decided from the evidence
MAJOR_THIRD, MINOR_THIRD = 4, 3
Span = tuple[float, float, Chord]    # song beats [start, end) where a bar held a chord
Totals = dict[Chord, tuple[npt.NDArray[np.float64], int]]   # scores summed, frames
SEVENTHS = (10, 11)


@dataclass(frozen=True, slots=True)
class DoubtSettings:
    """How clearly (mean log-likelihood per frame, the ears' units) a chord must beat its
    rivals on the same root for the band to play all of it (dev takes: see LISTENING.md)."""

    third: float = 0.5      # ... the best chord with the other third; else root and fifth
    seventh: float = 0.4    # ... its triad; else the triad


class ChordEvidence:
    def __init__(self, vocabulary: Sequence[Chord | None]) -> None:
        self.vocabulary = list(vocabulary)
        self._frames: deque[tuple[float, npt.NDArray[np.float64]]] = deque(maxlen=FRAMES_KEPT)

    def add(self, time: float, scores: npt.NDArray[np.float64]) -> None:
        """One frame: `scores[i]` is the log-likelihood of `vocabulary[i]`; `time` is when
        the sound it heard was centred."""
        if len(scores) != len(self.vocabulary):
            raise ValueError(f"{len(scores)} scores for {len(self.vocabulary)} chords")
        self._frames.append((time, np.asarray(scores, dtype=np.float64)))

    def chord(self, beat_at: Callable[[float], float], start: float, end: float,
              among: Callable[[Chord], bool] | None = None) -> Chord | None:
        """The chord (of those `among` accepts) whose frames from song beat `start` to `end`
        sum highest; None when fewer than LEAST_FRAMES were heard there, or "no chord" wins."""
        summed = self._summed(beat_at, start, end)
        if summed is None:
            return None
        total, _ = summed
        if among is not None:
            total = np.where([c is not None and among(c) for c in self.vocabulary], total,
                             -np.inf)
        return self.vocabulary[int(np.argmax(total))]

    def none_margin(self, beat_at: Callable[[float], float], start: float,
                    end: float) -> float | None:
        """How much better "no chord" explains the frames from song beat `start` to `end`
        than the best chord (mean log-likelihood per frame); None when fewer than
        LEAST_FRAMES were heard there or "no chord" is not in the vocabulary."""
        summed = self._summed(beat_at, start, end)
        if None not in self.vocabulary or summed is None:
            return None
        total, count = summed
        none = self.vocabulary.index(None)
        chords = np.delete(total, none)
        return float(total[none] - chords.max()) / count

    def _summed(self, beat_at: Callable[[float], float], start: float,
                end: float) -> tuple[npt.NDArray[np.float64], int] | None:
        """(the sum of the scores of the frames from song beat `start` to `end`, how many);
        None when fewer than LEAST_FRAMES were heard there."""
        total: npt.NDArray[np.float64] | None = None
        count = 0
        for time, scores in reversed(self._frames):       # newest first: stop before start
            beat = beat_at(time)
            if beat < start:
                break
            if beat < end:
                total = scores.copy() if total is None else total + scores
                count += 1
        if total is None or count < LEAST_FRAMES:
            return None
        return total, count

    def totals(self, beat_at: Callable[[float], float], spans: Sequence[Span]) -> Totals:
        """For each chord of `spans` (song beats [start, end) where a bar heard held it), the
        sum of the scores of the frames heard in them and how many (newest frames first,
        stopping before the earliest span: a bar's worth of frames, not all of them)."""
        totals: Totals = {}
        if not spans:
            return totals
        earliest = min(start for start, _, _ in spans)
        for time, scores in reversed(self._frames):       # newest first: stop before them
            beat = beat_at(time)
            if beat < earliest:
                break
            for start, end, chord in spans:
                if start <= beat < end:
                    total, count = totals.get(chord, (np.zeros(len(scores)), 0))
                    totals[chord] = (total + scores, count + 1)
                    break
        return totals


def sure_parts(totals: Iterable[Totals], vocabulary: Sequence[Chord | None],
               settings: DoubtSettings) -> dict[Chord, Chord]:
    """The part of each chord the band can play without a clash (`sure_part`), from the
    frames of all the bars given (their `ChordEvidence.totals`); a chord heard for fewer
    than LEAST_FRAMES frames is played whole."""
    summed: Totals = {}
    for bar in totals:
        for chord, (total, count) in bar.items():
            before, counted = summed.get(chord, (np.zeros(len(total)), 0))
            summed[chord] = (before + total, counted + count)
    return {chord: sure_part(chord, total / count, vocabulary, settings)
            if count >= LEAST_FRAMES else chord for chord, (total, count) in summed.items()}


def sure_part(chord: Chord, scores: npt.NDArray[np.float64],
              vocabulary: Sequence[Chord | None], settings: DoubtSettings) -> Chord:
    """`chord` if the scores (one per chord of `vocabulary`) hear it clearly; root and fifth
    if the third is in doubt; the triad if the seventh is."""
    intervals = set(chord.intervals)
    third = MAJOR_THIRD if MAJOR_THIRD in intervals else (
        MINOR_THIRD if MINOR_THIRD in intervals and 7 in intervals else None)
    if third is None:
        return chord                 # no third to doubt (sus4, dim, root and fifth)
    same_root = [(i, c) for i, c in enumerate(vocabulary) if c is not None and c.root == chord.root]
    ours = [scores[i] for i, c in same_root if third in c.intervals]
    other = MINOR_THIRD if third == MAJOR_THIRD else MAJOR_THIRD
    theirs = [scores[i] for i, c in same_root if other in c.intervals and 7 in c.intervals]
    if ours and theirs and max(ours) - max(theirs) < settings.third:
        return Chord(chord.root, "5")
    triad = Chord(chord.root, "maj" if third == MAJOR_THIRD else "min")
    if not intervals & set(SEVENTHS) or triad not in vocabulary:
        return chord
    if chord in vocabulary and (scores[vocabulary.index(chord)]
                                - scores[vocabulary.index(triad)]) < settings.seventh:
        return triad
    return chord
