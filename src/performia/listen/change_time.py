"""When a chord change began: the HMM decides a change a few frames after the strum that made
it (its median latency is ~0.3 s, up to ~0.8 s on a soft change); the form memory needs the
beat the guitarist played it on. Looking back over the frames already heard (never ahead),
the change began at the first of the frames in a row, up to the decision, that the new chord
explains better than the old one; a /spectrum frame's window ends at its time, so the
sound that made it is centred `WINDOW_CENTRE` earlier. An onset close to that moment (the
strum) makes it exact.

    timer = ChangeTimer()
    timer.frame(time, scores)          # every /spectrum frame, the recogniser's scores
    timer.onset(time)                  # every onset heard
    since = timer.began(time, old_index, new_index)
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

WINDOW_CENTRE = 0.17      # s: half the 16,384-sample window at 48 kHz
FRAMES_KEPT = 16          # /spectrum frames looked back over (~1.4 s)
ONSETS_KEPT = 16


@dataclass(frozen=True, slots=True)
class ChangeTimerSettings:
    snap_before: float = 0.2    # s: an onset this much before the estimate is the strum
    snap_after: float = 0.12    # s: ... or this much after it
    longest: float = 1.2        # s: a change is never dated further back than this


class ChangeTimer:
    """Dates chord changes after the fact, from the frames and onsets already heard."""

    def __init__(self, settings: ChangeTimerSettings | None = None) -> None:
        self.settings = settings or ChangeTimerSettings()
        self._frames: deque[tuple[float, npt.NDArray[np.float64]]] = deque(maxlen=FRAMES_KEPT)
        self._onsets: deque[float] = deque(maxlen=ONSETS_KEPT)

    def frame(self, time: float, scores: npt.NDArray[np.float64]) -> None:
        self._frames.append((time, scores))

    def onset(self, time: float) -> None:
        self._onsets.append(time)

    def began(self, time: float, old: int | None, new: int) -> float:
        """When the change to state `new` from state `old` (None: from nothing) decided at
        `time` began: never after `time`, never more than `longest` before it."""
        first = time
        for frame_time, scores in reversed(self._frames):
            if frame_time > time:
                continue
            if old is not None and scores[new] <= scores[old]:
                break
            if time - frame_time > self.settings.longest:
                break
            first = frame_time
        estimate = first - WINDOW_CENTRE
        s = self.settings
        near = [t for t in self._onsets
                if estimate - s.snap_before <= t <= min(estimate + s.snap_after, time)]
        if near:
            estimate = min(near, key=lambda t: abs(t - estimate))
        return min(time, max(estimate, time - s.longest))
