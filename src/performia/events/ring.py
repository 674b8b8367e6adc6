"""A single-writer, single-reader ring of note records in `multiprocessing.shared_memory`.

Segment layout (little-endian; documented in docs/EVENTS.md):

    offset  size  field          written by
    0       4     magic "PRNG"   creator
    4       2     layout version creator
    6       2     record size    creator
    8       8     capacity       creator (records, a power of two)
    64      8     write index    writer only: records ever written
    72      8     dropped        writer only: records refused because the ring was full
    80      8     writer pid     writer only: so the reader can tell when the writer died
    128     8     read index     reader only: records ever read
    192     ...   records        capacity × record size

The indices only grow; slot = index & (capacity - 1). The writer stores the record first and
then publishes the new write index; the reader copies records first and then publishes the
new read index. Each index is one aligned 8-byte store through a `memoryview` cast to 'Q'
(a single `mov` on x86-64). That is enough on x86-64 because its memory model (total store
order) keeps stores in program order for other cores; on weakly ordered CPUs (ARM) the index
stores would need release/acquire atomics (e.g. the `atomics` package) — `check_platform()`
warns there. The writer never overwrites an unread record: when full, `write()` returns
False and the dropped counter goes up.

The reader is woken without polling: each ring has an `eventfd` doorbell that the writer
rings after publishing; the reader waits on it with `select`/`poll` (with other fds).
"""

from __future__ import annotations

import logging
import os
import platform
import struct
from collections.abc import Iterable
from multiprocessing import resource_tracker, shared_memory

from performia.events.note import RECORD, RECORD_SIZE, NoteEvent, NoteValueError

log = logging.getLogger(__name__)

MAGIC = b"PRNG"
LAYOUT_VERSION = 1
HEADER = struct.Struct("<4sHHQ")
WRITE_INDEX_SLOT = 64 // 8
DROPPED_SLOT = 72 // 8
WRITER_PID_SLOT = 80 // 8
READ_INDEX_SLOT = 128 // 8
RECORDS_OFFSET = 192


class RingError(ValueError):
    """The segment is not a ring of ours or does not match this layout."""


def check_platform() -> None:
    machine = platform.machine().lower()
    if machine not in ("x86_64", "amd64", "i686", "i386"):
        log.warning("ring buffer index publication relies on x86 total store order; on %s "
                    "use real atomics", machine)


def segment_size(capacity: int) -> int:
    return RECORDS_OFFSET + capacity * RECORD_SIZE


class _RingView:
    """The mapped segment: header, indices as 64-bit words, and the records."""

    def __init__(self, shm: shared_memory.SharedMemory) -> None:
        self.shm = shm
        buf = shm.buf
        if buf is None:
            raise RingError(f"shared memory {shm.name} is not mapped")
        magic, version, record_size, capacity = HEADER.unpack_from(buf, 0)
        if magic != MAGIC or version != LAYOUT_VERSION or record_size != RECORD_SIZE:
            raise RingError(f"{shm.name} is not a Performia ring (layout {LAYOUT_VERSION}, "
                            f"{RECORD_SIZE}-byte records)")
        self.capacity: int = capacity
        self.mask = capacity - 1
        self._head = buf[:RECORDS_OFFSET]
        self.words = self._head.cast("Q")
        self.records = buf[RECORDS_OFFSET:RECORDS_OFFSET + capacity * RECORD_SIZE]

    def release(self) -> None:
        """Drop our views so the segment can be closed."""
        for view in (self.words, self._head, self.records):
            view.release()

    @property
    def written(self) -> int:
        return int(self.words[WRITE_INDEX_SLOT])

    @property
    def read(self) -> int:
        return int(self.words[READ_INDEX_SLOT])

    @property
    def dropped(self) -> int:
        return int(self.words[DROPPED_SLOT])


def create_ring(name: str, capacity: int = 4096) -> shared_memory.SharedMemory:
    """Create a ring segment (the manager does this before starting writer and reader)."""
    if capacity < 2 or capacity & (capacity - 1):
        raise ValueError(f"ring capacity must be a power of two >= 2, got {capacity}")
    check_platform()
    shm = shared_memory.SharedMemory(name=name, create=True, size=segment_size(capacity))
    buf = shm.buf
    if buf is None:
        raise RingError(f"shared memory {name} is not mapped")
    buf[:RECORDS_OFFSET] = bytes(RECORDS_OFFSET)
    HEADER.pack_into(buf, 0, MAGIC, LAYOUT_VERSION, RECORD_SIZE, capacity)
    return shm


