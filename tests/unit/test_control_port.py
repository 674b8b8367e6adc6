"""The conductor's control port over real UDP: /performia/mode reaches its handler; bad
datagrams are counted, logged and dropped, and the port keeps working after them."""

from __future__ import annotations

import logging
import queue
import socket

import pytest

from performia.conductor.control import (
    MODE_ADDRESS,
    ControlPort,
    ControlSender,
    mode_command,
)
from performia.config import MODES
from performia.server.osc import encode_message


@pytest.fixture
def port() -> tuple[ControlPort, queue.Queue[str]]:
    modes: queue.Queue[str] = queue.Queue()
    control = ControlPort("127.0.0.1", 0, {MODE_ADDRESS: mode_command(modes.put, MODES)})
    control.start()
    yield control, modes
    control.close()


def _send(port: int, datagram: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(datagram, ("127.0.0.1", port))


def test_a_mode_sent_by_the_pedal_sender_arrives(port: tuple[ControlPort, queue.Queue[str]]
                                                 ) -> None:
    control, modes = port
    sender = ControlSender("127.0.0.1", control.port)
    try:
        for mode in ("listen", "play", "follow"):
            sender.set_mode(mode)
            assert modes.get(timeout=2) == mode
    finally:
        sender.close()
    assert control.accepted == 3 and control.rejected == 0


def test_bad_commands_are_dropped_and_the_port_keeps_working(
        port: tuple[ControlPort, queue.Queue[str]], caplog: pytest.LogCaptureFixture) -> None:
    control, modes = port
    caplog.set_level(logging.WARNING, logger="performia.conductor.control")
    _send(control.port, b"not osc at all")
    _send(control.port, encode_message(MODE_ADDRESS, ["sing"]))
    _send(control.port, encode_message(MODE_ADDRESS, []))
    _send(control.port, encode_message("/performia/tempo", [140.0]))
    _send(control.port, encode_message(MODE_ADDRESS, ["play"]))
    assert modes.get(timeout=2) == "play"
    assert modes.empty()
    assert control.rejected == 4 and control.accepted == 1
    text = caplog.text
    assert "not OSC" in text and "listen, play, follow" in text and "unknown command" in text


def test_a_taken_port_is_a_clear_os_error(port: tuple[ControlPort, queue.Queue[str]]) -> None:
    control, _ = port
    with pytest.raises(OSError):
        ControlPort("127.0.0.1", control.port, {})
