"""The render's chroma, computed ahead in a process of its own.

What the NNLS chroma makes of a /spectrum frame depends only on the frames before it (the
tuning it has learnt) and on the noise gate, which itself only hears the frames' energies:
not on anything the band does. So the render hands every frame of the take to a forked
process at once, which runs the follower's very `NoiseGate` and `NnlsChroma` over them in
order and sends the results back in batches, while the band decides on the first core and
the server synthesises; the follower then reads each frame's notes instead of computing
them (as live, where the conductor's ears read them from `chroma_worker`). About 0.9 s of
the 32-bar benchmark's 2 s of decisions moves off the band's path (docs/PERFORMANCE.md).

Each result carries the gate's verdict; the follower's own gate must agree with it frame by
frame, or the render stops with an error (a divergence would be a bug, never a different
sound). Frames are identified by their order.
"""

from __future__ import annotations

import multiprocessing
import signal
import time as cputime
from collections import deque
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import numpy.typing as npt

from performia.listen.chroma import ChromaSettings, NnlsChroma, NoteFrame
from performia.listen.gate import GateSettings, NoiseGate

BATCH = 32               # frames per message from the worker


class ChromaAheadError(RuntimeError):
    """The chroma computed ahead does not match what the follower hears (a bug)."""


def _compute(times: npt.NDArray[np.float64], spectra: npt.NDArray[np.float64],
             gate_settings: GateSettings, chroma_settings: ChromaSettings,
             out: Connection) -> None:
    """The worker: the follower's gate and chroma over every frame, in order; then its CPU
    seconds. Ctrl-C is the render's to handle (it ends the worker), SIGTERM ends it whatever
    handler the render's process had."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    started = cputime.process_time()
    gate = NoiseGate(gate_settings)
    chroma = NnlsChroma(chroma_settings)
    batch: list[tuple[bool, NoteFrame, float]] = []
    try:
        for time, magnitudes in zip(times, spectra, strict=True):
            loud = gate.update(float(time), float(np.dot(magnitudes, magnitudes)))
            batch.append((loud, chroma.frame(magnitudes, loud), chroma.tuning))
            if len(batch) == BATCH:
                out.send(batch)
                batch = []
        out.send(batch)
        out.send(cputime.process_time() - started)
    except (BrokenPipeError, EOFError):       # the render stopped: nothing left to do
        return
    finally:
        out.close()


class ChromaAhead:
    """`frame(magnitudes, loud)` and `tuning` as `NnlsChroma` has them, answered from the
    worker's results (frames in the order they were given to `start`)."""

    def __init__(self, connection: Connection, process: Any, count: int) -> None:
        self._connection = connection
        self._process = process
        self._ready: deque[tuple[bool, NoteFrame, float]] = deque()
        self._left = count
        self._tuning = 0.0
        self.cpu_seconds = 0.0          # the worker's, once `finish` has read it

    @property
    def tuning(self) -> float:
        """The tuning the chroma had learnt by the last frame read."""
        return self._tuning

    @classmethod
    def start(cls, times: Sequence[float], spectra: Sequence[npt.ArrayLike],
              gate: GateSettings, chroma: ChromaSettings) -> ChromaAhead:
        context = multiprocessing.get_context("fork")     # the package is already imported
        receive, send = context.Pipe(duplex=False)
        magnitudes = np.asarray(spectra, dtype=np.float64).reshape(len(times), -1)
        process = context.Process(target=_compute, name="render-chroma", daemon=True,
                                  args=(np.asarray(times, dtype=np.float64), magnitudes,
                                        gate, chroma, send))
        process.start()
        send.close()
        return cls(receive, process, len(times))

    def frame(self, magnitudes: npt.ArrayLike, loud: bool = True) -> NoteFrame:
        if not self._ready:
            if self._left <= 0:
                raise ChromaAheadError("the follower heard more spectrum frames than the take has")
            try:
                self._ready.extend(self._connection.recv())
            except EOFError:
                raise ChromaAheadError("the chroma worker ended early (exit status "
                                       f"{self._process.exitcode})") from None
        ahead, frame, self._tuning = self._ready.popleft()
        self._left -= 1
        if ahead != loud:
            raise ChromaAheadError("the chroma worker's gate disagrees with the follower's")
        return frame

    def finish(self) -> None:
        """After the band's last decision: the worker's CPU seconds (it ends on its own
        once every frame is computed)."""
        try:
            while self._connection.poll(5.0):
                last = self._connection.recv()
                if isinstance(last, float):
                    self.cpu_seconds = last
                    break
        except EOFError:
            self.cpu_seconds = 0.0           # it ended without its figure (reported as 0)
        self.close()

    def close(self) -> None:
        """End the worker now (only the process started here): SIGTERM, then SIGKILL."""
        self._connection.close()
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=2.0)
        if self._process.is_alive():
            self._process.kill()
        self._process.join(timeout=2.0)
