"""The sustain pedal through real JACK MIDI: our own jackd (dummy driver), a virtual output
port standing in for the interface, and PedalInput on the UNIX_JACK rtmidi API."""

from __future__ import annotations

import logging
import os
import queue
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import mido
import pytest

from performia.config import MidiConfig
from performia.listen.pedal import PedalInput, find_port, midi_api, midi_backend

pytestmark = pytest.mark.skipif(shutil.which("jackd") is None or shutil.which("jack_wait") is None,
                                reason="jackd (jackd2) not installed")

API = "UNIX_JACK"


@pytest.fixture
def jack_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A private JACK server; this process's JACK clients (rtmidi's) connect only to it."""
    name = f"pedaltest{os.getpid()}"
    monkeypatch.setenv("JACK_DEFAULT_SERVER", name)
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    process = subprocess.Popen(["jackd", "-n", name, "-d", "dummy", "-r", "48000", "-p", "256"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_running(process)
        yield name
    finally:
        _stop(process)


def _wait_running(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"jackd exited at start with status {process.returncode}")
        result = subprocess.run(["jack_wait", "-c"], capture_output=True, text=True,
                                timeout=10, check=False)
        if result.stdout.strip() == "running":
            return
        time.sleep(0.1)
    pytest.fail("jackd did not answer within 10 s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None:
            return
        os.killpg(process.pid, sig)          # jackd leads its own group: only our process
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            continue


def _until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def _take(modes: queue.Queue[str], count: int, timeout: float = 3.0) -> list[str]:
    got: list[str] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        try:
            got.append(modes.get(timeout=max(deadline - time.monotonic(), 0.01)))
        except queue.Empty:
            break
    return got


def _press_until_heard(output: Any, modes: queue.Queue[str], control: int = 64,
                       timeout: float = 5.0) -> str | None:
    """Press the pedal until the first mode arrives: JACK connects the new ports within a
    cycle or two, and a press sent before that is lost. Repeated presses count once."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        output.send(_cc(control, 127))
        try:
            return modes.get(timeout=0.05)
        except queue.Empty:
            continue
    return None


def _interface(name: str = "Quantum 2626 test") -> Any:
    return midi_backend(API).open_output(name, virtual=True, client_name="fake-interface")


def _cc(control: int, value: int) -> mido.Message:
    return mido.Message("control_change", control=control, value=value)


def test_midi_api_follows_the_alsa_sequencer() -> None:
    expected = "LINUX_ALSA" if os.path.exists("/dev/snd/seq") else "UNIX_JACK"
    assert midi_api() == expected


def test_find_port_by_substring() -> None:
    names = ["Midi Through:0", "fake-interface:Quantum 2626 test"]
    assert find_port(names, "quantum 2626") == "fake-interface:Quantum 2626 test"
    assert find_port(names, "Launchpad") is None


def test_pedal_press_and_release_switch_modes_in_order(jack_server: str) -> None:
    modes: queue.Queue[str] = queue.Queue()
    output = _interface()
    pedal = PedalInput(MidiConfig(), modes.put, retry=0.2, api=API)
    try:
        pedal.start()
        assert pedal.port_name is not None and "Quantum 2626" in pedal.port_name
        assert _press_until_heard(output, modes) == "listen"
        output.send(_cc(64, 120))                # still down: no second call
        output.send(_cc(1, 0))                   # another controller: ignored
        output.send(_cc(64, 0))
        output.send(_cc(64, 127))
        assert _take(modes, 2) == ["play", "listen"]
        assert modes.empty()
    finally:
        pedal.close()
        output.close()
    assert pedal.port_name is None


def test_controller_and_modes_come_from_the_config(jack_server: str) -> None:
    modes: queue.Queue[str] = queue.Queue()
    output = _interface()
    config = MidiConfig(port="2626", pedal_cc=67, pedal_down_mode="play",
                        pedal_up_mode="follow")
    with PedalInput(config, modes.put, retry=0.2, api=API) as pedal:
        assert pedal.port_name is not None
        assert _press_until_heard(output, modes, control=67) == "play"
        output.send(_cc(64, 0))                  # the sustain CC is not ours now
        output.send(_cc(64, 127))
        output.send(_cc(67, 0))
        assert _take(modes, 2) == ["follow"]
    output.close()


def test_missing_port_warns_once_and_is_picked_up_when_it_appears(
        jack_server: str, caplog: pytest.LogCaptureFixture) -> None:
    modes: queue.Queue[str] = queue.Queue()
    caplog.set_level(logging.INFO, logger="performia.listen.pedal")
    pedal = PedalInput(MidiConfig(), modes.put, retry=0.2, api=API)
    output = None
    try:
        pedal.start()
        assert pedal.port_name is None
        time.sleep(0.7)                          # several retries: still one warning
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert "Quantum 2626" in warnings[0].getMessage()
        assert "without the pedal" in warnings[0].getMessage()
        output = _interface()
        assert _until(lambda: pedal.port_name is not None, timeout=5.0)
        assert _press_until_heard(output, modes) == "listen"
        output.send(_cc(64, 0))
        assert _take(modes, 1) == ["play"]
        output.close()
        output = None                            # the interface is unplugged
        assert _until(lambda: pedal.port_name is None, timeout=5.0)
        assert any("went away" in r.getMessage() for r in caplog.records)
    finally:
        pedal.close()
        if output is not None:
            output.close()


def test_a_pedal_watched_before_jack_answers_is_heard_once_it_does(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """JACK is not running yet when the pedal is watched (or had a hiccup): one error line,
    then the MIDI client is tried again at every look, and once JACK runs the pedal is
    found and heard, with no restart of the band. (The looks are 2 s apart, as in the
    band, and JACK starts 0.3 s after one: a client opened while jackd is still starting
    can leave the whole graph silent, seen with looks 0.2 s apart in 3 of 5 runs: every
    port connected, no message through. The band's JACK is up before its pedal is
    watched.)"""
    name = f"pedallate{os.getpid()}"
    monkeypatch.setenv("JACK_DEFAULT_SERVER", name)
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    caplog.set_level(logging.INFO, logger="performia.listen.pedal")
    modes: queue.Queue[str] = queue.Queue()
    pedal = PedalInput(MidiConfig(), modes.put, api=API)     # looks every 2 s
    process = None
    output = None
    try:
        pedal.start()
        time.sleep(4.3)                          # two more looks without JACK: one line
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1 and "trying again" in errors[0].getMessage()
        process = subprocess.Popen(["jackd", "-n", name, "-d", "dummy", "-r", "48000", "-p",
                                    "256"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
        _wait_running(process)
        output = _interface()
        assert _until(lambda: pedal.port_name is not None, timeout=5.0)
        assert _press_until_heard(output, modes) == "listen"
        assert any("MIDI client is open" in r.getMessage() for r in caplog.records)
    finally:
        pedal.close()
        if output is not None:
            output.close()
        if process is not None:
            _stop(process)