def attach(name: str) -> shared_memory.SharedMemory:
    """Map an existing ring created by another process, without letting this process's
    resource tracker unlink it at exit (the creator owns its lifetime)."""
    shm = shared_memory.SharedMemory(name=name)
    resource_tracker.unregister(shm._name, "shared_memory")  # type: ignore[attr-defined]
    return shm


class RingWriter:
    """The one writer of a ring. `write()` returns False when the event did not fit."""

    def __init__(self, shm: shared_memory.SharedMemory, doorbell: int | None = None) -> None:
        self._view = _RingView(shm)
        self.shm = shm
        self.doorbell = doorbell
        self._sequence = 0
        self._view.words[WRITER_PID_SLOT] = os.getpid()

    @property
    def capacity(self) -> int:
        return self._view.capacity

    @property
    def dropped(self) -> int:
        return self._view.dropped

    @property
    def written(self) -> int:
        return self._view.written

    def write(self, event: NoteEvent) -> bool:
        fitted = self._put(event)
        if fitted:
            self._ring()
        return fitted

    def write_many(self, events: Iterable[NoteEvent]) -> int:
        """Write in order until one does not fit; ring the doorbell once. Returns how many."""
        count = 0
        for event in events:
            if not self._put(event):
                break
            count += 1
        if count:
            self._ring()
        return count

    def _put(self, event: NoteEvent) -> bool:
        view = self._view
        words = view.words
        w = words[WRITE_INDEX_SLOT]
        if w - words[READ_INDEX_SLOT] >= view.capacity:
            words[DROPPED_SLOT] = words[DROPPED_SLOT] + 1
            return False
        offset = (w & view.mask) * RECORD_SIZE
        RECORD.pack_into(view.records, offset, event.time, event.duration, event.velocity,
                         event.agent, int(event.kind), event.pitch, event.voice, event.flags, 0,
                         self._sequence & 0xFFFFFFFF, event.param)
        self._sequence += 1
        words[WRITE_INDEX_SLOT] = w + 1      # publish only after the record is in place
        return True

    def _ring(self) -> None:
        if self.doorbell is not None:
            os.eventfd_write(self.doorbell, 1)

    def close(self) -> None:
        """Release our views; whoever attached the segment closes it afterwards."""
        self._view.release()


class RingReader:
    """The one reader of a ring: `read_all()` returns every unread event, in order."""

    def __init__(self, shm: shared_memory.SharedMemory, doorbell: int | None = None) -> None:
        self._view = _RingView(shm)
        self.shm = shm
        self.doorbell = doorbell
        self.refused: dict[str, int] = {}   # records that are not a playable note, per reason
        self.last_refused = ""

    @property
    def dropped(self) -> int:
        return self._view.dropped

    @property
    def writer_pid(self) -> int:
        return int(self._view.words[WRITER_PID_SLOT])

    @property
    def pending(self) -> int:
        return self._view.written - self._view.read

    def read_all(self, limit: int | None = None) -> list[NoteEvent]:
        view = self._view
        words = view.words
        r = words[READ_INDEX_SLOT]
        w = words[WRITE_INDEX_SLOT]
        if limit is not None:
            w = min(w, r + limit)
        out = []
        records, mask = view.records, view.mask
        for index in range(r, w):
            try:
                out.append(NoteEvent.unpack(records, (index & mask) * RECORD_SIZE))
            except NoteValueError as error:     # skipped and counted: never sent, never stuck
                self.refused[error.reason] = self.refused.get(error.reason, 0) + 1
                self.last_refused = str(error)
        words[READ_INDEX_SLOT] = w           # hand the slots back only after copying them
        return out

    def clear_doorbell(self) -> None:
        """Reset the eventfd after waking (non-blocking fds: nothing to read is fine)."""
        if self.doorbell is not None:
            try:
                os.eventfd_read(self.doorbell)
            except BlockingIOError:
                pass

    def close(self) -> None:
        """Release our views; whoever attached the segment closes it afterwards."""
        self._view.release()


def make_doorbell() -> int:
    """A non-blocking eventfd a writer rings and a reader waits on (inheritable by children)."""
    fd = os.eventfd(0, os.EFD_NONBLOCK)
    os.set_inheritable(fd, True)
    return fd
