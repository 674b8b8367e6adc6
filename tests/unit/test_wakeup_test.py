"""The wake-up test itself: a real thread, real sleeps (its lateness is the machine's)."""

from __future__ import annotations

from performia.wakeup_test import measure_wakeups


def test_the_wakeup_test_counts_every_period() -> None:
    report = measure_wakeups(seconds=0.5, period_s=0.01)
    assert 40 <= report.wakeups <= 50              # one per period, a stall counted once
    assert 0 <= report.late <= report.wakeups
    assert report.worst_s >= 0.0
    text = report.describe()
    assert f"of {report.wakeups} wake-ups" in text and "(10.00 ms)" in text
