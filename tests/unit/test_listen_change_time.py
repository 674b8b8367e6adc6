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


def test_the_old_chord_ringing_through_for_a_few_frames_does_not_cut_the_change_short() -> None:
    """A bar of D after G: its first frames are D, then the open strings of the G ring
    through the up-strums for a few frames (G scores a little higher), then D again. The
    change began where D first led (the sum of its lead from there to the decision is
    largest), not after the frames where G came back."""
    timer = ChangeTimer()
    times = [k * HOP for k in range(14)]
    lead = [-0.5, -0.6, -0.55, -0.3, 0.37, 0.44, -0.08, -0.09, -0.08, -0.04, 0.4, 0.48,
            0.5, 0.5]
    for t, x in zip(times, lead, strict=True):
        timer.frame(t, scores(0.0, x))
    decided = times[-1]
    assert abs(timer.began(decided, 0, 1) - (times[4] - WINDOW_CENTRE)) < 1e-9
    # the same frames with the old chord clearly back in the middle: a new change later
    timer2 = ChangeTimer()
    lead[6:10] = [-0.6, -0.6, -0.6, -0.6]
    for t, x in zip(times, lead, strict=True):
        timer2.frame(t, scores(0.0, x))
    assert abs(timer2.began(decided, 0, 1) - (times[10] - WINDOW_CENTRE)) < 1e-9
