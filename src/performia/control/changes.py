"""Changes on their way from the control port to the band loop, and when each is due.

The control port's thread validates a command and turns it into a `Change`: a pure
function from one `BandSettings` to the next, and the moment it is due (`When`). It puts
the change in the `Inbox` (a lock-free queue: `put` never blocks). The band loop, at every
step, takes what arrived (`due`) and applies the changes that are due at this step; the
others wait in a list that only the band loop's thread touches.
"""

from __future__ import annotations

import enum
import queue
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from performia.control.settings import BandSettings

EPSILON = 1e-9


class When(enum.Enum):
    """When a change takes effect, counted on the band's grid (docs/OSC_API.md)."""

    NOW = "now"      # the next sixteenth the band decides (≤ one sixteenth + the lookahead)
    BEAT = "beat"    # the next beat (a step on a whole beat)
    BAR = "bar"      # the next bar line


@dataclass(frozen=True, slots=True)
class Change:
    what: str                                     # "tempo", "pattern drums/kick", ...
    when: When
    apply: Callable[[BandSettings], BandSettings]
    value: Any = None                             # shown in --events and notifications
    sender: str = ""
    extra: dict[str, Any] = field(default_factory=dict)   # e.g. the mode of a session


def is_due(when: When, beat: float, beats_per_bar: int) -> bool:
    if when is When.NOW:
        return True
    on_beat = abs(beat - round(beat)) < EPSILON
    if when is When.BEAT:
        return on_beat
    return on_beat and round(beat) % beats_per_bar == 0


class Inbox:
    """Any thread puts; the band loop alone takes (`due`)."""

    def __init__(self) -> None:
        self._arrived: queue.SimpleQueue[Change] = queue.SimpleQueue()
        self._waiting: list[Change] = []      # band loop only
        self.received = 0

    def put(self, change: Change) -> None:
        self.received += 1
        self._arrived.put(change)

    def due(self, beat: float, beats_per_bar: int) -> list[Change]:
        """The changes due at the step at `beat`, in the order they arrived."""
        while True:
            try:
                self._waiting.append(self._arrived.get_nowait())
            except queue.Empty:
                break
        if not self._waiting:
            return []
        due = [c for c in self._waiting if is_due(c.when, beat, beats_per_bar)]
        if due:
            self._waiting = [c for c in self._waiting if not is_due(c.when, beat,
                                                                      beats_per_bar)]
        return due

    @property
    def waiting(self) -> int:
        return len(self._waiting) + self._arrived.qsize()
