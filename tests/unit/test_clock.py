"""The epoch clock: pure time base, quantisation, scheduling, tempo changes, bad callbacks."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from performia.timing.clock import OfflineClock, RealtimeClock
from performia.timing.tempo import TempoMap


def test_time_is_computed_from_the_anchor_never_accumulated() -> None:
    tempo = TempoMap(bpm=120.0, t0=1000.0)
    assert tempo.time_at(0) == 1000.0
    assert tempo.time_at(4) == 1002.0
    # a million sixteenths later the time is still exact (no running sum)
    assert tempo.time_at(250_000.0) == 1000.0 + 125_000.0
    assert tempo.beat_at(tempo.time_at(123.25)) == pytest.approx(123.25, abs=1e-9)


def test_tempo_change_reanchors_at_the_beat() -> None:
    tempo = TempoMap(bpm=120.0, t0=0.0).with_tempo(60.0, at_beat=8.0)
    assert tempo.time_at(8.0) == 4.0          # unchanged up to the change
    assert tempo.time_at(9.0) == 5.0          # one second per beat after it
    assert (tempo.t0, tempo.b0) == (4.0, 8.0)


def test_positions_and_quantisation() -> None:
    tempo = TempoMap(bpm=120.0, t0=0.0, beats_per_bar=3)
    assert (tempo.position(7.5).bar, tempo.position(7.5).beat) == (2, 1.5)
    assert str(tempo.position(7.5)) == "3:2"
    assert tempo.next_beat(4.01) == 5.0
    assert tempo.next_beat(4.0) == 4.0
    assert tempo.next_bar(4.0) == 6.0
    assert tempo.next_beat(1.1, 0.25) == 1.25
    with pytest.raises(ValueError, match="quantum"):
        tempo.next_beat(1.0, 0)
    with pytest.raises(ValueError, match="tempo"):
        TempoMap(bpm=0.0, t0=0.0)


def test_offline_clock_runs_callbacks_in_order_at_exact_times() -> None:
    clock = OfflineClock(TempoMap(bpm=120.0, t0=10.0), lookahead=0.1)
    seen: list[tuple[float, float, float]] = []

    def tick(beat: float, when: float) -> None:
        seen.append((beat, when, clock.now()))
        if beat < 3:
            clock.schedule(beat + 1, tick)

    clock.schedule(0.0, tick)
    handle = clock.schedule(2.5, lambda b, t: seen.append((b, t, -1.0)))
    clock.cancel(handle)
    clock.advance_to(11.5)
    assert [(b, t) for b, t, _ in seen] == [(0.0, 10.0), (1.0, 10.5), (2.0, 11.0), (3.0, 11.5)]
    # each callback runs a lookahead before its beat sounds
    assert [now for *_, now in seen] == pytest.approx([9.9, 10.4, 10.9, 11.4])


def test_a_raising_callback_is_logged_and_dropped_and_the_clock_goes_on(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = OfflineClock(TempoMap(bpm=60.0, t0=0.0))
    seen: list[float] = []

    def broken(beat: float, when: float) -> None:
        raise RuntimeError("agent bug")

    clock.schedule(1.0, broken)
    clock.schedule(2.0, lambda b, t: seen.append(b))
    with caplog.at_level(logging.ERROR):
        clock.advance_to(3.0)
    assert seen == [2.0]
    assert "agent bug" in caplog.text and "Traceback" in caplog.text


def test_offline_and_realtime_clocks_run_the_same_musical_code() -> None:
    def pattern(clock: OfflineClock | RealtimeClock, out: list[float], done: threading.Event
                ) -> None:
        def step(beat: float, when: float) -> None:
            out.append(when)
            if beat < 1.75:
                clock.schedule(beat + 0.25, step)
            else:
                done.set()
        clock.schedule(0.0, step)

    t0 = time.time() + 0.05
    offline_times: list[float] = []
    offline = OfflineClock(TempoMap(bpm=240.0, t0=t0))
    pattern(offline, offline_times, threading.Event())
    offline.advance_to(t0 + 1.0)

    realtime_times: list[float] = []
    done = threading.Event()
    realtime = RealtimeClock(TempoMap(bpm=240.0, t0=t0), lookahead=0.01)
    pattern(realtime, realtime_times, done)
    realtime.start()
    try:
        assert done.wait(3.0)
    finally:
        realtime.stop()
    assert realtime_times == offline_times
    assert len(offline_times) == 8


def test_realtime_clock_fires_ahead_by_its_lookahead() -> None:
    t0 = time.time() + 0.05
    clock = RealtimeClock(TempoMap(bpm=120.0, t0=t0), lookahead=0.02)
    fired: list[float] = []
    done = threading.Event()
    clock.schedule(0.0, lambda b, t: (fired.append(time.time() - t), done.set()))
    clock.start()
    try:
        assert done.wait(2.0)
    finally:
        clock.stop()
    # called before the beat sounds (about 20 ms before; the exact figure is a benchmark)
    assert fired[0] < 0.0
