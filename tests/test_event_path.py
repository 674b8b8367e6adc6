"""The event path against a real server: agent process → ring → dispatcher process →
supernova, proven in the recorded audio; no hanging notes; the OSC fallback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from performia.config import Config
from performia.events.ring import create_ring, make_doorbell
from performia.plan import PerformancePlan, RingSpec
from performia.processes import Child, spawn
from performia.server.block_grid import measure_block_grid
from performia.server.recorder import STEM_CHANNELS, Recorder
from performia.server.session import ServerSession
from performia.server.tree import sync
from tests.audio import onsets, read_wav, rounding_allowance, undisturbed
from tests.conftest import PROJECT

pytestmark = pytest.mark.server

CLICK_AGENT = """
import sys, time
from performia.events.note import NoteEvent
from performia.events.ring import RingWriter, attach
name, doorbell, start, spacing, count, lookahead = sys.argv[1:7]
start, spacing, lookahead = float(start), float(spacing), float(lookahead)
shm = attach(name)
writer = RingWriter(shm, doorbell=int(doorbell))
for i in range(int(count)):
    due = start + i * spacing
    while time.time() < due - lookahead:       # decide each click `lookahead` before it sounds
        time.sleep(0.0002)
    if not writer.write(NoteEvent.make(due, "test", "click", 60, 0.8)):
        sys.exit("ring full")
writer.close()
shm.close()
"""


@dataclass
class EventPath:
    """A running transport process reading one ring, with the server it sends to."""

    session: ServerSession
    ring_name: str
    doorbell: int
    transport: Child
    config: Config


@pytest.fixture
def event_path(server: ServerSession) -> Iterator[EventPath]:
    name = f"performia_{os.getpid()}_path"
    shm = create_ring(name, 1024)
    doorbell = make_doorbell()
    plan = PerformancePlan(config=server.config, start_time=time.time(),
                           rings=(RingSpec("test", name, doorbell),))
    transport = spawn("transport", [sys.executable, "-m", "performia.transport", plan.to_json()],
                      pass_fds=[doorbell])
    time.sleep(0.5)
    try:
        yield EventPath(server, name, doorbell, transport, server.config)
    finally:
        transport.stop()
        os.close(doorbell)
        shm.close()
        shm.unlink()


@dataclass
class ClickTake:
    found: np.ndarray          # onsets in the recording, in samples
    reports: list[float]       # xrun and late-bundle reports, seconds from the recording's start


def _record_clicks(path: EventPath, out: Path, count: int, spacing: float, lookahead: float
                   ) -> ClickTake:
    client = path.session.client
    assert client is not None and path.session.supernova is not None
    log = path.session.supernova.log
    seen_xruns, seen_late = len(log.xrun_times), len(log.late_times)
    recorder = Recorder(client, 901, 901, stems=True)
    grid = measure_block_grid(client, 48000, 64)
    record_start = grid.next_boundary(time.time() + 0.3)
    recorder.start(out, at=record_start + 0.25 / 48000)
    start = record_start + 0.2                                  # first click at sample 9600
    agent = subprocess.run([sys.executable, "-c", CLICK_AGENT, path.ring_name,
                            str(path.doorbell), str(start), str(spacing), str(count),
                            str(lookahead)], pass_fds=[path.doorbell], cwd=PROJECT,
                           timeout=60, check=True)
    assert agent.returncode == 0
    time.sleep(0.3)
    recorder.stop()
    _rate, audio = read_wav(out)
    reports = [t - record_start for t in log.xrun_times[seen_xruns:] + log.late_times[seen_late:]]
    return ClickTake(onsets(audio[:, STEM_CHANNELS["test"]], threshold=0.05, min_gap=2000),
                     reports)


def test_clicks_land_on_the_exact_sample(event_path: EventPath, tmp_path: Path) -> None:
    """≥ 32 clicks 6000 samples apart, each decided 20 ms ahead: spacing error 0 samples,
    and in a take without a dropout every click at its exact sample in the recording (t = 0
    is sample 0). An xrun (a dropout: on these VMs the machine itself stalls now and then)
    makes supernova resync its clock; the spacing across it is the dropout's, so intervals
    next to an xrun or late-bundle report are left out and every other one must be exact.
    Takes are played until 32 undisturbed intervals have been checked (at most five)."""
    checked = 0
    for take in range(5):
        clicks = _record_clicks(event_path, tmp_path / f"clicks{take}.wav", 40, 0.125, 0.020)
        assert len(clicks.found) == 40
        errors = np.diff(clicks.found) - 6000
        clean = undisturbed(clicks.found / 48000, clicks.reports)
        allowed = rounding_allowance(clicks.found / 48000, clicks.reports)
        assert np.all(np.abs(errors[clean]) <= allowed[clean]), (
            f"spacing errors {errors.tolist()}, reports at {clicks.reports}")
        if not clicks.reports:
            # and each click sits on the very sample its time names in the recording
            assert clicks.found.tolist() == [9600 + 6000 * i for i in range(40)]
        checked += int(np.count_nonzero(clean))
        if checked >= 32:
            return
    # every interval checked was exact (asserted above); too few could be checked on a VM
    # whose host stalls this often (docs/PERFORMANCE.md): say so, do not call it a failure
    pytest.skip(f"only {checked} undisturbed intervals in five takes (all exact): the machine "
                "stalls too often to measure more")


def test_held_notes_are_released_and_node_count_returns_to_baseline(
        event_path: EventPath) -> None:
    session = event_path.session
    baseline = session.status().synths
    agent = """
