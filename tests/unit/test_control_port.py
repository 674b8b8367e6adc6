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


# -- bounded input, the secret and the allow-list (issue 14), replies --------------------


def _exchange(port: int, datagram: bytes, timeout: float = 2.0) -> list[tuple[str, list]]:
    """Send `datagram` from a fresh socket and return what came back (within `timeout`)."""
    from performia.server.osc import decode
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(timeout)
        sock.sendto(datagram, ("127.0.0.1", port))
        return decode(sock.recvfrom(65536)[0])


def test_a_command_is_answered_done(port: tuple[ControlPort, queue.Queue[str]]) -> None:
    control, modes = port
    assert _exchange(control.port, encode_message(MODE_ADDRESS, ["play"])) == [
        ("/performia/done", [MODE_ADDRESS])]
    assert _exchange(control.port, encode_message(MODE_ADDRESS, ["sing"]))[0][0] == \
        "/performia/fail"


def test_a_flood_from_one_sender_is_rate_limited_and_summed_up_at_close(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="performia.conductor.control")
    modes: queue.Queue[str] = queue.Queue()
    control = ControlPort("127.0.0.1", 0, {MODE_ADDRESS: mode_command(modes.put, MODES)},
                          rate_limit=5)
    for _ in range(50):
        control.handle(encode_message(MODE_ADDRESS, ["play"]), ("127.0.0.1", 5000))
    control.handle(encode_message(MODE_ADDRESS, ["play"]), ("127.0.0.1", 5001))  # another
    assert control.accepted == 6 and control.rejects.counts == {"rate_limited": 45}
    lines = [r for r in caplog.records if "rate_limited" in r.getMessage()]
    assert len(lines) == 1                          # one line per reason per second
    control.start()
    control.close()
    assert "control port: refused 45 (rate_limited 45); 6 commands accepted" in caplog.text


def test_logged_payloads_are_cut(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="performia.conductor.control")
    control = ControlPort("127.0.0.1", 0, {})
    try:
        control.handle(b"x" * 60000, ("127.0.0.1", 5000))
    finally:
        control.close()
    assert max(len(r.getMessage()) for r in caplog.records) < 700


def test_with_a_secret_only_authenticated_senders_are_obeyed() -> None:
    from performia.server.osc import encode_bundle
    modes: queue.Queue[str] = queue.Queue()
    control = ControlPort("127.0.0.1", 0, {MODE_ADDRESS: mode_command(modes.put, MODES)},
                          secret="s3cret").start()
    try:
        assert _exchange(control.port, encode_message(MODE_ADDRESS, ["play"]))[0] == (
            "/performia/fail", [MODE_ADDRESS, "send /performia/auth with the secret first"])
        wrong = encode_bundle(None, [("/performia/auth", ["guess"]), (MODE_ADDRESS, ["play"])])
        assert _exchange(control.port, wrong)[0][0] == "/performia/fail"
        assert modes.empty()
        sender = ControlSender("127.0.0.1", control.port, secret="s3cret")  # as the pedal
        try:
            sender.set_mode("listen")
            assert modes.get(timeout=2) == "listen"
        finally:
            sender.close()
        assert control.rejects.counts == {"unauthorized": 3}
    finally:
        control.close()


def test_an_allow_list_refuses_other_addresses() -> None:
    modes: queue.Queue[str] = queue.Queue()
    control = ControlPort("127.0.0.1", 0, {MODE_ADDRESS: mode_command(modes.put, MODES)},
                          allow=("10.0.0.0/8",))
    try:
        control.handle(encode_message(MODE_ADDRESS, ["play"]), ("127.0.0.1", 5000))
        control.handle(encode_message(MODE_ADDRESS, ["listen"]), ("10.1.2.3", 5000))
    finally:
        control.close()
    assert control.rejects.counts == {"not_allowed": 1}
    assert modes.get_nowait() == "listen" and modes.empty()


def test_too_many_messages_in_one_datagram_are_refused() -> None:
    from performia.server.osc import encode_bundle
    modes: queue.Queue[str] = queue.Queue()
    control = ControlPort("127.0.0.1", 0, {MODE_ADDRESS: mode_command(modes.put, MODES)})
    try:
        control.handle(encode_bundle(None, [(MODE_ADDRESS, ["play"])] * 65), ("127.0.0.1", 1))
    finally:
        control.close()
    assert control.rejects.counts == {"too_many_messages": 1} and modes.empty()
