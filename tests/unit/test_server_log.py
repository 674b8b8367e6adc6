"""What supernova's output lines count as: dropouts, late bundles, errors (pure logic)."""

from __future__ import annotations

from performia.server.process import XRUN_BURST, ServerLog

XRUN = "Jack: xrun detected - resyncing clock"


def test_one_stall_reported_in_a_burst_of_lines_is_one_dropout() -> None:
    log = ServerLog()
    for i in range(8):                       # a 20-ms stall: 8 lines within 0.3 ms
        log.feed(XRUN, now=100.0 + i * 0.00004)
    log.feed(XRUN, now=100.1)                # the next stall, 100 ms later
    log.feed(XRUN, now=100.1 + XRUN_BURST / 2)
    assert log.xruns == 2
    assert log.xrun_times == [100.0, 100.1]


def test_late_bundles_and_errors_are_counted_apart() -> None:
    log = ServerLog()
    log.feed("late: 0.000218", now=5.0)
    log.feed("late: 0.000218", now=5.0)
    log.feed("FAILURE IN SERVER /s_new SynthDef not found", now=5.1)
    log.feed("Supernova ready", now=5.2)
    assert (log.late, log.errors, log.xruns) == (2, 1, 0)
    log.feed("Jack: xrun detected - resyncing clock", now=4.0)
    assert log.report_times() == [4.0, 5.0, 5.0]
    assert log.ready.is_set()
