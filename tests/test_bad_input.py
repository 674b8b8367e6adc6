"""Issue 14, bad input against a real supernova: nothing a message says can break the sound.

The transport refuses notes with NaN, infinity or out-of-range fields (counted per reason);
and the server's master chain cannot be poisoned even when a synth does output NaN, ±inf or
denormals (the original poison, a keys note with param NaN sent straight to the server, and
a synth made to output them): the band stays audible throughout (no silent gap ≥ 10 ms),
the poisoned bus sounds again as soon as the bad synth ends, and no recording holds a NaN.
"""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing import shared_memory
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from performia.events.note import RECORD, NoteEvent
from performia.events.ring import WRITE_INDEX_SLOT, RingWriter, create_ring, make_doorbell
from performia.plan import PerformancePlan, RingSpec
from performia.processes import Child, spawn
from performia.server.block_grid import measure_block_grid
from performia.server.osc import encode_bundle, encode_message
from performia.server.recorder import STEM_CHANNELS, Recorder
from performia.server.session import ServerSession
from performia.server.synthdefs import sclang_env
from performia.server.tree import INSTRUMENT_BUSES, INSTRUMENT_GROUPS, sync
from tests.audio import read_wav

pytestmark = pytest.mark.server

RATE = 48000
MS = RATE // 1000

# A synth that outputs whatever value it is given (NaN, ±inf, a denormal) for `length` s,
# and reports what CheckBadValues saw in its own output (1 NaN, 2 inf, 3 denormal).
NAN_SYNTHDEF = r"""
SynthDef(\nan_test, { |out = 26, value = 0, length = 0.05|
    var sig = DC.ar(0) + value;
    SendReply.ar(Impulse.ar(100), '/nan_test', CheckBadValues.ar(sig, 0, 0));
    Line.kr(0, 0, length, doneAction: 2);
    Out.ar(out, sig ! 2);
}).writeDefFile(thisProcess.argv[0]);
"WRITTEN".postln;
0.exit;
"""


@dataclass
class Transport:
    session: ServerSession
    child: Child
    port: int
    ring: shared_memory.SharedMemory
    doorbell: int
    lines: list[str] = field(default_factory=list)

    def send(self, datagram: bytes) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(datagram, ("127.0.0.1", self.port))


@pytest.fixture
def transport(server: ServerSession) -> Iterator[Transport]:
    name = f"performia_{os.getpid()}_bad"
    shm = create_ring(name, 1024)
    doorbell = make_doorbell()
    plan = PerformancePlan(config=server.config, start_time=time.time(),
                           rings=(RingSpec("test", name, doorbell),))
    lines: list[str] = []
    child = spawn("transport", [sys.executable, "-m", "performia.transport", plan.to_json()],
                  pass_fds=[doorbell], on_line=lines.append)
    time.sleep(0.5)
    try:
        yield Transport(server, child, server.config.osc.event_port, shm, doorbell, lines)
    finally:
        child.stop()
        os.close(doorbell)
        shm.close()
        shm.unlink()


