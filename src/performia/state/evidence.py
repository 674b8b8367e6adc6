"""The chord evidence of the last bars: every chroma frame's score for each chord of the
ears' vocabulary, kept with the time its sound was centred on. The chord of a part of a bar
is the one that explains all of that part's frames best together (their log-likelihoods
summed), which holds an arpeggio together where the frame-by-frame decision flips between
A:min and A:maj as single notes come and go. Pure logic: the book asks, the ears feed.

    evidence = ChordEvidence(vocabulary)         # the recogniser's chords (None: no chord)
    evidence.add(centre_time, log_likelihoods)   # every /spectrum frame
    evidence.chord(beat_at, 8.0, 10.0)           # song beats 8..10: Chord | None
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from performia.theory import Chord

FRAMES_KEPT = 512          # ~44 s of /spectrum frames (11.7 a second)
LEAST_FRAMES = 3           # a part heard for fewer frames is not decided from the evidence


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
        if among is not None:
            total = np.where([c is not None and among(c) for c in self.vocabulary], total,
                             -np.inf)
        return self.vocabulary[int(np.argmax(total))]
