"""Tempo from onset times: an inter-onset-interval histogram read through a comb.

All pairs of onsets within the last `window` seconds give intervals, each weighted by the
product of the two onsets' strengths (accented strums mark the beat); they are histogrammed
at 1 ms and smoothed with a Gaussian of `jitter` seconds. A candidate beat period P scores
the histogram at P/2, P, 2P, 3P and 4P (each lag weighted up for the pairs a finite window
cannot hold; the half beat picks the level whose subdivisions are played), times a broad
preference for tempos near `preferred` BPM. Candidates cover
`low`..`high` BPM only, so faster pulses fold onto their beat. The best candidate is refined
by a parabola through its neighbours. `update` reports a tempo when it first becomes sure
and whenever it moves by `change` BPM or more; when the guitar stops the last tempo stays.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float64]

RESOLUTION = 0.001            # s per histogram bin
MULTIPLES = (0.5, 1.0, 2.0, 3.0, 4.0)


@dataclass(frozen=True)
class TempoSettings:
    low: float = 60.0             # BPM
    high: float = 180.0           # BPM
    window: float = 8.0           # s of onsets considered
    min_onsets: int = 8           # onsets in the window before a tempo is reported
    jitter: float = 0.012         # s, expected timing spread of onsets
    preferred: float = 110.0      # BPM, centre of the (broad) tempo preference
    spread: float = 1.0           # octaves, width of the tempo preference
    change: float = 1.5           # BPM a new estimate must move to be reported
    stickiness: float = 0.8       # keep the reported tempo while it scores this share of the best
    step: float = 0.25            # BPM, candidate grid

    def __post_init__(self) -> None:
        if not 0 < self.low < self.high:
            raise ValueError(f"TempoSettings: need 0 < low < high, got {self.low}, {self.high}")
        if self.window < 4 * 60.0 / self.high:
            raise ValueError("TempoSettings.window must hold at least four beats")


class TempoEstimator:
    def __init__(self, settings: TempoSettings | None = None) -> None:
        self.settings = settings or TempoSettings()
        s = self.settings
        self._bpms = np.arange(s.low, s.high + s.step / 2, s.step)
        self._prior = np.exp(-0.5 * (np.log2(self._bpms / s.preferred) / s.spread) ** 2)
        self._max_lag = max(MULTIPLES) * 60.0 / s.low
        half = int(4 * s.jitter / RESOLUTION)
        offsets = np.arange(-half, half + 1) * RESOLUTION
        self._kernel = np.exp(-0.5 * (offsets / s.jitter) ** 2)
        self._onsets: deque[tuple[float, float]] = deque()
        self._bpm: float | None = None

    @property
    def bpm(self) -> float | None:
        """The last tempo reported."""
        return self._bpm

    def update(self, onset_time: float, strength: float = 1.0) -> float | None:
        """Add an onset (times in order, strength e.g. its amplitude); the tempo in BPM if it
        is new or has moved."""
        self._onsets.append((onset_time, max(strength, 0.0)))
        while self._onsets and self._onsets[0][0] < onset_time - self.settings.window:
            self._onsets.popleft()
        estimate = self.estimate()
        if estimate is None:
            return None
        if self._bpm is not None and abs(estimate - self._bpm) < self.settings.change:
            return None
        self._bpm = estimate
        return estimate

    def estimate(self) -> float | None:
        """The tempo the onsets in the window suggest now, or None if there are too few."""
        if len(self._onsets) < self.settings.min_onsets:
            return None
        onsets = np.array(self._onsets, dtype=np.float64)
        histogram = self._interval_histogram(onsets[:, 0], onsets[:, 1])
        scores = self._scores(histogram)
        if float(scores.max()) <= 0.0:
            return None
        return self._refine(scores, self._best(scores))

    def _best(self, scores: Vector) -> int:
        """The best candidate, unless the tempo reported still scores nearly as well (no
        flapping between a tempo and its double)."""
        best = int(np.argmax(scores))
        if self._bpm is None:
            return best
        near = np.flatnonzero(np.abs(self._bpms - self._bpm) <= 0.02 * self._bpm)
        if near.size == 0:
            return best
        held = int(near[np.argmax(scores[near])])
        if scores[held] >= self.settings.stickiness * scores[best]:
            return held
        return best

    def _interval_histogram(self, times: Vector, strengths: Vector) -> Vector:
        upper = np.triu_indices(times.size, k=1)
        gaps = (times[None, :] - times[:, None])[upper]
        weights = (strengths[None, :] * strengths[:, None])[upper]
        keep = (gaps > 0) & (gaps <= self._max_lag + 0.1)
        bins = np.rint(gaps[keep] / RESOLUTION).astype(np.int64)
        counts = np.bincount(bins, weights=weights[keep],
                             minlength=int(self._max_lag / RESOLUTION) + 200)
        smoothed = np.convolve(counts.astype(np.float64), self._kernel, mode="same")
        lags = np.arange(smoothed.size) * RESOLUTION
        room = np.clip(1.0 - lags / self.settings.window, 0.05, 1.0)   # pairs a window holds
        return np.asarray(smoothed / room, dtype=np.float64)

    def _scores(self, histogram: Vector) -> Vector:
        periods = 60.0 / self._bpms
        total = np.zeros_like(periods)
        for multiple in MULTIPLES:
            total += np.interp(multiple * periods / RESOLUTION, np.arange(histogram.size),
                               histogram)
        return np.asarray(total * self._prior, dtype=np.float64)

    def _refine(self, scores: Vector, best: int) -> float:
        bpm = float(self._bpms[best])
        if 0 < best < scores.size - 1:
            left, mid, right = scores[best - 1], scores[best], scores[best + 1]
            curvature = left - 2 * mid + right
            if curvature < 0:
                bpm += 0.5 * float(left - right) / float(curvature) * self.settings.step
        return round(bpm, 1)
