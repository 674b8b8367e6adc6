"""Is the guitar sounding? A gate relative to the noise floor it tracks, not an absolute level,
so a guitar at −30 dBFS is heard like one at −6, and hum or hiss alone keeps it closed.

The floor is the quietest frame energy of the last `memory` seconds (the room, the hum, the
amp's hiss), but never more than `max_below_peak` dB under the loudest recent frame: a guitar
that rings without a pause for longer than `memory` does not become its own floor. The gate
opens `open_db` above the floor and closes after `release` s below it.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class GateSettings:
    open_db: float = 9.0          # dB above the floor that opens the gate
    memory: float = 10.0          # s over which the floor is the quietest frame
    max_below_peak: float = 35.0  # dB: the floor stays at least this far under the recent peak
    peak_memory: float = 10.0     # s over which the recent peak is the loudest frame
    release: float = 0.5          # s below the threshold before the gate closes
    # Energy (sum of the squared magnitudes of a CHORD_SPECTRUM frame) below which nothing is
    # heard: white noise of RMS 4.5e-4 (−67 dBFS); a sine peaking at −30 dBFS gives ~2.5e4.
    absolute_floor: float = 1.0


class NoiseGate:
    """Frame energies in (with their times), open/closed out."""

    def __init__(self, settings: GateSettings | None = None) -> None:
        self.settings = settings or GateSettings()
        self._quiet: deque[tuple[float, float]] = deque()   # (time, energy), rising energies
        self._loud: deque[tuple[float, float]] = deque()    # (time, energy), falling energies
        self._last_open = -math.inf
        self.is_open = False

    @property
    def floor(self) -> float:
        s = self.settings
        quiet = self._quiet[0][1] if self._quiet else s.absolute_floor
        if self._loud:
            quiet = min(quiet, self._loud[0][1] * 10 ** (-s.max_below_peak / 10))
        return max(quiet, s.absolute_floor)

    def update(self, time: float, energy: float) -> bool:
        s = self.settings
        if energy > s.absolute_floor:        # digital silence says nothing about the room
            _push_min(self._quiet, time, energy, s.memory)
            _push_max(self._loud, time, energy, s.peak_memory)
        threshold = self.floor * 10 ** (s.open_db / 10)
        if energy > threshold and energy > s.absolute_floor:
            self._last_open = time
        self.is_open = time - self._last_open <= s.release
        return self.is_open


def _push_min(window: deque[tuple[float, float]], time: float, value: float,
              memory: float) -> None:
    """A sliding-window minimum: the front is the smallest value of the last `memory` s."""
    while window and window[-1][1] >= value:
        window.pop()
    window.append((time, value))
    while window[0][0] < time - memory:
        window.popleft()


def _push_max(window: deque[tuple[float, float]], time: float, value: float,
              memory: float) -> None:
    while window and window[-1][1] <= value:
        window.pop()
    window.append((time, value))
    while window[0][0] < time - memory:
        window.popleft()
