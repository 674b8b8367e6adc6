"""Issue 14, bad input without a server: every field of a note checked (OSC and ring), the
event port bounded (rate limit per sender, timetag horizon, nested bundles, refusals counted
per reason and logged at most once per reason per second, payloads truncated), the send
socket on the loopback address, and the command line refusing a non-finite --duration."""

from __future__ import annotations

import logging
import math
import socket
import struct
import time
from collections.abc import Iterator

import pytest
from pythonosc.osc_message_builder import OscMessageBuilder

from performia.config import ConfigError, config_from_dict, load_config
from performia.events.note import (
    NON_FINITE,
    OUT_OF_RANGE,
    RECORD,
    NoteEvent,
    NoteKind,
    NoteValueError,
)
from performia.events.ring import RingReader, RingWriter, create_ring
from performia.server.osc import encode_bundle, encode_message, local_socket, timetag
from performia.transport.dispatcher import Dispatcher
from performia.transport.guard import RateLimiter, Rejects, truncated
from performia.transport.osc_input import MAX_BUNDLE_DEPTH, OscInput
from tests.conftest import run_cli

SENDER = ("127.0.0.1", 40000)


# --- the note record ----------------------------------------------------------------------

@pytest.mark.parametrize(("field", "value", "reason"), [
    ("param", math.nan, NON_FINITE), ("param", math.inf, NON_FINITE),
    ("param", -math.inf, NON_FINITE), ("velocity", math.nan, NON_FINITE),
    ("duration", math.nan, NON_FINITE), ("duration", math.inf, NON_FINITE),
    ("time", math.nan, NON_FINITE), ("time", math.inf, NON_FINITE),
    ("param", 1.5, OUT_OF_RANGE), ("param", -0.1, OUT_OF_RANGE),
    ("velocity", 1.01, OUT_OF_RANGE), ("velocity", -0.5, OUT_OF_RANGE),
    ("duration", -0.1, OUT_OF_RANGE), ("duration", 30.5, OUT_OF_RANGE),
    ("pitch", 128, OUT_OF_RANGE), ("pitch", -1, OUT_OF_RANGE),
    ("voice", 10, OUT_OF_RANGE), ("agent", 256, OUT_OF_RANGE),
])
def test_every_field_of_a_note_is_checked(field: str, value: float, reason: str) -> None:
    fields: dict[str, float] = {"time": 1.0, "agent": 2, "voice": 5, "pitch": 60,
                                "velocity": 0.5, "duration": 0.5, "param": 0.5}
    NoteEvent(**fields)                                    # type: ignore[arg-type]
    fields[field] = value
    with pytest.raises(NoteValueError, match=field) as refused:
        NoteEvent(**fields)                                # type: ignore[arg-type]
    assert refused.value.reason == reason


def test_a_ring_record_that_is_not_a_note_is_skipped_and_counted() -> None:
    shm = create_ring(f"performia_unit_{id(object())}", 16)
    try:
        writer, reader = RingWriter(shm), RingReader(shm)
        writer.write(NoteEvent.make(1.0, "harmony", "keys", 60, 0.5, 0.5))
        view = writer._view                                   # noqa: SLF001
        for param, kind in ((math.nan, 1), (0.5, 9), (math.inf, 1)):   # written raw
            slot = (view.written & view.mask) * RECORD.size
            RECORD.pack_into(view.records, slot, 1.0, 0.5, 0.5, 2, kind, 60, 5, 0, 0, 0, param)
            view.words[8] = view.written + 1
        writer.write(NoteEvent.make(1.0, "harmony", "keys", 64, 0.5, 0.5))
        events = reader.read_all()
        assert [e.pitch for e in events] == [60, 64]
        assert reader.refused == {NON_FINITE: 2, OUT_OF_RANGE: 1}
        assert reader.pending == 0                            # never stuck on a bad record
        writer.close()
        reader.close()
    finally:
        shm.close()
        shm.unlink()


# --- the event port -----------------------------------------------------------------------

