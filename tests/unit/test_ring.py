"""The shared-memory ring: one writer, one reader, in another process, nothing lost."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time

import pytest

from performia.events.note import RECORD_SIZE, NoteEvent, NoteKind
from performia.events.ring import RingError, RingReader, RingWriter, create_ring, make_doorbell
from performia.server.osc import decode
from performia.transport.dispatcher import STALE_AFTER, Dispatcher
from performia.transport.guard import TOO_LATE


def _name(tag: str) -> str:
    return f"performia_test_{os.getpid()}_{tag}"


def test_record_is_32_bytes_and_round_trips() -> None:
    event = NoteEvent.make(1234.5678, "bass", "bass", 40, 0.7, 0.25, param=0.3)
    assert RECORD_SIZE == 32
    back = NoteEvent.unpack(event.pack())
    assert (back.time, back.agent, back.voice, back.pitch) == (event.time, 1, 4, 40)
    # velocity, duration and param travel as 32-bit floats
    assert (back.velocity, back.duration, back.param) == pytest.approx((0.7, 0.25, 0.3))
    assert back.kind == NoteKind.NOTE and back.agent_name == "bass"
    with pytest.raises(ValueError, match="MIDI note"):
        NoteEvent.make(0.0, "bass", "bass", 200)
    with pytest.raises(ValueError, match="unknown voice"):
        NoteEvent.make(0.0, "drums", "cowbell")


def test_full_ring_refuses_and_counts_and_never_overwrites() -> None:
    shm = create_ring(_name("full"), capacity=4)
    try:
        writer, reader = RingWriter(shm), RingReader(shm)
        events = [NoteEvent.make(float(i), "drums", "kick") for i in range(6)]
        assert [writer.write(e) for e in events] == [True] * 4 + [False] * 2
        assert writer.dropped == 2 and reader.dropped == 2
        assert [e.time for e in reader.read_all()] == [0.0, 1.0, 2.0, 3.0]
        assert writer.write_many(events[4:]) == 2
        assert [e.time for e in reader.read_all()] == [4.0, 5.0]
        assert reader.read_all() == []
        writer.close()
        reader.close()
    finally:
        shm.close()
        shm.unlink()


def test_capacity_must_be_a_power_of_two() -> None:
    with pytest.raises(ValueError, match="power of two"):
        create_ring(_name("bad"), capacity=1000)


def test_a_foreign_segment_is_refused() -> None:
    from multiprocessing import shared_memory
    shm = shared_memory.SharedMemory(name=_name("foreign"), create=True, size=4096)
    try:
        with pytest.raises(RingError, match="not a Performia ring"):
            RingReader(shm)
    finally:
        shm.close()
        shm.unlink()


WRITER_SCRIPT = """
import sys, time
from performia.events.note import NoteEvent
from performia.events.ring import RingWriter, attach
name, doorbell, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
shm = attach(name)
writer = RingWriter(shm, doorbell=doorbell)
for i in range(count):
    event = NoteEvent.make(float(i), "drums", "hat", 42, (i % 100) / 100)
    while not writer.write(event):      # full: the reader is behind; try again
        time.sleep(0.0001)
writer.close()
shm.close()
"""


def test_a_reader_in_another_process_sees_every_event_in_order() -> None:
    count = 50_000
    name = _name("xproc")
    shm = create_ring(name, capacity=256)         # small: the writer fills it many times
    doorbell = make_doorbell()
    reader = RingReader(shm, doorbell)
    try:
        writer = subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT, name, str(doorbell),
                                   str(count)], pass_fds=[doorbell])
        seen: list[float] = []
        poller = select.poll()
        poller.register(doorbell, select.POLLIN)
        deadline = time.monotonic() + 60
        while len(seen) < count and time.monotonic() < deadline:
            poller.poll(100)                      # woken by the writer, no sleep-polling
            reader.clear_doorbell()
            seen += [e.time for e in reader.read_all()]
        assert writer.wait(10) == 0
        assert seen == [float(i) for i in range(count)]
        assert reader.writer_pid == writer.pid
    finally:
        reader.close()
        os.close(doorbell)
        shm.close()
        shm.unlink()


def test_notes_read_long_after_their_time_are_dropped_not_heaped() -> None:
    """After a hold-up (a stalled VM, a stopped process), the notes whose time has passed
    by more than STALE_AFTER are dropped and counted, not sent to sound all at once; the
    ones a little late, and releases, are sent."""
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(0.5)
    shm = create_ring(_name("stale"), capacity=16)
    dispatcher = Dispatcher(server.getsockname())
    try:
        writer, reader = RingWriter(shm), RingReader(shm)
        dispatcher.add_ring("drums", reader)
        now = time.time()
        writer.write_many([
            NoteEvent.make(now - 1.0, "drums", "kick", 36),                  # a second late
            NoteEvent.make(now - 0.5, "drums", "answer", 76, reactive=True),  # decided 0.5 s ago
            NoteEvent.make(now - STALE_AFTER / 4, "drums", "snare", 38),      # a little late
            NoteEvent.make(now + 0.01, "drums", "hat", 42),                   # in time
            NoteEvent(time=now - 2.0, agent=0, voice=0, kind=NoteKind.RELEASE),
        ])
        assert dispatcher.drain() == 3
        sent = []
        for _ in range(2):                        # the two notes; the release has no notes
            sent += [args for address, args in decode(server.recv(65536)) if address == "/s_new"]
        assert [args[0] for args in sent] == ["snare", "hat"]
        assert dispatcher.stats.rejects.counts == {TOO_LATE: 2}
        writer.close()
        reader.close()
    finally:
        dispatcher.close()
        server.close()
        shm.close()
        shm.unlink()
