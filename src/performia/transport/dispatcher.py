"""The dispatcher: drains the agents' rings and sends each note to supernova as an OSC
bundle timetagged at the note's time, into its instrument's ParGroup.

A sustained note gets its release bundle (`/n_set <id> gate 0`, timetagged at its end) sent
together with its start, so the server holds both: no note can hang, even if the agent or
the dispatcher dies a moment later. When an agent's process dies, its sounding notes are
released at once. Reactive notes (answers to the guitar) are sent immediately.

A note read from a ring more than STALE_AFTER after its time (the conductor or this process
was held up: a stalled VM, a process stopped and continued) is dropped and counted
(`too_late`), not sent: supernova would play every such note at once on arrival, a burst of
a second's drums in one moment. The notes after it are in time again. Releases are never
dropped.
"""

from __future__ import annotations

import itertools
import logging
import select
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from performia.events.note import FLAG_REACTIVE, NoteEvent, NoteKind
from performia.events.ring import RingReader
from performia.processes import pid_alive
from performia.server.osc import Message, encode_bundle, local_socket
from performia.transport.guard import TOO_LATE, Rejects
from performia.transport.voices import (
    MAX_NOTE_SECONDS,
    MIN_NOTE_SECONDS,
    ROUTES,
    midi_to_hz,
)

log = logging.getLogger(__name__)

FIRST_NODE_ID = 100_000
WRITER_CHECK_SECONDS = 0.1
STALE_AFTER = 0.1     # s after its time: a ring note this late is dropped, not heaped


@dataclass
class Sounding:
    """A sustained note the server is playing: its node and when it ends."""

    node: int
    ends: float


@dataclass
class DispatchStats:
    sent: int = 0
    reactive: int = 0
    released_early: int = 0
    rejects: Rejects = field(default_factory=lambda: Rejects("dispatcher"))

    @property
    def bad_events(self) -> int:
        """Events refused (ring records that are no playable note, unencodable events)."""
        return self.rejects.total


@dataclass
class Source:
    """One agent's ring and the notes it has sounding."""

    name: str
    reader: RingReader | None = None     # None for notes arriving by OSC
    sounding: dict[int, Sounding] = field(default_factory=dict)
    writer_pid: int = 0      # the live writer we know of
    gone_pid: int = 0        # the last writer we saw die (its pid stays in the segment)
    refused_seen: dict[str, int] = field(default_factory=dict)   # reader.refused, counted