@pytest.fixture
def osc() -> Iterator[tuple[OscInput, list[NoteEvent]]]:
    notes: list[NoteEvent] = []
    port = OscInput("127.0.0.1", 0, notes.append, latency=0.003, horizon=30.0, rate=100)
    yield port, notes
    port.close()


def note(*args: float | str) -> bytes:
    return encode_message("/performia/note", list(args))


@pytest.mark.parametrize(("args", "reason"), [
    (("harmony", "keys", 60, 0.5, 0.5, math.nan), "non_finite"),
    (("harmony", "keys", 60, 0.5, 0.5, math.inf), "non_finite"),
    (("bass", "bass", 40, 0.5, 0.5, -math.inf), "non_finite"),
    (("bass", "bass", 40, math.nan, 0.5), "non_finite"),
    (("melody", "lead", 72, 0.5, math.inf), "non_finite"),
    (("melody", "lead", math.nan, 0.5, 0.5), "non_finite"),
    (("harmony", "keys", 60, 0.5, 0.5, 1.5), "out_of_range"),
    (("harmony", "keys", 60, 1.5, 0.5), "out_of_range"),
    (("harmony", "keys", 60, 0.5, -1.0), "out_of_range"),
    (("harmony", "keys", 60, 0.5, 31.0), "out_of_range"),
    (("harmony", "keys", 200, 0.5, 0.5), "out_of_range"),
    (("harmony", "keys", 2**31 - 1, 0.5, 0.5), "out_of_range"),
    (("harmony", "keys", 60.5, 0.5, 0.5), "bad_arguments"),
    (("harmony", "cowbell", 60, 0.5, 0.5), "bad_arguments"),
    (("harmony", "keys", "60", 0.5, 0.5), "bad_arguments"),
    (("harmony", "keys", 60, 0.5), "bad_arguments"),
])
def test_a_bad_note_is_refused_with_its_reason(osc: tuple[OscInput, list[NoteEvent]],
                                                args: tuple[float | str, ...],
                                                reason: str) -> None:
    port, notes = osc
    port.handle(note(*args), SENDER)
    port.handle(encode_bundle(time.time() + 0.1, [("/performia/note", list(args))]), SENDER)
    assert notes == []
    assert port.stats.rejects.counts == {reason: 2}


def test_good_notes_pass(osc: tuple[OscInput, list[NoteEvent]]) -> None:
    port, notes = osc
    when = time.time() + 0.5
    port.handle(note("harmony", "keys", 60, 0.5, 0.5, 1.0), SENDER)
    port.handle(note("drums", "kick", 36.0, 1.0, 0.0), SENDER)        # a whole float: fine
    port.handle(encode_bundle(when, [("/performia/note", ["bass", "bass", 40, 0.5, 30.0])]),
                SENDER)
    port.handle(encode_bundle(None, [("/performia/release", ["bass"])]), SENDER)
    assert [n.pitch for n in notes[:3]] == [60, 36, 40]
    assert abs(notes[2].time - when) < 1e-6
    assert notes[3].kind == NoteKind.RELEASE
    assert port.stats.rejects.counts == {} and port.stats.accepted == 4


def _nest(depth: int, inner: bytes, when: float) -> bytes:
    for _ in range(depth):
        inner = b"#bundle\0" + timetag(when) + struct.pack(">i", len(inner)) + inner
    return inner


def test_nested_bundles_are_flattened_up_to_a_depth(osc: tuple[OscInput, list[NoteEvent]]
                                                    ) -> None:
    port, notes = osc
    when = time.time() + 1.0
    message = note("melody", "lead", 72, 0.5, 0.5)
    port.handle(_nest(MAX_BUNDLE_DEPTH, message, when), SENDER)
    assert len(notes) == 1 and abs(notes[0].time - when) < 1e-6
    port.handle(_nest(MAX_BUNDLE_DEPTH + 1, message, when), SENDER)
    port.handle(_nest(3000, message, when), SENDER)       # no recursion blow-up either
    assert len(notes) == 1
    assert port.stats.rejects.counts == {"nested_too_deep": 2}