import sys, time
from performia.events.note import NoteEvent
from performia.events.ring import RingWriter, attach
shm = attach(sys.argv[1]); w = RingWriter(shm, doorbell=int(sys.argv[2]))
now = time.time() + 0.05
w.write_many([NoteEvent.make(now + i * 0.01, "harmony", "keys", 60 + i, 0.3, 0.3)
              for i in range(8)])
w.close(); shm.close()
"""
    subprocess.run([sys.executable, "-c", agent, event_path.ring_name, str(event_path.doorbell)],
                   pass_fds=[event_path.doorbell], check=True, timeout=30)
    time.sleep(0.2)
    assert session.status().synths >= baseline + 8        # the chord sounds
    time.sleep(1.0)                                       # 0.3 s + release
    assert session.status().synths == baseline


def test_notes_of_an_agent_that_dies_are_released(event_path: EventPath) -> None:
    session = event_path.session
    baseline = session.status().synths
    agent = """
import os, signal, sys, time
from performia.events.note import NoteEvent
from performia.events.ring import RingWriter, attach
shm = attach(sys.argv[1]); w = RingWriter(shm, doorbell=int(sys.argv[2]))
w.write(NoteEvent.make(time.time() + 0.02, "melody", "lead", 72, 0.3, 20.0))
time.sleep(0.3)
os.kill(os.getpid(), signal.SIGKILL)                     # the agent crashes mid-note
"""
    result = subprocess.run([sys.executable, "-c", agent, event_path.ring_name,
                             str(event_path.doorbell)], pass_fds=[event_path.doorbell],
                            timeout=30, check=False)
    assert result.returncode == -9
    assert session.status().synths == baseline + 1        # a 20-second note, still sounding
    time.sleep(1.0)                                       # the dispatcher notices in 0.1 s
    assert session.status().synths == baseline


OSC_AGENT = """
import socket, sys, time
from performia.server.osc import encode_bundle, encode_message
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
now = time.time()
s.sendto(encode_bundle(now + 0.1, [("/performia/note", ["harmony", "keys", 64, 0.4, 0.4])]),
         ("127.0.0.1", port))
s.sendto(encode_message("/performia/note", ["drums", "cowbell", 60, 0.4, 0.1]),
         ("127.0.0.1", port))                            # malformed: unknown voice
s.sendto(b"garbage", ("127.0.0.1", port))                 # not OSC at all
s.sendto(encode_message("/performia/note", ["bass", "bass", 40, 0.5, 0.4]),
         ("127.0.0.1", port))                            # bare: now + latency
"""


def test_osc_fallback_from_another_process(event_path: EventPath) -> None:
    session = event_path.session
    client = session.client
    assert client is not None
    baseline = session.status().synths
    subprocess.run([sys.executable, "-c", OSC_AGENT, str(event_path.config.osc.event_port)],
                   check=True, timeout=30)
    time.sleep(0.3)
    assert session.status().synths == baseline + 2        # the two good notes, nothing else
    time.sleep(1.0)
    assert session.status().synths == baseline
    assert event_path.transport.alive()                   # garbage did not stop the music


SCLANG_AGENT = """
n = NetAddr("127.0.0.1", thisProcess.argv[0].asInteger);
n.sendBundle(0.1, ["/performia/note", "melody", "lead", 76, 0.4, 0.5]);
n.sendMsg("/performia/note", "drums", "snare", 38, 0.7, 0.0);
0.2.wait;
"SENT".postln;
0.exit;
"""


def test_osc_fallback_from_sclang(event_path: EventPath, tmp_path: Path) -> None:
    from performia.server.synthdefs import sclang_env
    session = event_path.session
    baseline = session.status().synths
    script = tmp_path / "agent.scd"
    script.write_text("fork {" + SCLANG_AGENT + "};")
    result = subprocess.run(["sclang", str(script), str(event_path.config.osc.event_port)],
                            env=sclang_env(), capture_output=True, text=True, timeout=60,
                            check=False, stdin=subprocess.DEVNULL)
    assert "SENT" in result.stdout, result.stdout[-2000:]
    client = session.client
    assert client is not None
    sync(client)
    # the lead note (0.5 s) is still sounding; the snare has gone or is going
    assert session.status().synths >= baseline + 1
    time.sleep(1.2)
    assert session.status().synths == baseline
