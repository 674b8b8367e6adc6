"""The tempo clock: a `TempoMap` plus a schedule of callbacks by beat.

`RealtimeClock` runs callbacks on its own thread a lookahead before their beat sounds;
`OfflineClock` runs the same callbacks in virtual time (rendering, deterministic tests).
A callback is called as `callback(beat, time)` where `time` is the exact second the beat
sounds; a callback that raises is logged with its traceback and dropped, the clock goes on.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time as systime
from collections.abc import Callable
from dataclasses import dataclass, field

from performia.timing.tempo import Position, TempoMap

log = logging.getLogger(__name__)

Callback = Callable[[float, float], None]


@dataclass(order=True)
class _Entry:
    beat: float
    order: int
    callback: Callback = field(compare=False)
    cancelled: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class Handle:
    """What `schedule` returns; pass it to `cancel`."""

    entry: _Entry


class Clock:
    """Scheduling shared by the real-time and offline clocks."""

    def __init__(self, tempo: TempoMap, lookahead: float = 0.0) -> None:
        if lookahead < 0:
            raise ValueError(f"lookahead must be >= 0 seconds, got {lookahead}")
        self.tempo = tempo
        self.lookahead = lookahead
        self._queue: list[_Entry] = []
        self._order = itertools.count()
        self._lock = threading.RLock()

    # -- time ---------------------------------------------------------------
    def now(self) -> float:
        raise NotImplementedError

    def beat(self) -> float:
        return self.tempo.beat_at(self.now())

    def position(self) -> Position:
        return self.tempo.position(self.beat())

    def set_tempo(self, bpm: float, at_beat: float | None = None) -> None:
        """Change tempo at `at_beat` (default: now). Scheduled beats keep their beat."""
        with self._lock:
            beat = self.beat() if at_beat is None else at_beat
            self.tempo = self.tempo.with_tempo(bpm, beat)
            self._wake()

    def set_map(self, tempo: TempoMap) -> None:
        """Replace the whole tempo map (scheduled beats keep their beat). Only for a band
        that is not sounding yet: beats may move by more than a re-anchor would move them."""
        with self._lock:
            self.tempo = tempo
            self._wake()

    def skip(self, at_beat: float, beats: float) -> None:
        """From `at_beat` on, count `beats` more: the time of `at_beat` is now the time of
        `at_beat + beats` (the band drops those beats to be on the one again). Only at a
        step whose next step is not scheduled yet: an entry scheduled between the two would
        be due at once."""
        with self._lock:
            tempo = self.tempo
            self.tempo = TempoMap(bpm=tempo.bpm, t0=tempo.time_at(at_beat), b0=at_beat + beats,
                                  beats_per_bar=tempo.beats_per_bar)
            self._wake()

    # -- schedule -----------------------------------------------------------
    def schedule(self, beat: float, callback: Callback) -> Handle:
        entry = _Entry(beat, next(self._order), callback)
        with self._lock:
            heapq.heappush(self._queue, entry)
            self._wake()
        return Handle(entry)

    def cancel(self, handle: Handle) -> None:
        handle.entry.cancelled = True

    def _due_time(self, entry: _Entry) -> float:
        return self.tempo.time_at(entry.beat) - self.lookahead

    def _pop_due(self, until: float) -> _Entry | None:
        with self._lock:
            while self._queue and self._queue[0].cancelled:
                heapq.heappop(self._queue)
            if self._queue and self._due_time(self._queue[0]) <= until:
                return heapq.heappop(self._queue)
            return None

    def _next_due(self) -> float | None:
        with self._lock:
            while self._queue and self._queue[0].cancelled:
                heapq.heappop(self._queue)
            return self._due_time(self._queue[0]) if self._queue else None

    def _run(self, entry: _Entry) -> None:
        try:
            entry.callback(entry.beat, self.tempo.time_at(entry.beat))
        except Exception:
            log.exception("clock callback %r at beat %.3f raised; dropped, clock goes on",
                          entry.callback, entry.beat)

    def _wake(self) -> None:
        """Real-time clocks re-check their wait; offline clocks need nothing."""


class OfflineClock(Clock):
    """Virtual time: `advance_to(t)` runs every callback due by `t`, in beat order."""

    def __init__(self, tempo: TempoMap, lookahead: float = 0.0,
                 start: float | None = None) -> None:
        super().__init__(tempo, lookahead)
        self._now = tempo.t0 - lookahead if start is None else start

    def now(self) -> float:
        return self._now

    def advance_to(self, time: float) -> None:
        while (entry := self._pop_due(time)) is not None:
            self._now = max(self._now, self._due_time(entry))
            self._run(entry)
        self._now = max(self._now, time)

    def advance(self, seconds: float) -> None:
        self.advance_to(self._now + seconds)


class RealtimeClock(Clock):
    """Wall-clock time (`time.time()`, the OSC timetag base) on a dedicated thread."""

    def __init__(self, tempo: TempoMap, lookahead: float = 0.0,
                 now: Callable[[], float] = systime.time) -> None:
        super().__init__(tempo, lookahead)
        self._clock = now
        self._changed = threading.Condition(self._lock)
        self._stopping = False
        self._thread: threading.Thread | None = None

    def now(self) -> float:
        return self._clock()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="performia-clock", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=2.0)

    def _wake(self) -> None:
        self._changed.notify_all()

    def _loop(self) -> None:
        while True:
            with self._lock:
                if self._stopping:
                    return
                due = self._next_due()
                wait = None if due is None else due - self._clock()
                if wait is None or wait > 0:
                    self._changed.wait(timeout=wait)
                    continue
            while (entry := self._pop_due(self._clock())) is not None:
                self._run(entry)
