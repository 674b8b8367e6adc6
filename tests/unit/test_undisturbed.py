"""Which intervals between onsets an xrun report leaves untouched (pure logic)."""

from __future__ import annotations

import numpy as np

from tests.audio import REPORT_DELAY, REPORT_LEAD, merge_split_hits, rounding_allowance, undisturbed


def test_no_reports_leave_every_interval() -> None:
    assert undisturbed([0.0, 1.0, 2.0], []).tolist() == [True, True]


def test_a_report_inside_an_interval_or_just_after_it_takes_it_out() -> None:
    times = [0.0, 1.0, 2.0, 3.0]
    assert undisturbed(times, [1.5]).tolist() == [True, False, True]
    # read a little after the dropout: the interval that ended just before is suspect too
    assert undisturbed(times, [2.0 + REPORT_DELAY / 2]).tolist() == [True, False, False]
    assert undisturbed(times, [5.0]).tolist() == [True, True, True]


def test_reports_before_the_first_onset_touch_nothing() -> None:
    assert undisturbed(np.array([1.0, 2.0]), [-3.0, 0.5]).tolist() == [True]


def test_one_sample_of_rounding_is_allowed_only_after_the_first_resync() -> None:
    assert rounding_allowance([0.0, 1.0, 2.0], []).tolist() == [0, 0]
    assert rounding_allowance([0.0, 1.0, 2.0, 3.0], [1.5]).tolist() == [0, 1, 1]


def test_a_late_report_just_before_a_note_takes_out_both_intervals_around_it() -> None:
    # after a resync the server's clock runs a little ahead: "late" is printed before the note
    times = [0.0, 1.0, 2.0, 3.0]
    assert undisturbed(times, [2.0 - REPORT_LEAD / 2]).tolist() == [True, False, False]


def test_split_hits_merge_into_one_mark_per_block() -> None:
    marks = np.array([0, 6000, 6040, 12000, 18000, 18063, 18064 + 64])
    assert merge_split_hits(marks).tolist() == [0, 6000, 12000, 18000, 18128]
    assert merge_split_hits(np.array([], dtype=np.int64)).tolist() == []
