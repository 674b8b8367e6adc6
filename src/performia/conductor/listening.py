"""The conductor's ears: the server's analysis replies → the follower (chords, key, tempo,
what the agents read), the listening mode (set by the pedal through the control port), and
the reactive answer: a strong accent on the guitar answered at once, not on the next
sixteenth.

Replies arrive on the conductor's server socket (it sent /notify 1), on that socket's
receive thread, which runs at the conductor's real-time priority and never blocks on
anything but the socket. It answers accents itself and only hands the analysis readings to
the ears' own thread (a queue; SCHED_FIFO 1, below the receive thread), where the chord
recogniser's numerical work (an NNLS per spectrum frame, ~0.5 ms) can never hold up an
answer in the socket."""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from performia.config import Config
from performia.events.note import NoteEvent
from performia.events.ring import RingWriter
from performia.listen import readings
from performia.listen.chroma_worker import ChromaWorker
from performia.listen.follower import Follower, FollowerSettings
from performia.listen.frontend import CHORD_SPECTRUM, ONSET_BANDS
from performia.processes import set_background_realtime
from performia.server.osc import OscClient
from performia.state.book import StateBook
from performia.state.context import HarmonicContext, Listening
from performia.state.evidence import ChordEvidence
from performia.state.tempo import FollowSettings, GuitarBeat
from performia.theory import Chord, Key
from performia.timing.tempo import TempoMap

log = logging.getLogger(__name__)

NO_CHORD = "N"                           # the follower's label for "no chord heard"
FOLLOWING_MODES = ("listen", "follow")   # modes in which the band plays the chord it hears
FRAME_ADDRESSES = (CHORD_SPECTRUM.address, ONSET_BANDS.address)   # read by the fast path
HEAR_EVERY = 0.03        # s: the ears wake at most this often while readings stream (_hear)


class Ears:
    def __init__(self, config: Config, server: OscClient, harmony: HarmonicContext,
                 listening: Listening, tempo: Callable[[], TempoMap],
                 log_event: Callable[[dict[str, Any]], None] | None = None,
                 answers: RingWriter | None = None, initial_mode: str = "follow",
                 book: StateBook | None = None) -> None:
        self.config = config
        self.server = server
        self.book = book
        self.harmony = harmony
        self.listening = listening
        self.answers = answers
        self.answered = 0
        self._log_event = log_event
        self._answer_lock = threading.Lock()
        if book is not None and book.follow is None:    # the band follows the guitarist
            book.follow = FollowSettings.from_config(config.timing)
        self.chroma = ChromaWorker()      # the numerical work away from our interpreter lock
        self.follower = Follower(harmony, listening,
                                 bar_at=lambda t: tempo().beat_at(t) / tempo().beats_per_bar,
                                 settings=FollowerSettings.in_meter(config.timing.beats_per_bar),
                                 on_event=self._on_event, chroma=self.chroma)
        if book is not None:
            share_scores(self.follower, book)
            if book.follow is not None:
                expect_counted_in(self.follower, book.follow, config.timing.tempo)
        self.onsets: list[float] = []
        self.dropped_readings = 0
        self.heard_readings = 0
        self.cpu_seconds = 0.0              # CPU time of the ears' thread (time.thread_time)
        self._first_reading = self._last_reading = 0.0   # monotonic times of the readings
        self._receive_cpu = 0.0     # the receive thread's CPU time at the first reading
        self._readings: queue.SimpleQueue[tuple[str, list[Any], float] | None] = \
            queue.SimpleQueue()
        self._worker = threading.Thread(target=self._hear, name="ears", daemon=True)
        self._worker.start()
        self.set_mode(initial_mode)
        for address in readings.ADDRESSES:
            server.on(address, self._on_reading)
        for spectrum in (CHORD_SPECTRUM, ONSET_BANDS):
            server.on_frame(spectrum.address, spectrum.bins, self._on_frame(spectrum.address))
        server.on("/accent", self._on_accent)

    def close(self) -> None:
        """Stop the ears' thread (after the readings already queued) and say what it cost."""
        self._readings.put(None)
        self._worker.join(timeout=2.0)
        chroma = self.chroma.cpu_seconds() - self.chroma.startup_cpu
        self.chroma.close()
        receive = self.server.receive_cpu_seconds() - self._receive_cpu
        seconds = self._last_reading - self._first_reading
        if seconds > 0:
            log.info("the ears: %d readings, %.2f s of CPU in %.1f s (%.1f %% of one core; "
                     "+ %.1f %% in the chroma worker, after its start-up: %.2f s of CPU; "
                     "+ %.1f %% in the server socket's receive thread, which parses the "
                     "replies and answers the accents) from the first reading to the last, "
                     "%d dropped", self.heard_readings, self.cpu_seconds, seconds,
                     100.0 * self.cpu_seconds / seconds, 100.0 * chroma / seconds,
                     self.chroma.startup_cpu, 100.0 * receive / seconds, self.dropped_readings)

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
        """On the receive thread: stamp the arrival time and hand over, nothing more."""
        self._readings.put((address, args, time.time()))

    def _on_frame(self, address: str) -> Callable[[int, int, Any], None]:
        def hand_over(node: int, reply_id: int, values: Any) -> None:
            self._readings.put((address, [node, reply_id, values], time.time()))
        return hand_over

    def _hear(self) -> None:
        """Readings in batches: the first one after a pause wakes the ears, which then take
        whatever has come, and sleep until `HEAR_EVERY` after that wake-up; the readings of
        that time are taken at the next. On this VM a thread's wake-up is what costs (its
        first ~0.3 ms run cold: measured 17 µs to read a frame hot, 260 µs after a wake-up),
        so one wake-up per 30 ms instead of one per reading (134 a second) takes a third
        off the ears' CPU (6.5 → 4.3 % of a core); the readings keep their arrival times,
        so onsets and beats are placed as exactly as before, and a chord is heard at most
        30 ms later."""
        set_background_realtime("the ears")
        while (item := self._readings.get()) is not None:
            woke = time.monotonic()
            if not self._take_all(item):
                return
            time.sleep(max(0.0, woke + HEAR_EVERY - time.monotonic()))

    def _take_all(self, item: tuple[str, list[Any], float]) -> bool:
        """`item` and every reading queued behind it; False when told to stop."""
        while True:
            self._take(*item)
            try:
                next_item = self._readings.get_nowait()
            except queue.Empty:
                return True
            if next_item is None:
                return False
            item = next_item

    def _take(self, address: str, args: list[Any], arrived: float) -> None:
        self._last_reading = time.monotonic()
        if not self._first_reading:
            self._first_reading = self._last_reading
            self._receive_cpu = self.server.receive_cpu_seconds()
        try:
            reading = (readings.frame(address, args[0], args[1], args[2], arrived)
                       if len(args) == 3 and address in FRAME_ADDRESSES
                       else readings.parse(address, args, arrived))
        except ValueError as error:
            self.dropped_readings += 1
            log.warning("analysis reply dropped: %s", error)
            return
        try:
            self.follower.handle(reading)
        except Exception:
            self.dropped_readings += 1
            log.exception("the ears failed on a %s reading: skipped", address)
        if self.book is not None:
            tell_beat(self.book, self.follower)
        # follow the heard chord while the guitar plays; when it stops, the progression
        self.harmony.following = (self.listening.mode in FOLLOWING_MODES
                                  and self.listening.playing)
        self.heard_readings += 1
        self.cpu_seconds = time.thread_time()

    def _on_event(self, event: dict[str, Any]) -> None:
        if event.get("kind") == "onset":
            self.onsets = (self.onsets + [float(event["t"])])[-16:]
        if self.book is not None:
            tell_book(self.book, event)
        if self._log_event is not None:
            self._log_event(event)


