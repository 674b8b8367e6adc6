"""Signals handled on a thread of their own, never inside a lock a handler could re-enter.

Python runs a signal handler in the main thread between two bytecodes, wherever that thread
is: possibly inside `threading.Event.set` or `Event.wait`, holding the event's lock. A handler
that sets an event there waits for a lock its own thread holds: the process hangs for good.
Measured: a conductor whose manager was killed got its parent-death SIGTERM and two more
signals within a moment, and hung in `Event.set` inside `Event.set` (it outlived the test
that killed its manager by 23 minutes).

So the handler here only writes the signal's number into a pipe (a system call: no lock),
and a thread of its own reads the pipe and runs the callback.

    watcher = SignalWatcher({signal.SIGTERM: stop.set, signal.SIGINT: stop.set})
    stop.wait()
    watcher.close()
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Mapping
from types import FrameType

log = logging.getLogger(__name__)


class SignalWatcher:
    """Installs a handler for each signal of `callbacks` (from the main thread); the callback
    runs on the watcher's thread, once per signal received (signals received while the pipe
    is full, 64 KiB of them, are counted once)."""

    def __init__(self, callbacks: Mapping[signal.Signals, Callable[[], None]],
                 name: str = "signals") -> None:
        self._callbacks = dict(callbacks)
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)
        self._previous = {sig: signal.signal(sig, self._on_signal) for sig in self._callbacks}
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        try:
            os.write(self._write, bytes([signum]))
        except BlockingIOError:
            pass              # the pipe is full: the watcher has this signal still to read

    def _run(self) -> None:
        while True:
            try:
                received = os.read(self._read, 256)
            except OSError:
                return          # closed under it by `close` after its join timed out
            if not received:
                return                                  # closed: no more signals
            for signum in received:
                callback = self._callbacks.get(signal.Signals(signum))
                if callback is None:
                    continue
                try:
                    callback()
                except Exception:
                    log.exception("handling %s failed", signal.Signals(signum).name)

    def close(self) -> None:
        """The handlers replaced are put back (from the main thread) and the thread ends."""
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        os.close(self._write)
        self._thread.join(timeout=1.0)
        os.close(self._read)
