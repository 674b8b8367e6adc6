"""The state snapshot: one writer on the audio-control side, any number of read-only readers.

The snapshot is a JSON document in a POSIX shared-memory segment (`/dev/shm/<name>`),
guarded by a seqlock so a reader never sees a half-written state and the writer never
waits for a reader. Layout (little-endian, documented in docs/GUI.md):

    offset size type  field
    0      8    u64   sequence   odd while the writer is writing, even when stable
    8      8    u64   length     payload bytes (valid only under an even, unchanged sequence)
    16     8    u64   capacity   payload bytes the segment can hold (size - HEADER_SIZE)
    24     8    char  magic      b"PRFSNAP1" (written last at creation: the segment is ready)
    32     4    u32   layout     LAYOUT_VERSION
    36     4    u32   header     HEADER_SIZE
    40     24         reserved   zero
    64     ...  utf-8 payload    the JSON state

Seqlock protocol. Writer: sequence += 1 (odd); write payload and length; sequence += 1
(even). Reader: s1 = sequence; if odd, retry; copy length and payload; s2 = sequence; the
copy is good when s1 == s2. The published version is sequence // 2.

Memory ordering: the sequence is stored and loaded as one aligned 8-byte word (a memoryview
cast to "Q", which CPython stores with a single 8-byte move). On x86-64 (total store order)
stores become visible in program order and loads are not reordered with other loads, so the
plain stores and loads below need no fences; each step is a separate interpreter operation,
so the C compiler cannot reorder them either. On weakly ordered CPUs (ARM) this relies on
the JSON check that the reader adds on top; a warning is logged there.
"""

from __future__ import annotations

import json
import logging
import math
import mmap
import os
import platform
import struct
import threading
import time
from multiprocessing import shared_memory
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

HEADER_SIZE = 64
LAYOUT_VERSION = 1
MAGIC = b"PRFSNAP1"
_MAGIC_WORD: int = struct.unpack("<Q", MAGIC)[0]
_SEQ, _LENGTH, _CAPACITY, _MAGIC_INDEX = 0, 1, 2, 3   # indices of the u64 header words
_LAYOUT = struct.Struct("<II")                        # layout, header size at offset 32
_SHM_DIR = Path("/dev/shm")
_TSO_MACHINES = ("x86_64", "amd64", "i386", "i686", "x86")

AGENT_NAMES: tuple[str, ...] = ("drums", "bass", "harmony", "melody")
LEVEL_NAMES: tuple[str, ...] = (*AGENT_NAMES, "input", "master")


def empty_state() -> dict[str, Any]:
    """The snapshot schema, every key the GUI uses, with neutral values.

    - version: int, set by `StateWriter.publish` (sequence // 2); 0 = nothing published.
    - time: float, Unix time of publication, set by `publish`; note times use this base.
    - transport: bar (1-based), beat (1-based, may be fractional), bpm, beats_per_bar,
      playing (bool).
    - harmony: chord and key the band plays ("E:min"), heard_chord / heard_key recognised
      from the guitar (None when unsure), progression: list of chord names.
    - input: pitch_hz (None = no pitch), note ("E2"), cents (-50..50), level (peak 0..1),
      onsets: recent onset times (seconds, same base as `time`).
    - pedal: down (bool), mode ("listen" | "play" | "follow").
    - agents: for each of drums, bass, harmony, melody: notes, a list of recent and
      scheduled notes {"t": start time, "midi": 0..127, "vel": 0..1, "dur": seconds,
      "voice": "kick" ...}, and state, a small free-form dict shown as text.
    - levels: peak 0..1 for drums, bass, harmony, melody, input, master.
    - server: cpu_avg and cpu_peak (percent, from /status), ugens, synths, xruns, late
      (bundles that arrived late).
    - events: written and dropped note events.
    - latency: lookahead_ms (scheduling lookahead), answer_ms (onset to answer).
    """
    return {
        "version": 0,
        "time": 0.0,
        "transport": {"bar": 1, "beat": 1.0, "bpm": 120.0, "beats_per_bar": 4,
                      "playing": False},
        "harmony": {"chord": None, "key": None, "heard_chord": None, "heard_key": None,
                    "progression": []},
        "input": {"pitch_hz": None, "note": None, "cents": 0.0, "level": 0.0, "onsets": []},
        "pedal": {"down": False, "mode": "play"},
        "agents": {name: {"notes": [], "state": {}} for name in AGENT_NAMES},
        "levels": {name: 0.0 for name in LEVEL_NAMES},
        "server": {"cpu_avg": 0.0, "cpu_peak": 0.0, "ugens": 0, "synths": 0, "xruns": 0,
                   "late": 0},
        "events": {"written": 0, "dropped": 0},
        "latency": {"lookahead_ms": 0.0, "answer_ms": None},
    }


