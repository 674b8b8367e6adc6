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

import numpy as np
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


# --- what compose() publishes of the heard music and the form (in-process) ---

FORM = ["G:maj", "E:min", "C:maj", "D:maj"]


def _band(bars_ago: float, bpm: float = 120.0) -> tuple[Any, Any, Any]:
    """A band loop whose clock started `bars_ago` bars ago, its state book fed with a
    guitarist playing FORM bar by bar (each chord heard 0.3 s after its downbeat)."""
    from performia.conductor.band_loop import BandLoop
    from performia.state.book import StateBook
    from performia.state.context import HarmonicContext
    from performia.theory import Chord
    from performia.timing.clock import OfflineClock
    from performia.timing.tempo import TempoMap

    tempo = TempoMap(bpm=bpm, t0=time.time() - bars_ago * 4 * 60.0 / bpm, beats_per_bar=4)
    harmony = HarmonicContext.from_labels("G:maj", FORM)
    book = StateBook(harmony.key, beat_at=tempo.beat_at, beats_per_bar=4, bpm=bpm)
    loop = BandLoop(agents=[], writers={}, clock=OfflineClock(tempo), harmony=harmony,
                    book=book)
    for bar in range(int(bars_ago) + 1):
        book.start_bar(bar, tempo.time_at(bar * 4))
        chord = Chord.parse(FORM[bar % len(FORM)])
        book.hear_chord(chord, tempo.time_at(bar * 4) + 0.3)
        harmony.heard_chord = chord
    return loop, tempo, book


def _follower(loop: Any) -> Any:
    from performia.listen.follower import Follower

    return Follower(loop.harmony, loop.listening,
                    bar_at=lambda t: loop.clock.tempo.beat_at(t) / 4)


def test_compose_publishes_the_form_heard_and_the_prediction() -> None:
    from performia.conductor.state import compose
    from performia.events.snapshot import encode_state

    loop, _tempo, _book = _band(8.5)           # 8 bars heard, half of bar 9 (index 8)
    state = compose(loop, None, None, 3.0)
    form = state["form"]
    assert form["bar"] == 9 == state["transport"]["bar"]
    assert [b["bar"] for b in form["bars"]] == list(range(1, 9))
    assert [b["chords"] for b in form["bars"][:2]] == [[{"beat": 1, "chord": "G:maj"}],
                                                       [{"beat": 1, "chord": "E:min"}]]
    assert form["current"] == [{"beat": 1, "chord": "G:maj"}]
    assert form["prediction"]["bar"] == 9 and form["prediction"]["chord"] == "G:maj"
    assert form["next"]["bar"] == 10 and form["next"]["chord"] == "E:min"
    assert form["next"]["chords"] == [{"beat": 1, "chord": "E:min"}]
    assert 0.6 <= form["next"]["confidence"] <= 1.0
    assert form["length"] == 4 and form["sections"] == "AA" and form["position"] == 1
    assert 0.5 <= form["strength"] <= 1.0
    heard = state["heard"]                     # no ears: the chord heard last, nothing else
    assert heard["chord"] == "G:maj"           # the chord the context heard last
    assert heard["quality"] == "maj" and heard["confidence"] is None
    assert heard["bpm"] is None and heard["beats"] == [] and heard["beat_in_bar"] is None
    json.loads(encode_state(state, 1, time.time()))


def test_compose_keeps_only_the_last_bars() -> None:
    from performia.conductor.state import FORM_BARS, compose

    loop, _tempo, _book = _band(40.2)
    form = compose(loop, None, None, 3.0)["form"]
    assert len(form["bars"]) == FORM_BARS
    assert form["bars"][-1]["bar"] == 40 and form["bar"] == 41


def test_compose_before_anything_is_heard() -> None:
    from performia.conductor.band_loop import BandLoop
    from performia.conductor.state import compose
    from performia.state.book import StateBook
    from performia.state.context import HarmonicContext
    from performia.timing.clock import OfflineClock
    from performia.timing.tempo import TempoMap

    tempo = TempoMap(bpm=100.0, t0=time.time() + 2.0)
    harmony = HarmonicContext.from_labels("C:maj", ["C:maj"])
    for book in (None, StateBook(harmony.key, beat_at=tempo.beat_at, bpm=100.0)):
        loop = BandLoop(agents=[], writers={}, clock=OfflineClock(tempo), harmony=harmony,
                        book=book)
        state = compose(loop, None, None, 3.0)
        assert state["form"] == {"bar": None, "bars": [], "current": [], "prediction": None,
                                 "next": None, "length": None, "strength": None,
                                 "sections": None, "position": None}
        heard = state["heard"]
        assert heard["chord"] is None and heard["bpm"] is None   # the band's tempo is not heard
        json.dumps(state, allow_nan=False)


