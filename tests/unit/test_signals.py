"""Signals handled on a thread of their own (performia/signals.py)."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from performia.signals import SignalWatcher


def test_a_signal_while_the_main_thread_holds_the_events_lock_does_not_hang_it() -> None:
    """The conductor's old handler set its stop event from the handler: a signal arriving
    while the main thread was inside that event's lock (in `Event.wait`) waited for that lock
    for good. The watcher's handler takes no lock."""
    stop = threading.Event()
    watcher = SignalWatcher({signal.SIGUSR2: stop.set})
    try:
        with stop._cond:                        # as inside Event.wait / Event.set
            os.kill(os.getpid(), signal.SIGUSR2)
            for _ in range(1000):               # the handler runs between these bytecodes
                pass
            assert not stop.is_set()            # the callback waits for its own thread
        assert stop.wait(2.0)
    finally:
        watcher.close()
    assert signal.getsignal(signal.SIGUSR2) is signal.SIG_DFL    # the old handler back


def test_a_burst_of_signals_is_handled_without_hanging_the_main_thread() -> None:
    """The kernel and Python may merge signals that arrive together: at least one callback
    runs, at most one per signal, and the main thread is never held up."""
    seen: list[int] = []
    first = threading.Event()

    def count() -> None:
        seen.append(1)
        first.set()

    watcher = SignalWatcher({signal.SIGUSR2: count})
    try:
        for _ in range(200):
            os.kill(os.getpid(), signal.SIGUSR2)
        assert first.wait(5.0)
    finally:
        watcher.close()
    assert 1 <= len(seen) <= 200


def test_a_failing_callback_is_logged_and_the_next_signal_still_handled(
        caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []
    handled = threading.Event()

    def fails_once() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a callback that fails")
        handled.set()

    watcher = SignalWatcher({signal.SIGUSR2: fails_once})
    try:
        os.kill(os.getpid(), signal.SIGUSR2)
        for _ in range(1000):
            pass
        os.kill(os.getpid(), signal.SIGUSR2)
        assert handled.wait(2.0)
    finally:
        watcher.close()
    assert "handling SIGUSR2 failed" in caplog.text