def shm_path(name: str) -> Path:
    """Where Linux keeps the POSIX shared-memory segment `name`."""
    return _SHM_DIR / name.lstrip("/")


def _finite(value: Any) -> Any:
    """`value` with every NaN or infinity replaced by None (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def encode_state(state: dict[str, Any], version: int, now: float) -> bytes:
    """Compact UTF-8 JSON of `state` with `version` and `time` set; non-finite floats -> null."""
    document = {**state, "version": version, "time": now}
    try:
        text = json.dumps(document, separators=(",", ":"), allow_nan=False)
    except ValueError:
        text = json.dumps(_finite(document), separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8")


class StateWriter:
    """Creates the segment and publishes states into it. One writer per segment."""

    def __init__(self, name: str, size: int = 1 << 20) -> None:
        if size <= HEADER_SIZE:
            raise ValueError(f"snapshot size {size}: must exceed the {HEADER_SIZE}-byte header")
        if platform.machine().lower() not in _TSO_MACHINES:
            log.warning("snapshot seqlock assumes x86 store ordering; on %s readers rely on "
                        "the JSON check", platform.machine())
        self.name = name
        self._shm = _create_segment(name, size)
        buf = self._shm.buf
        if buf is None:
            raise RuntimeError(f"snapshot segment {name!r} is not mapped")
        self._buf: memoryview = buf
        self._capacity = size - HEADER_SIZE
        self._words = buf[:32].cast("Q")
        self._sequence = 0
        self._lock = threading.Lock()
        self._closed = False
        _LAYOUT.pack_into(buf, 32, LAYOUT_VERSION, HEADER_SIZE)
        self._words[_CAPACITY] = self._capacity
        self._words[_MAGIC_INDEX] = _MAGIC_WORD   # last: readers now trust the header

    @classmethod
    def attach(cls, name: str) -> StateWriter:
        """Become the writer of a segment another process created (and will remove): the
        manager owns the segment, so a restarted conductor carries on publishing into it."""
        shm = shared_memory.SharedMemory(name=name)
        from multiprocessing import resource_tracker
        resource_tracker.unregister(shm._name, "shared_memory")  # type: ignore[attr-defined]
        buf = shm.buf
        if buf is None:
            raise RuntimeError(f"snapshot segment {name!r} is not mapped")
        self = cls.__new__(cls)
        self.name = name
        self._shm = shm
        self._buf = buf
        self._words = buf[:32].cast("Q")
        if self._words[_MAGIC_INDEX] != _MAGIC_WORD:
            self._words.release()
            raise ValueError(f"{name!r} is not a Performia state snapshot")
        self._capacity = int(self._words[_CAPACITY])
        self._sequence = int(self._words[_SEQ]) + int(self._words[_SEQ]) % 2
        self._lock = threading.Lock()
        self._closed = False
        return self

    @property
    def capacity(self) -> int:
        """Largest payload, in bytes, that `publish` accepts."""
        return self._capacity

    @property
    def version(self) -> int:
        """Version of the last published state (0 before the first publish)."""
        return self._sequence // 2

    def publish(self, state: dict[str, Any]) -> int:
        """Write `state` (JSON-serialisable) as the new snapshot; returns its version.

        Raises ValueError, before touching the segment, when the encoded state is larger
        than `capacity`. Never blocks on readers.
        """
        with self._lock:
            if self._closed:
                raise ValueError(f"snapshot {self.name!r} is closed")
            version = self._sequence // 2 + 1
            payload = encode_state(state, version, time.time())
            if len(payload) > self._capacity:
                raise ValueError(f"snapshot state of {len(payload)} bytes exceeds the "
                                 f"{self._capacity}-byte segment {self.name!r}")
            self._write(payload)
            return version

    def _write(self, payload: bytes) -> None:
        words, end = self._words, HEADER_SIZE + len(payload)
        self._sequence += 1
        words[_SEQ] = self._sequence            # odd: writing
        self._buf[HEADER_SIZE:end] = payload
        words[_LENGTH] = len(payload)
        self._sequence += 1
        words[_SEQ] = self._sequence            # even: stable

    def close(self) -> None:
        """Unmap the segment in this process (it stays for readers until `unlink`)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._words.release()
            del self._buf
            self._shm.close()

    def unlink(self) -> None:
        """Remove the segment's name; mapped readers keep their mapping until they close."""
        try:
            self._shm.unlink()
        except FileNotFoundError:
            log.warning("snapshot segment %r was already removed", self.name)

    def __enter__(self) -> StateWriter:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
        self.unlink()