def test_timetags_beyond_the_horizon_are_refused(osc: tuple[OscInput, list[NoteEvent]]) -> None:
    port, notes = osc
    message = ("/performia/note", ["drums", "kick", 36, 0.5, 0.0])
    port.handle(encode_bundle(time.time() + 29.0, [message]), SENDER)
    port.handle(encode_bundle(time.time() + 31.0, [message]), SENDER)
    port.handle(encode_bundle(time.time() + 3600.0, [message]), SENDER)
    last = encode_bundle(time.time(), [message])
    port.handle(last[:8] + b"\xff" * 8 + last[16:], SENDER)        # the year 2036
    assert len(notes) == 1
    assert port.stats.rejects.counts == {"beyond_horizon": 3}


def test_a_note_cut_short_is_refused_at_every_length(
        osc: tuple[OscInput, list[NoteEvent]]) -> None:
    """python-osc pads a float cut off at the end with zeros (for Reaktor): without the size
    check, a note missing its duration would parse and play."""
    port, notes = osc
    whole = note("drums", "kick", 36, 0.5, 0.1)
    for end in range(1, len(whole)):
        port.handle(whole[:end], SENDER)
    assert notes == [] and port.stats.rejects.total == len(whole) - 1
    port.handle(whole, SENDER)
    doubles = OscMessageBuilder("/performia/note")
    for value, tag in (("bass", "s"), ("bass", "s"), (40, "i"), (0.5, "d"), (0.25, "d")):
        doubles.add_arg(value, tag)
    port.handle(doubles.build().dgram, SENDER)                   # 8-byte floats: fine
    assert [(n.pitch, n.duration) for n in notes] == [(36, pytest.approx(0.1)), (40, 0.25)]


def test_timetags_further_in_the_past_than_the_late_limit_are_refused(
        osc: tuple[OscInput, list[NoteEvent]]) -> None:
    """A note a little late sounds on arrival; one seconds late is stale (1 s by default)."""
    port, notes = osc
    message = ("/performia/note", ["bass", "bass", 40, 0.5, 0.5])
    slightly = time.time() - 0.5
    port.handle(encode_bundle(slightly, [message]), SENDER)
    port.handle(encode_bundle(time.time() - 5.0, [message]), SENDER)
    port.handle(encode_bundle(1.0, [message]), SENDER)                 # 1970
    assert [round(n.time, 6) for n in notes] == [round(slightly, 6)]
    assert port.stats.rejects.counts == {"too_late": 2}


@pytest.mark.parametrize("datagram", [
    b"garbage", b"#bundle\0", b"#bundle\0" + bytes(8) + b"\xff\xff\xff\xf0",
    b"#bundle\0" + bytes(8) + struct.pack(">i", 4000) + b"/x\0\0", b"/performia/note\0,s",
    b"", b"\0" * 100,
])
def test_malformed_datagrams_are_counted(osc: tuple[OscInput, list[NoteEvent]],
                                         datagram: bytes) -> None:
    port, notes = osc
    port.handle(datagram, SENDER)
    assert notes == [] and port.stats.rejects.total == 1


def test_too_many_messages_in_one_datagram(osc: tuple[OscInput, list[NoteEvent]]) -> None:
    port, notes = osc
    message = ("/performia/note", ["drums", "hat", 42, 0.5, 0.0])
    port.handle(encode_bundle(time.time() + 0.1, [message] * 65), SENDER)
    assert notes == [] and port.stats.rejects.counts == {"too_many_messages": 1}


def test_rate_limit_per_sender(osc: tuple[OscInput, list[NoteEvent]]) -> None:
    port, notes = osc                                    # rate 100/s, bursts of 100
    good = note("drums", "hat", 42, 0.5, 0.0)
    for _ in range(150):
        port.handle(good, SENDER)
    port.handle(good, ("127.0.0.1", 40001))              # another sender is not held back
    assert 100 <= len(notes) <= 103
    assert 47 <= port.stats.rejects.counts["rate_limited"] <= 50