class Dispatcher:
    """Turns note events into bundles for the server at `server` (host, port). Its socket
    is bound to `bind` (by default the loopback address when the server is local)."""

    def __init__(self, server: tuple[str, int], *, sink: Callable[[NoteEvent], None] | None = None,
                 extra_latency: float = 0.0, bind: str | None = None) -> None:
        self.server = server
        self.sock: socket.socket = local_socket(server[0], bind)
        self.sources: list[Source] = []
        self.stats = DispatchStats()
        self.extra_latency = extra_latency
        self.sink = sink
        self._node_ids = itertools.count(FIRST_NODE_ID)
        self._stopping = False

    def add_ring(self, name: str, reader: RingReader) -> Source:
        source = Source(name, reader)
        self.sources.append(source)
        return source

    def add_source(self, name: str) -> Source:
        """A source without a ring (notes arriving by OSC): its notes are tracked too."""
        source = Source(name)
        self.sources.append(source)
        return source

    # -- one event ------------------------------------------------------------
    def send(self, event: NoteEvent, source: Source | None = None) -> None:
        """Send one event now (scheduled by its timetag, or immediately if reactive)."""
        try:
            datagrams = self._encode(event, source)
        except (IndexError, ValueError) as error:
            self.stats.rejects.refuse(getattr(error, "reason", "unplayable"),
                                      source.name if source else "?", error, event)
            return
        for datagram in datagrams:
            self.sock.sendto(datagram, self.server)
        self.stats.sent += 1
        if self.sink is not None:
            self.sink(event)

    def _encode(self, event: NoteEvent, source: Source | None) -> list[bytes]:
        """The datagrams for one event: its start bundle, and its release for a held note."""
        if event.kind == NoteKind.RELEASE:
            release = self._release_all(source, time.time())
            return [release] if release else []
        route = ROUTES[event.voice]
        reactive = bool(event.flags & FLAG_REACTIVE)
        when = None if reactive else event.time + self.extra_latency
        if reactive:
            self.stats.reactive += 1
        node = next(self._node_ids) if route.gated else -1
        start: Message = ("/s_new", [route.synthdef, node, 0, route.group, "out", route.bus,
                            "amp", float(event.velocity), "freq", midi_to_hz(event.pitch),
                            "param", float(event.param)])
        datagram = encode_bundle(when, [start])
        if not route.gated:
            return [datagram]
        length = min(max(event.duration, MIN_NOTE_SECONDS), MAX_NOTE_SECONDS)
        begins = time.time() if when is None else when
        if source is not None:
            source.sounding[node] = Sounding(node, begins + length)
        release = encode_bundle(begins + length, [("/n_set", [node, "gate", 0])])
        return [datagram, release]

    # -- sounding notes -------------------------------------------------------
    def _release_all(self, source: Source | None, now: float) -> bytes | None:
        """Release every sounding note of `source` now."""
        if source is None or not source.sounding:
            return None
        live = [s for s in source.sounding.values() if s.ends > now]
        source.sounding.clear()
        if not live:
            return None
        self.stats.released_early += len(live)
        return encode_bundle(None, [("/n_set", [s.node, "gate", 0]) for s in live])

    def release_source(self, source: Source) -> None:
        datagram = self._release_all(source, time.time())
        if datagram:
            # INFO: at the end of every performance; a crash is reported by the manager
            log.info("agent %s stopped: released its sounding notes", source.name)
            self.sock.sendto(datagram, self.server)

    def _forget_ended(self, now: float) -> None:
        for source in self.sources:
            ended = [n for n, s in source.sounding.items() if s.ends <= now]
            for node in ended:
                del source.sounding[node]

    def _check_writers(self) -> None:
        for source in self.sources:
            if source.reader is None:
                continue
            pid = source.reader.writer_pid
            if pid and pid not in (source.writer_pid, source.gone_pid):
                source.writer_pid = pid
            if source.writer_pid and not pid_alive(source.writer_pid):
                log.info("the writer of ring %s (pid %d) is gone", source.name,
                         source.writer_pid)
                source.gone_pid, source.writer_pid = source.writer_pid, 0
                self.release_source(source)

    # -- the loop -------------------------------------------------------------
    def drain(self) -> int:
        """Send everything waiting in every ring. Returns how many events were sent."""
        count = 0
        for source in self.sources:
            if source.reader is None:
                continue
            source.reader.clear_doorbell()
            for event in source.reader.read_all():
                # judged at the moment it would be sent: a second's notes caught up at once
                # take a while to send, and a note judged against the batch's first moment
                # could go out past STALE_AFTER and sound on the note after it
                late = self.lateness(event, time.time())
                if late > STALE_AFTER:
                    self.stats.rejects.refuse(TOO_LATE, f"ring {source.name}",
                                              f"{late * 1000:.0f} ms after its time: dropped, "
                                              "not played late (the band was held up)", event)
                    continue
                self.send(event, source)
                count += 1
            if source.reader.refused != source.refused_seen:
                self._count_refused(source, source.reader)
        return count

    def lateness(self, event: NoteEvent, now: float) -> float:
        """How long after its time `event` would sound if sent at `now` (≤ 0: in time);
        a release is never late."""
        if event.kind == NoteKind.RELEASE:
            return 0.0
        due = event.time if event.flags & FLAG_REACTIVE else event.time + self.extra_latency
        return now - due

    def _count_refused(self, source: Source, reader: RingReader) -> None:
        """Records the ring skipped (not a playable note: NaN, out of range): count, log."""
        for reason, total in reader.refused.items():
            new = total - source.refused_seen.get(reason, 0)
            if new:
                self.stats.rejects.refuse(reason, f"ring {source.name}", reader.last_refused,
                                          count=new)
        source.refused_seen = dict(reader.refused)

    def run(self, extra_fds: dict[int, Callable[[], None]] | None = None) -> None:
        """Wait on the rings' doorbells (and `extra_fds`), dispatch, until `stop()`."""
        extra = extra_fds or {}
        poller = select.poll()
        for source in self.sources:
            if source.reader is not None and source.reader.doorbell is not None:
                poller.register(source.reader.doorbell, select.POLLIN)
        for fd in extra:
            poller.register(fd, select.POLLIN)
        last_check = 0.0
        while not self._stopping:
            ready = poller.poll(WRITER_CHECK_SECONDS * 1000)
            for fd, _mask in ready:
                if fd in extra:
                    extra[fd]()
            self.drain()
            now = time.monotonic()
            if now - last_check >= WRITER_CHECK_SECONDS:
                last_check = now
                self._check_writers()
                self._forget_ended(time.time())
        for source in self.sources:
            self.release_source(source)

    def stop(self) -> None:
        self._stopping = True

    def close(self) -> None:
        self.sock.close()