def test_compose_reads_the_real_follower() -> None:
    """The attribute names compose() reads exist on today's follower; what it cannot know
    yet (the beat tracker's tempo and beats) is None, not an error."""
    from types import SimpleNamespace

    from performia.conductor.state import compose

    loop, _tempo, _book = _band(2.5)
    follower = _follower(loop)
    ears = SimpleNamespace(follower=follower, onsets=[], answered=0)
    heard = compose(loop, None, None, 3.0, ears)["heard"]
    assert heard["chord"] == "C:maj"           # the recogniser has not started: the context's
    assert heard["bpm"] is None and heard["beat_time"] is None and heard["beats"] == []
    silence = SimpleNamespace(treble=np.zeros(12), bass=np.zeros(12))
    follower.chords.update(silence, False)      # a silent frame: no chord
    heard = compose(loop, None, None, 3.0, ears)["heard"]
    assert heard["chord"] == "N" and heard["quality"] is None
    assert 0.0 <= heard["confidence"] <= 1.0


def test_compose_reads_the_rhythm_when_it_is_there() -> None:
    from types import SimpleNamespace

    from performia.conductor.state import HEARD_BEATS, compose
    from performia.theory import Chord

    loop, _tempo, _book = _band(2.5)
    now = time.time()
    spb = 60.0 / 96.0
    beats = [now - 8.0 + i * spb for i in range(20)]
    beats = [t for t in beats if t <= now]
    downbeats = [beats[-7], beats[-3]]          # the last beat is the bar's third
    rhythm = SimpleNamespace(bpm=96.0, beats=beats, downbeats=downbeats, confidence=0.8)
    chords = SimpleNamespace(current=Chord.parse("E:min7"), started=True, confidence=0.91)
    ears = SimpleNamespace(follower=SimpleNamespace(chords=chords, rhythm=rhythm,
                                                    keys=SimpleNamespace(confidence=0.7)),
                           onsets=[], answered=3)
    state = compose(loop, None, None, 3.0, ears)
    heard = state["heard"]
    assert heard["chord"] == "E:min7" and heard["quality"] == "min7"
    assert heard["confidence"] == 0.91 and heard["key_confidence"] == 0.7
    assert heard["bpm"] == 96.0 and heard["bpm_confidence"] == 0.8
    assert state["transport"]["bpm"] == 120.0             # the band's, beside the guitarist's
    assert heard["beats"] == [round(t, 4) for t in beats[-HEARD_BEATS:]]
    assert heard["beat_time"] == round(beats[-1], 4)
    assert heard["beat_in_bar"] == 3
    rhythm.downbeats = [beats[-5]]             # no downbeat told for a while: counted on
    assert compose(loop, None, None, 3.0, ears)["heard"]["beat_in_bar"] == 1
    rhythm.downbeats = [beats[-12]]            # none for over two bars: the place is unknown
    assert compose(loop, None, None, 3.0, ears)["heard"]["beat_in_bar"] is None
    assert heard["beats_per_bar"] == 4
    # a rhythm with no confidence, no downbeats, a NaN tempo: None where it knows nothing
    ears.follower.rhythm = SimpleNamespace(bpm=float("nan"), beats=tuple(beats))
    heard = compose(loop, None, None, 3.0, ears)["heard"]
    assert heard["bpm"] is None and heard["bpm_confidence"] is None
    assert heard["beat_in_bar"] is None and heard["beat_time"] == round(beats[-1], 4)
    # no rhythm at all, but the book heard a tempo: that one
    del ears.follower.rhythm
    loop.book.hear_tempo(101.5, 0.6, now)
    heard = compose(loop, None, None, 3.0, ears)["heard"]
    assert heard["bpm"] == 101.5 and heard["bpm_confidence"] == 0.6
    assert heard["beats"] == []
