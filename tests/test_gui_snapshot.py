"""The state snapshot: seqlock consistency across processes and a read-only mapping."""

from __future__ import annotations

import ctypes
import json
import mmap
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from multiprocessing.synchronize import Event as EventType
from typing import Any

import pytest

from performia.events.snapshot import (
    HEADER_SIZE,
    StateReader,
    StateWriter,
    empty_state,
    shm_path,
)

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]


@pytest.fixture
def name() -> Iterator[str]:
    segment = f"performia-test-{uuid.uuid4().hex[:10]}"
    yield segment
    shm_path(segment).unlink(missing_ok=True)


def test_empty_state_has_the_documented_keys() -> None:
    state = empty_state()
    assert set(state) == {"version", "time", "transport", "harmony", "input", "pedal", "agents",
                          "levels", "server", "events", "latency"}
    assert set(state["agents"]) == {"drums", "bass", "harmony", "melody"}
    assert set(state["levels"]) == {"drums", "bass", "harmony", "melody", "input", "master"}
    assert set(state["server"]) == {"cpu_avg", "cpu_peak", "ugens", "synths", "xruns", "late"}
    json.dumps(state, allow_nan=False)


def test_publish_then_read(name: str) -> None:
    with StateWriter(name, 1 << 16) as writer, StateReader(name) as reader:
        assert reader.read() is None          # nothing published yet
        state = empty_state()
        state["transport"]["bar"] = 7
        assert writer.publish(state) == 1
        assert writer.publish(state) == 2
        got = reader.read()
        assert got is not None
        version, copy = got
        assert version == 2 == copy["version"]
        assert copy["transport"]["bar"] == 7
        assert abs(copy["time"] - time.time()) < 5
        assert state["version"] == 0           # the caller's dict is not modified


def test_too_large_state_raises_and_leaves_the_last_state(name: str) -> None:
    with StateWriter(name, 4096) as writer, StateReader(name) as reader:
        writer.publish({"small": 1})
        with pytest.raises(ValueError, match="exceeds"):
            writer.publish({"big": "x" * 5000})
        assert writer.capacity == 4096 - HEADER_SIZE
        got = reader.read()
        assert got is not None and got[1]["small"] == 1 and got[0] == 1


def test_non_finite_floats_become_null(name: str) -> None:
    with StateWriter(name, 1 << 16) as writer, StateReader(name) as reader:
        writer.publish({"input": {"pitch_hz": float("nan"), "level": float("inf")}})
        raw = reader.read_raw()
        assert raw is not None
        assert json.loads(raw[1])["input"] == {"pitch_hz": None, "level": None}


def _mapping_of(path: str) -> tuple[int, int, str]:
    """(start, length, permissions) of this process's mapping of `path`."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            if line.rstrip().endswith(path):
                span, perms = line.split()[:2]
                start, end = (int(part, 16) for part in span.split("-"))
                return start, end - start, perms
    raise LookupError(path)


def test_the_reader_mapping_refuses_writes(name: str) -> None:
    with StateWriter(name, 1 << 16) as writer, StateReader(name) as reader:
        writer.publish({"x": 1})
        with pytest.raises(TypeError):
            reader.mapping[0] = 1
        with pytest.raises(TypeError):
            reader.mapping.write(b"x")
        start, length, perms = _mapping_of(str(shm_path(name)))
        assert perms == "r--s"                  # shared, readable, not writable
        # The OS refuses to make the mapping writable: the file was opened O_RDONLY.
        result = _libc.mprotect(start, length, mmap.PROT_READ | mmap.PROT_WRITE)
        assert result == -1 and ctypes.get_errno() == 13  # EACCES
        fd = os.open(shm_path(name), os.O_RDONLY)
        try:
            with pytest.raises(PermissionError):
                mmap.mmap(fd, 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fd)


_RAW_WRITE = """
import ctypes, sys
from performia.events.snapshot import StateReader, shm_path
reader = StateReader(sys.argv[1])
path = str(shm_path(sys.argv[1]))
for line in open("/proc/self/maps"):
    if line.rstrip().endswith(path):
        start = int(line.split("-")[0], 16)
