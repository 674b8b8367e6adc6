"""Dating a chord change after the fact (listen/change_time.py): from the frames already
heard and the onsets, never after the decision, never too far back."""

from __future__ import annotations

import numpy as np

from performia.listen.change_time import WINDOW_CENTRE, ChangeTimer

HOP = 4096 / 48000


def scores(old: float, new: float) -> np.ndarray:
    return np.array([old, new, 0.0])


def test_the_change_began_at_the_strum_before_the_frames_that_heard_it() -> None:
    timer = ChangeTimer()
    times = [k * HOP for k in range(12)]
    for t in times[:6]:
        timer.frame(t, scores(1.0, 0.2))                  # the old chord (state 0)
    timer.onset(times[5] + 0.02)                          # the strum
    for t in times[6:]:
        timer.frame(t, scores(0.4, 0.9))                  # the new chord explains better
    decided = times[-1]
    began = timer.began(decided, 0, 1)
    assert began == times[5] + 0.02
    timer2 = ChangeTimer()
    for t in times[:6]:
        timer2.frame(t, scores(1.0, 0.2))
    for t in times[6:]:
        timer2.frame(t, scores(0.4, 0.9))
    assert abs(timer2.began(decided, 0, 1) - (times[6] - WINDOW_CENTRE)) < 1e-9   # no onset


def test_never_after_the_decision_nor_too_far_back() -> None:
    timer = ChangeTimer()
    for k in range(16):
        timer.frame(k * HOP, scores(0.0, 1.0))            # the new chord all along
    decided = 15 * HOP
    began = timer.began(decided, 0, 1)
    assert decided - timer.settings.longest - 1e-9 <= began <= decided
    timer.onset(decided + 0.5)                            # an onset after: not used
    assert timer.began(decided, 0, 1) <= decided
    fresh = ChangeTimer()
    assert fresh.began(2.0, None, 1) == 2.0 - WINDOW_CENTRE
