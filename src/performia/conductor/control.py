"""The conductor's control port: OSC commands that change what the band does, from the
manager (the sustain pedal) or from anyone on the machine (see docs/OSC_API.md).

    /performia/mode  mode:s      listen | play | follow

A thread at the lowest real-time priority blocks on the socket (holding no lock while it
waits) and hands each command to its handler. A malformed or unknown command is logged and
dropped: it never stops the band.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from typing import Any

from performia.processes import set_background_realtime
from performia.server.osc import decode, encode_message

log = logging.getLogger(__name__)

MODE_ADDRESS = "/performia/mode"

Command = Callable[[list[Any]], None]


class ControlError(ValueError):
    """A control command with the wrong arguments."""


class ControlPort:
    """A UDP socket bound to `(host, port)`; `commands` maps an OSC address to its handler."""

    def __init__(self, host: str, port: int, commands: dict[str, Command]) -> None:
        self.commands = dict(commands)
        self.accepted = 0
        self.rejected = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, name="control-port", daemon=True)

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def start(self) -> ControlPort:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            # wake the blocked receive with an empty datagram (no polling while we wait)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as waker:
                waker.sendto(b"", self.sock.getsockname())
            self._thread.join(timeout=2.0)
        self.sock.close()

    def _receive(self) -> None:
        # commands are not time-critical: the lowest real-time priority, below the band's
        set_background_realtime("control port")
        while True:
            try:
                datagram, sender = self.sock.recvfrom(65536)
            except OSError:
                return                             # closed
            if self._stop.is_set():
                return
            self.handle(datagram, f"{sender[0]}:{sender[1]}")

    def handle(self, datagram: bytes, sender: str = "?") -> None:
        """Run every command in `datagram`; log and count the ones that cannot run."""
        try:
            messages = decode(datagram)
        except Exception as error:  # not OSC at all
            self.rejected += 1
            log.warning("control: datagram from %s is not OSC (%s); dropped", sender, error)
            return
        for address, args in messages:
            command = self.commands.get(address)
            if command is None:
                self.rejected += 1
                log.warning("control: unknown command %r from %s (known: %s)", address, sender,
                            ", ".join(sorted(self.commands)))
                continue
            try:
                command(args)
                self.accepted += 1
            except ControlError as error:
                self.rejected += 1
                log.warning("control: %s from %s rejected: %s", address, sender, error)
            except Exception:
                self.rejected += 1
                log.exception("control: %s %r from %s failed", address, args, sender)


def mode_command(set_mode: Callable[[str], None], modes: tuple[str, ...]) -> Command:
    """/performia/mode s → `set_mode(s)`, for one of `modes`."""
    def command(args: list[Any]) -> None:
        if len(args) != 1 or args[0] not in modes:
            raise ControlError(f"{MODE_ADDRESS} takes one of {', '.join(modes)}; got {args!r}")
        set_mode(str(args[0]))
    return command


class ControlSender:
    """Sends control commands to a conductor's control port (used for the pedal)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def set_mode(self, mode: str) -> None:
        self.sock.sendto(encode_message(MODE_ADDRESS, [mode]), self.target)

    def close(self) -> None:
        self.sock.close()