def test_rate_limiter_refills_and_bounds_its_table() -> None:
    now = [0.0]
    limiter = RateLimiter(10, max_senders=4, clock=lambda: now[0])
    assert sum(limiter.allow("a") for _ in range(20)) == 10
    now[0] += 0.5
    assert sum(limiter.allow("a") for _ in range(20)) == 5
    for i in range(100):
        limiter.allow(i)
    assert limiter.senders <= 4


def test_one_log_line_per_reason_per_second_and_payloads_truncated(
        caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    rejects = Rejects("test port", clock=lambda: now[0])
    with caplog.at_level(logging.WARNING):
        for i in range(10_000):
            now[0] = i * 0.0005                              # 5 s of refusals
            rejects.refuse("not_osc", "127.0.0.1:1", "x" * 5000, b"y" * 60_000)
            rejects.refuse("rate_limited", "127.0.0.1:1", "too fast")
    lines = [r.getMessage() for r in caplog.records]
    assert 9 <= len(lines) <= 10                             # 5 s × 2 reasons
    assert all(len(line) < 550 for line in lines), max(map(len, lines))
    assert "more since the last line" in lines[-1]
    assert rejects.counts == {"not_osc": 10_000, "rate_limited": 10_000}
    assert rejects.summary() == "test port: refused 20000 (not_osc 10000, rate_limited 10000)"
    assert len(truncated(b"z" * 10_000)) <= 200


def test_a_flood_over_real_udp_is_read_in_bounded_batches() -> None:
    notes: list[NoteEvent] = []
    port = OscInput("127.0.0.1", 0, notes.append, latency=0.003, rate=1_000_000)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for _ in range(200):
                sock.sendto(note("drums", "hat", 42, 0.5, 0.0), port.sock.getsockname())
        time.sleep(0.1)
        port.handle_ready()
        assert len(notes) == 64                               # the rings get their turn
        while len(notes) < 200:
            port.handle_ready()
    finally:
        port.close()


# --- bind, config, command line ----------------------------------------------------------

def test_the_send_sockets_are_bound_to_the_loopback_address() -> None:
    dispatcher = Dispatcher(("127.0.0.1", 57110))
    try:
        assert dispatcher.sock.getsockname()[0] == "127.0.0.1"
    finally:
        dispatcher.close()
    with local_socket("127.0.0.1") as sock:
        assert sock.getsockname()[0] == "127.0.0.1"
    with local_socket("127.0.0.1", bind="0.0.0.0") as sock:      # configured otherwise
        assert sock.getsockname()[0] == "0.0.0.0"


def test_osc_limits_in_the_config() -> None:
    config = load_config()
    assert config.osc.timetag_horizon == 30.0 and config.osc.rate_limit == 2000
    assert config.osc.late_limit == 1.0
    for key, value in (("timetag_horizon", math.nan), ("timetag_horizon", math.inf),
                       ("timetag_horizon", 0.0), ("late_limit", -1.0), ("late_limit", math.nan),
                       ("rate_limit", 0), ("rate_limit", 1.5)):
        with pytest.raises(ConfigError, match=f"\\[osc\\] {key}"):
            config_from_dict({"osc": {key: value}})


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-5", "0", "NaN", "abc"])
def test_a_duration_that_is_not_a_finite_positive_number_is_refused(value: str) -> None:
    result = run_cli("--realtime", f"--duration={value}", "--no-gui", timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"performia: --duration {value}:"), lines


@pytest.mark.parametrize(("flag", "path", "reason"), [
    ("--record", "/proc/no-such-folder/out.wav", "no directory /proc/no-such-folder"),
    ("--stems", "/tmp", "is a directory"),
])
def test_an_unwritable_recording_is_refused_before_anything_starts(flag: str, path: str,
                                                                  reason: str) -> None:
    started = time.monotonic()
    result = run_cli("--realtime", "--duration=2", "--no-gui", flag, path, timeout=60)
    assert result.returncode == 2, result.stderr
    assert f"{flag} {path}: cannot be written ({reason})" in result.stderr
    assert "supernova" not in result.stderr          # found before the server boots
    assert time.monotonic() - started < 30