def _create_segment(name: str, size: int) -> shared_memory.SharedMemory:
    """A new zeroed segment; a stale one left by a crashed run is replaced."""
    try:
        return shared_memory.SharedMemory(name=name, create=True, size=size)
    except FileExistsError:
        log.warning("replacing stale snapshot segment %s", shm_path(name))
        shm_path(name).unlink(missing_ok=True)
        return shared_memory.SharedMemory(name=name, create=True, size=size)


class StateReader:
    """Maps the segment read-only (O_RDONLY + PROT_READ): the OS refuses any write to it.

    Plain os.open + mmap rather than SharedMemory: no resource_tracker registration, so a
    reader exiting never unlinks the writer's segment.
    """

    def __init__(self, name: str, retries: int = 200) -> None:
        self.name = name
        self.retries = retries
        self.torn = 0        # copies rejected because the writer was writing (diagnostics)
        self._last: tuple[int, bytes] | None = None
        self._last_state: tuple[int, dict[str, Any]] | None = None
        fd = os.open(shm_path(name), os.O_RDONLY | os.O_CLOEXEC)
        try:
            size = os.fstat(fd).st_size
            if size < HEADER_SIZE:
                raise ValueError(f"snapshot segment {name!r} is {size} bytes: not ready")
            self._mm = mmap.mmap(fd, size, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ)
        finally:
            os.close(fd)   # the mapping stays valid without the descriptor
        self._words = memoryview(self._mm)[:32].cast("Q")
        self._check_header(size)

    def _check_header(self, size: int) -> None:
        layout, header = _LAYOUT.unpack_from(self._mm, 32)
        if self._words[_MAGIC_INDEX] != _MAGIC_WORD:
            self.close()
            raise ValueError(f"snapshot segment {self.name!r} is not initialised")
        if layout != LAYOUT_VERSION or header != HEADER_SIZE:
            self.close()
            raise ValueError(f"snapshot segment {self.name!r}: layout {layout}, header "
                             f"{header}; expected {LAYOUT_VERSION}, {HEADER_SIZE}")
        self._capacity = min(int(self._words[_CAPACITY]), size - HEADER_SIZE)

    @classmethod
    def wait_exists(cls, name: str, timeout: float = 10.0, poll: float = 0.05) -> StateReader:
        """Open `name` as soon as its writer has initialised it; TimeoutError after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return cls(name)
            except (FileNotFoundError, ValueError) as error:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"snapshot segment {shm_path(name)} not ready "
                                       f"after {timeout:.1f} s: {error}") from error
            time.sleep(poll)

    @property
    def mapping(self) -> mmap.mmap:
        """The read-only mapping itself (for tests and diagnostics)."""
        return self._mm

    def sequence(self) -> int:
        """The raw sequence word now (odd while the writer is writing)."""
        return int(self._words[_SEQ])

    def read_raw(self) -> tuple[int, bytes] | None:
        """(version, JSON bytes) of a consistent copy; the last good one when the writer
        kept writing through every retry; None before anything was published."""
        if self.sequence() == 0:
            return None
        for _attempt in range(self.retries):
            copy = self._try_copy()
            if copy is not None:
                self._last = copy
                return copy
            self.torn += 1
            os.sched_yield()
        return self._last

    def read(self) -> tuple[int, dict[str, Any]] | None:
        """(version, state) of a consistent copy, parsed; the last good state after the
        bounded retries; None before anything was published."""
        for _attempt in range(self.retries):
            raw = self.read_raw()
            if raw is None:
                return self._last_state
            if self._last_state is not None and raw[0] == self._last_state[0]:
                return self._last_state
            try:
                state = json.loads(raw[1])
            except ValueError:
                self.torn += 1   # a copy that passed the seqlock but not JSON: retry
                self._last = None
                continue
            self._last_state = (raw[0], state)
            return self._last_state
        return self._last_state

    def _try_copy(self) -> tuple[int, bytes] | None:
        words = self._words
        before = int(words[_SEQ])
        if before & 1:
            return None
        length = int(words[_LENGTH])
        if length > self._capacity:
            return None
        payload = self._mm[HEADER_SIZE:HEADER_SIZE + length]
        if int(words[_SEQ]) != before:
            return None
        return before // 2, payload

    def close(self) -> None:
        """Unmap; the segment itself belongs to the writer."""
        if self._mm.closed:
            return
        self._words.release()
        self._mm.close()

    def __enter__(self) -> StateReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
