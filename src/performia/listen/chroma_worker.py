"""The NNLS chroma in a process of its own, for the conductor.

The conductor is a real-time Python process: its band loop and its accent answers wait for
the interpreter lock. The chroma's numerical work (~0.5–2 ms a /spectrum frame) holds that
lock, and a thread doing numpy work in bursts keeps re-taking it before a waiting thread can
(measured: a thread sleeping 1 ms woke 58–134 ms late at p99 beside back-to-back NNLS, in
both scipy's and a pure-numpy version; docs/LISTENING.md). So the conductor's ears send each
frame's magnitudes through a pipe to this worker and wait for the notes: while they wait,
the lock is free. The worker runs at normal priority; the band never waits for it (only the
ears' thread does, and readings queue up meanwhile). Results are the very `NnlsChroma`'s:
the worker owns the one instance (its tuning memory included), frames are handled in order.

If the worker cannot be started or dies, the ears carry on with an `NnlsChroma` of their own
(one error line): the chords are still heard, only the real-time margin is smaller.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import numpy.typing as npt
import psutil

from performia.listen.chroma import ChromaSettings, NnlsChroma, NoteFrame
from performia.processes import set_low_priority

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Request:
    magnitudes: npt.NDArray[np.float64]
    loud: bool


@contextmanager
def _children_not_realtime() -> Iterator[None]:
    """Processes started meanwhile begin at normal priority (SCHED_RESET_ON_FORK), not at
    the conductor's SCHED_FIFO: the worker's start-up (imports, ~1 s of CPU) must not
    compete with the band at real-time priority."""
    policy = os.sched_getscheduler(0)
    param = os.sched_getparam(0)
    changed = False
    if policy in (os.SCHED_FIFO, os.SCHED_RR):
        try:
            os.sched_setscheduler(0, policy | os.SCHED_RESET_ON_FORK, param)
            changed = True
        except OSError as error:
            log.debug("cannot start the chroma worker at normal priority: %s", error)
    try:
        yield
    finally:
        if changed:
            os.sched_setscheduler(0, policy, param)


def serve(connection: Connection, settings: ChromaSettings) -> None:
    """The worker: frames in, note frames and the tuning out, until the pipe closes."""
    set_low_priority("the chroma worker", niceness=5)
    # Ctrl-C and a stop's SIGTERM reach the conductor's whole process group: the worker
    # ends when the ears close the pipe (or the conductor dies and the pipe closes), so the
    # ears never lose their chroma in the middle of a stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    chroma = NnlsChroma(settings)
    connection.send("ready")
    while True:
        try:
            request = connection.recv()
        except EOFError:
            return
        if request is None:
            return
        frame = chroma.frame(request.magnitudes, request.loud)
        connection.send((frame, chroma.tuning))


class ChromaWorker:
    """Same interface as `NnlsChroma` (`frame`, `tuning`), the work done in another
    process."""

    def __init__(self, settings: ChromaSettings | None = None) -> None:
        self.settings = settings or ChromaSettings()
        self.tuning = 0.0
        self.startup_cpu = 0.0      # s of CPU the worker spent starting (imports, set-up)
        self._local: NnlsChroma | None = None
        context = multiprocessing.get_context("spawn")      # never fork a real-time process
        self._connection, child = context.Pipe()
        self._process: Any = context.Process(target=serve, args=(child, self.settings),
                                             name="performia-chroma", daemon=True)
        try:
            with _children_not_realtime():
                self._process.start()
        except OSError as error:
            self._fall_back(f"the chroma worker could not start: {error}")
        child.close()

    def frame(self, magnitudes: npt.ArrayLike, loud: bool = True) -> NoteFrame:
        if self._local is not None:
            frame = self._local.frame(magnitudes, loud)
            self.tuning = self._local.tuning
            return frame
        try:
            self._connection.send(_Request(np.asarray(magnitudes, dtype=np.float64), loud))
            reply = self._connection.recv()
            while reply == "ready":
                self.startup_cpu = self.cpu_seconds()     # ~ what it took to start
                reply = self._connection.recv()
        except (EOFError, OSError) as error:
            self._fall_back(f"the chroma worker is gone ({error or 'closed'})")
            return self.frame(magnitudes, loud)
        frame, self.tuning = reply
        if not isinstance(frame, NoteFrame):
            raise TypeError(f"the chroma worker answered {type(frame).__name__}")
        return frame

    def cpu_seconds(self) -> float:
        """CPU time the worker has used so far, its start-up included (0 when it is not
        running)."""
        try:
            times = psutil.Process(self._process.pid).cpu_times()
        except (psutil.Error, TypeError, ValueError):
            return 0.0
        return float(times.user + times.system)

    def close(self) -> None:
        try:
            self._connection.send(None)
        except OSError:
            pass                            # already gone: nothing to tell it
        self._process.join(timeout=2.0)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=1.0)
        self._connection.close()

    def _fall_back(self, why: str) -> None:
        log.error("%s: the ears compute the chroma themselves from now on", why)
        self._local = NnlsChroma(self.settings)