@pytest.fixture(scope="module")
def nan_synthdef(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    out = tmp_path_factory.mktemp("nan_synthdef")
    script = out / "nan_test.scd"
    script.write_text(NAN_SYNTHDEF)
    result = subprocess.run(["sclang", str(script), str(out) + "/"], env=sclang_env(),
                            capture_output=True, text=True, timeout=120, check=False,
                            stdin=subprocess.DEVNULL)
    compiled = out / "nan_test.scsyndef"
    assert compiled.exists(), result.stdout[-2000:] + result.stderr[-2000:]
    return compiled.read_bytes()


def note(agent: str, voice: str, midi: float, vel: float, dur: float, *param: float
         ) -> tuple[str, list[str | int | float]]:
    return ("/performia/note", [agent, voice, midi, vel, dur, *param])


BAD_NOTES = [   # each must be refused by the transport, with its reason
    (note("harmony", "keys", 60, 0.5, 0.5, math.nan), "non_finite"),   # the note
    (note("harmony", "keys", 60, 0.5, 0.5, math.inf), "non_finite"),
    (note("bass", "bass", 40, 0.5, 0.5, -math.inf), "non_finite"),
    (note("bass", "bass", 40, math.nan, 0.5), "non_finite"),
    (note("melody", "lead", 72, 0.5, math.inf), "non_finite"),
    (note("melody", "lead", math.nan, 0.5, 0.5), "non_finite"),
    (note("harmony", "keys", 60, 0.5, 0.5, 1.5), "out_of_range"),       # param is 0..1
    (note("harmony", "keys", 60, 2.0, 0.5), "out_of_range"),
    (note("harmony", "keys", 60, 0.5, -1.0), "out_of_range"),
    (note("harmony", "keys", 60, 0.5, 31.0), "out_of_range"),           # > 30 s
    (note("harmony", "keys", 128, 0.5, 0.5), "out_of_range"),
    (note("drums", "kick", -1, 0.5, 0.0), "out_of_range"),
]


def longest_silence(audio: NDArray[np.float64], start: int, end: int,
                    threshold: float = 1e-3) -> int:
    """The longest run of samples in [start, end) where every channel is below `threshold`."""
    quiet = np.all(np.abs(audio[start:end]) < threshold, axis=1)
    longest = run = 0
    for q in quiet:
        run = run + 1 if q else 0
        longest = max(longest, run)
    return longest


def test_nan_notes_and_a_nan_synth_cannot_silence_the_band(
        transport: Transport, nan_synthdef: bytes, tmp_path: Path) -> None:
    session = transport.session
    client = session.client
    assert client is not None
    client.request("/d_recv", nan_synthdef, reply="/done",
                   match=lambda a: bool(a) and a[0] == "/d_recv")
    bad_values: list[float] = []
    client.on("/nan_test", lambda _address, args: bad_values.append(float(args[2])))
    baseline = session.status().synths
    recorder = Recorder(client, 902, 902, stems=True)
    grid = measure_block_grid(client, RATE, 64)
    r0 = grid.next_boundary(time.time() + 0.3)
    out = tmp_path / "bad_input.wav"
    recorder.start(out, at=r0 + 0.25 / RATE)
    try:
        # the band: a lead held from 0.1 to 2.1 s, a keys chord on the harmony bus likewise
        transport.send(encode_bundle(r0 + 0.1, [note("melody", "lead", 72, 0.6, 2.0, 0.5)]))
        transport.send(encode_bundle(r0 + 0.1, [note("harmony", "keys", 64, 0.6, 2.0, 0.5)]))
        # 0.4 s: every bad note, in bundles and bare, must be refused
        for message, _reason in BAD_NOTES:
            transport.send(encode_bundle(r0 + 0.4, [message]))
            transport.send(encode_message(*message))
        # 0.6 s: the original poison, straight to the server (no transport to refuse it):
        # a keys note with param NaN on the harmony bus, released at 0.8 s
        poison = 990_001
        harmony = INSTRUMENT_GROUPS["harmony"]
        client.send_bundle(r0 + 0.6, [("/s_new", ["keys", poison, 0, harmony, "out",
                                                  INSTRUMENT_BUSES["harmony"], "amp", 0.5,
                                                  "freq", 261.6, "param", math.nan])])
        client.send_bundle(r0 + 0.8, [("/n_set", [poison, "gate", 0])])
        # 1.4–1.6 s: a synth made to output NaN, +inf, -inf and a denormal on the test bus
        for i, value in enumerate((math.nan, math.inf, -math.inf, 1e-40)):
            client.send_bundle(r0 + 1.4 + 0.05 * i, [("/s_new", [
                "nan_test", -1, 0, INSTRUMENT_GROUPS["drums"], "out", INSTRUMENT_BUSES["test"],
                "value", value, "length", 0.05])])
        time.sleep(max(0.0, r0 + 2.6 - time.time()))
    finally:
        recorder.stop()
    sync(client)
    _rate, audio = read_wav(out)
    assert np.all(np.isfinite(audio)), "a NaN or infinity reached the recording"
    master = audio[:, STEM_CHANNELS["master"]:STEM_CHANNELS["master"] + 2]
    # the master was never poisoned: the band is heard without a gap from 0.15 s to 2.0 s
    # (a NaN master would be recorded as silence: the recorder sanitizes what it writes)
    gap = longest_silence(master, int(0.15 * RATE), int(2.0 * RATE))
    assert gap < 10 * MS, f"the master was silent for {gap / MS:.1f} ms"
    # the poisoned harmony bus: silent while the bad synth lived, then heard again
    keys = audio[:, STEM_CHANNELS["harmony"]:STEM_CHANNELS["harmony"] + 2]
    quiet = np.all(np.abs(keys[int(0.6 * RATE):int(2.0 * RATE)]) < 1e-4, axis=1)
    back = int(np.nonzero(~quiet[int(0.05 * RATE):])[0][0]) + int(0.65 * RATE)
    silent_until = back / RATE
    assert silent_until < 1.5, f"the harmony bus was still silent at {silent_until:.3f} s"
    print(f"\nmaster: longest silence {gap / MS:.2f} ms between 0.15 and 2.0 s; harmony bus: "
          f"poisoned at 0.600 s, released at 0.800 s, sounding again at {silent_until:.4f} s")
    # the NaN synth really did output NaN, inf and a denormal
    assert {1.0, 2.0} <= set(bad_values), bad_values
    time.sleep(0.3)
    assert session.status().synths == baseline              # nothing hangs
    assert transport.child.alive()
    refusals = [line for line in transport.lines if "refused" in line]
    assert any("non_finite" in line for line in refusals), transport.lines
    assert any("out_of_range" in line for line in refusals), transport.lines
    assert all(len(line) < 600 for line in transport.lines)


def test_a_bad_ring_record_is_skipped_and_counted(transport: Transport) -> None:
    """A record that is not a playable note (NaN param, written raw into the ring) is
    refused by the dispatcher; the notes around it play."""
    session = transport.session
    baseline = session.status().synths
    writer = RingWriter(transport.ring, doorbell=transport.doorbell)
    try:
        due = time.time() + 0.1
        good = NoteEvent.make(due, "harmony", "keys", 60, 0.3, 0.5)
        raw = bytearray(RECORD.size)
        RECORD.pack_into(raw, 0, due, 0.5, 0.3, 2, 1, 62, 5, 0, 0, 1, math.nan)
        # write the bad record the way a foreign writer would: through the ring's memory
        assert writer.write(good)
        view = writer._view                                    # noqa: SLF001
        slot = (view.written & view.mask) * RECORD.size
        view.records[slot:slot + RECORD.size] = raw
        view.words[WRITE_INDEX_SLOT] = view.written + 1        # publish it
        assert writer.write(NoteEvent.make(due, "harmony", "keys", 64, 0.3, 0.5))
        os.eventfd_write(transport.doorbell, 1)
        time.sleep(0.3)
        assert session.status().synths == baseline + 2         # the two good notes
    finally:
        writer.close()
    transport.child.stop()
    assert any("ring test" in line and "non_finite" in line for line in transport.lines), \
        transport.lines
    summary = [line for line in transport.lines if "dispatcher: refused" in line]
    assert summary and "non_finite 1" in summary[-1], transport.lines


def test_event_port_refusals_are_bounded(transport: Transport) -> None:
    """20,000 bad datagrams from one sender: rate-limited and counted, at most a few log
    lines, and a good note from another sender right after still plays."""
    session = transport.session
    baseline = session.status().synths
    bad = encode_message("/performia/note", ["harmony", "keys", 60, 0.5, 0.5, math.nan])
    started = time.monotonic()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for i in range(20_000):
            sock.sendto(bad if i % 2 else b"x" * 4000, ("127.0.0.1", transport.port))
    took = time.monotonic() - started
    time.sleep(0.3)
    far = encode_bundle(time.time() + 3600, [note("drums", "kick", 36, 0.5, 0.0)])
    transport.send(far)                                       # an hour ahead: refused
    transport.send(encode_message(*note("melody", "lead", 72, 0.3, 0.3)))
    time.sleep(0.1)
    assert session.status().synths == baseline + 1           # only the good note
    transport.child.stop()
    refusals = [line for line in transport.lines if "refused from" in line]
    assert len(refusals) <= 3 * (took + 1.5) * 4 + 4, len(refusals)   # ≤ 1/s per reason
    assert all(len(line) < 600 for line in transport.lines)
    summary = [line for line in transport.lines if "OSC event port: refused" in line]
    assert summary and "beyond_horizon 1" in summary[-1], transport.lines
    print(f"\n{len(refusals)} log lines for 20,000 bad datagrams sent in {took:.2f} s; "
          f"{summary[-1]}")
