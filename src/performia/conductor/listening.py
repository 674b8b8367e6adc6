"""The conductor's ears: the server's analysis replies → the follower (chords, key, tempo,
what the agents read), the listening mode (set by the pedal through the control port), and
the reactive answer: a strong accent on the guitar answered at once, not on the next
sixteenth.

Replies arrive on the conductor's server socket (it sent /notify 1), on that socket's
receive thread, which runs at the conductor's real-time priority and never blocks on
anything but the socket."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from performia.band.agent import HarmonicContext, Listening
from performia.config import Config
from performia.events.note import NoteEvent
from performia.events.ring import RingWriter
from performia.listen import readings
from performia.listen.follower import Follower
from performia.server.osc import OscClient
from performia.timing.tempo import TempoMap

log = logging.getLogger(__name__)

FOLLOWING_MODES = ("listen", "follow")   # modes in which the band plays the chord it hears


class Ears:
    def __init__(self, config: Config, server: OscClient, harmony: HarmonicContext,
                 listening: Listening, tempo: Callable[[], TempoMap],
                 log_event: Callable[[dict[str, Any]], None] | None = None,
                 answers: RingWriter | None = None, initial_mode: str = "follow") -> None:
        self.config = config
        self.harmony = harmony
        self.listening = listening
        self.answers = answers
        self.answered = 0
        self._log_event = log_event
        self._answer_lock = threading.Lock()
        self.follower = Follower(harmony, listening,
                                 bar_at=lambda t: tempo().beat_at(t) / tempo().beats_per_bar,
                                 on_event=self._on_event)
        self.onsets: list[float] = []
        self.set_mode(initial_mode)
        for address in readings.ADDRESSES:
            server.on(address, self._on_reading)
        server.on("/accent", self._on_accent)

    def set_mode(self, mode: str) -> None:
        self.follower.set_mode(mode, time.time())
        self.harmony.following = mode in FOLLOWING_MODES and self.listening.playing
        log.info("listening mode: %s", mode)

    def _on_accent(self, _address: str, args: list[Any]) -> None:
        """Answer now: one reactive hit, into our own ring (this thread is its one writer)."""
        if self.answers is None or len(args) < 3:
            return
        amp = float(args[2])
        event = NoteEvent.make(time.time(), "drums", "answer", 76, min(1.0, 0.4 + amp),
                               reactive=True)
        with self._answer_lock:
            if self.answers.write(event):
                self.answered += 1

    def _on_reading(self, address: str, args: list[Any]) -> None:
        try:
            reading = readings.parse(address, args, time.time())
        except ValueError as error:
            log.warning("analysis reply dropped: %s", error)
            return
        self.follower.handle(reading)
        # follow the heard chord while the guitar plays; when it stops, the progression
        self.harmony.following = (self.listening.mode in FOLLOWING_MODES
                                  and self.listening.playing)

    def _on_event(self, event: dict[str, Any]) -> None:
        if event.get("kind") == "onset":
            self.onsets = (self.onsets + [float(event["t"])])[-16:]
        if self._log_event is not None:
            self._log_event(event)