def taken_at(arrivals: Sequence[float], every: float = HEAR_EVERY) -> list[float]:
    """When the ears take each reading (`Ears._hear`), from the readings' arrival times in
    order: a reading that comes while they wait wakes them (taken on arrival); one that
    comes while they sleep is taken when they wake, `every` after their last wake-up. The
    offline render hands the follower its readings at these times, as live."""
    taken: list[float] = []
    woke = -math.inf
    for arrival in arrivals:
        if arrival > woke + every:          # they were waiting: this reading wakes them
            woke = arrival
        elif arrival > woke:                # they were asleep: taken at their next wake-up
            woke += every
        taken.append(woke)
    return taken


def share_scores(follower: Follower, book: StateBook) -> None:
    """The book decides the bars' chords from the ears' frame scores (state/evidence.py)."""
    book.evidence = ChordEvidence(follower.chords.chords)
    follower.on_scores = book.hear_scores


def expect_counted_in(follower: Follower, follow: FollowSettings, bpm: float) -> None:
    """A band that counts the guitarist in expects the tempo it counted."""
    if follow.come_in == "count_in":
        follower.expect_tempo(bpm)


def tell_beat(book: StateBook, follower: Follower) -> None:
    """Hand the beat tracker's belief to the state book (when it changed)."""
    state = follower.rhythm.state
    known = book.beat
    if known is not None and known.time == state.time:
        return
    beats = follower.rhythm.tracker.beats
    book.hear_beat(GuitarBeat(time=state.time, period=state.period,
                              next_beat=state.next_beat, confidence=state.confidence,
                              last_beat=beats[-1] if beats else None,
                              beat_in_bar=state.beat_in_bar, beats=len(beats),
                              downbeat_confidence=state.downbeat_confidence,
                              started=follower.rhythm.tracker.first_onset,
                              tempo_changed=follower.rhythm.tracker.tempo_changed))


def tell_book(book: StateBook, event: dict[str, Any]) -> None:
    """Hand what the follower heard to the state book (repeating a chord is a no-op there,
    so the follower may later tell the book itself without doubling anything)."""
    kind = event.get("kind")
    if kind == "chord":
        since = event.get("since")
        dated = None if since is None else float(since)
        if event["chord"] == NO_CHORD:          # the band keeps the last chord
            book.hear_no_chord(float(event["t"]), dated)
        else:
            book.hear_chord(Chord.parse(str(event["chord"])), float(event["t"]), dated)
    elif kind == "key":
        book.hear_key(Key.parse(str(event["key"])))
    elif kind == "tempo":
        book.hear_tempo(float(event["bpm"]), 1.0, float(event["t"]))