print("writing", flush=True)
ctypes.memset(start + 100, 0x41, 1)   # a raw store through the read-only mapping
print("written", flush=True)
"""


def test_a_raw_store_through_the_reader_mapping_faults(name: str) -> None:
    with StateWriter(name, 1 << 16) as writer:
        writer.publish({"x": 1})
        done = subprocess.run([sys.executable, "-c", _RAW_WRITE, name], capture_output=True,
                              text=True, timeout=30)
        assert done.returncode == -signal.SIGSEGV, done.stderr
        assert "writing" in done.stdout and "written" not in done.stdout
        with StateReader(name) as reader:
            assert reader.read() is not None


def test_a_reader_process_exiting_leaves_the_segment(name: str) -> None:
    with StateWriter(name, 1 << 16) as writer:
        writer.publish({"x": 1})
        code = ("import sys; from performia.events.snapshot import StateReader; "
                "r = StateReader(sys.argv[1]); print(r.read()[0])")
        done = subprocess.run([sys.executable, "-c", code, name], capture_output=True,
                              text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "1"
        assert shm_path(name).exists()


def test_wait_exists(name: str) -> None:
    with pytest.raises(TimeoutError):
        StateReader.wait_exists(name, timeout=0.2)
    writers: list[StateWriter] = []
    timer = threading.Timer(0.2, lambda: writers.append(StateWriter(name, 1 << 16)))
    timer.start()
    try:
        reader = StateReader.wait_exists(name, timeout=5.0)
        reader.close()
    finally:
        timer.join()
        for writer in writers:
            writer.close()
            writer.unlink()


def test_a_stale_segment_is_replaced(name: str) -> None:
    stale = StateWriter(name, 1 << 16)
    stale.publish({"old": True})
    stale.close()                               # crashed without unlinking
    with StateWriter(name, 1 << 16) as writer, StateReader(name) as reader:
        assert reader.read() is None
        writer.publish({"new": True})
        got = reader.read()
        assert got is not None and got[1].get("new") is True


# --- across processes: a fast writer and a reader that must never see a torn state ---

def _state(n: int) -> dict[str, Any]:
    """A state whose body checks itself: `n` copies of a letter chosen by `n`."""
    size = 50 + (n * 7919) % 60000             # payload sizes jump around 50 B .. 60 kB
    return {"n": n, "size": size, "letter": chr(97 + n % 26), "body": chr(97 + n % 26) * size}


def _writer_main(name: str, ready: EventType, stop: EventType) -> None:
    writer = StateWriter(name, 1 << 17)
    ready.set()
    n = 0
    try:
        while not stop.is_set():
            n += 1
            writer.publish(_state(n))
    finally:
        writer.close()
        writer.unlink()


def _check(raw: bytes) -> int:
    state = json.loads(raw)
    body = state["body"]
    if len(body) != state["size"] or body != state["letter"] * state["size"]:
        raise AssertionError(f"torn state n={state['n']}")
    return int(state["version"])


def _reader_main(name: str, reads: int, results: mp.Queue[tuple[str, int, int]]) -> None:
    reader = StateReader.wait_exists(name, timeout=10.0)
    previous, distinct, errors = 0, 0, 0
    try:
        for _ in range(reads):
            raw = reader.read_raw()
            if raw is None:
                continue
            version, payload = raw
            try:
                if _check(payload) != version or version < previous:
                    errors += 1
            except (ValueError, KeyError, AssertionError):
                errors += 1
            distinct += version != previous
            previous = version
    finally:
        reader.close()
    results.put(("done", distinct, errors))


def test_concurrent_reader_never_sees_a_torn_state(name: str) -> None:
    ctx = mp.get_context("fork")
    ready, stop = ctx.Event(), ctx.Event()
    results: mp.Queue[tuple[str, int, int]] = ctx.Queue()
    writer = ctx.Process(target=_writer_main, args=(name, ready, stop))
    writer.start()
    reader = None
    try:
        assert ready.wait(10)
        reader = ctx.Process(target=_reader_main, args=(name, 5000, results))
        reader.start()
        status, distinct, errors = results.get(timeout=120)
        reader.join(10)
    finally:
        stop.set()
        writer.join(10)
        for process in (reader, writer):
            if process is not None and process.is_alive():
                process.kill()
                process.join(5)
    assert status == "done"
    assert errors == 0
    assert distinct >= 10                      # the reader really saw the writer move
    assert reader is not None and reader.exitcode == 0 and writer.exitcode == 0
    assert not shm_path(name).exists()
