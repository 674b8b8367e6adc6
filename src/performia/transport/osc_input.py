"""The OSC fallback: note events as OSC from agents that cannot map the shared memory
(another machine, another language, sclang). See docs/OSC_API.md.

    /performia/note  agent:s voice:s midi:i velocity:f duration:f [param:f]
    /performia/release agent:s

A message inside a bundle sounds at the bundle's timetag ("immediately" = reactive, now);
a bare message sounds `latency` seconds after it arrives. A malformed message is logged,
counted and dropped: it never stops the music.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_message import OscMessage

from performia.events.note import AGENTS, FLAG_REACTIVE, NoteEvent, NoteKind, voice_index
from performia.server.osc import NTP_EPOCH_OFFSET

log = logging.getLogger(__name__)

NOTE_ADDRESS = "/performia/note"
RELEASE_ADDRESS = "/performia/release"


class OscInputError(ValueError):
    """A message that is not a valid Performia note."""


@dataclass
class OscInputStats:
    accepted: int = 0
    rejected: int = 0


def parse_note(args: list[Any], when: float | None, latency: float) -> NoteEvent:
    """A NoteEvent from /performia/note arguments; `when` None = immediately (reactive)."""
    if len(args) not in (5, 6):
        raise OscInputError(f"{NOTE_ADDRESS} takes agent, voice, midi, velocity, duration "
                            f"[, param]; got {len(args)} arguments")
    agent, voice, midi, velocity, duration = args[:5]
    param = args[5] if len(args) == 6 else 0.0
    if not isinstance(agent, str) or agent not in AGENTS:
        raise OscInputError(f"agent must be one of {', '.join(AGENTS)}; got {agent!r}")
    if not isinstance(voice, str):
        raise OscInputError(f"voice must be a string; got {voice!r}")
    numbers = (midi, velocity, duration, param)
    if any(isinstance(x, bool) or not isinstance(x, int | float) for x in numbers):
        raise OscInputError(f"midi, velocity, duration, param must be numbers; got {numbers!r}")
    try:
        voice_number = voice_index(voice)
        pitched = voice in ("bass", "keys", "lead", "guitar")
        return NoteEvent(time=when if when is not None else time.time(),
                         agent=AGENTS.index(agent), voice=voice_number, pitch=int(midi),
                         velocity=float(velocity), duration=float(duration),
                         kind=NoteKind.NOTE if pitched else NoteKind.HIT,
                         flags=FLAG_REACTIVE if when is None else 0, param=float(param))
    except ValueError as error:
        raise OscInputError(str(error)) from None


def release_event(args: list[Any]) -> NoteEvent:
    if len(args) != 1 or args[0] not in AGENTS:
        raise OscInputError(f"{RELEASE_ADDRESS} takes one agent name of {', '.join(AGENTS)}")
    return NoteEvent(time=time.time(), agent=AGENTS.index(args[0]), voice=0,
                     kind=NoteKind.RELEASE, flags=FLAG_REACTIVE)


class OscInput:
    """A UDP socket receiving notes; `handle_ready()` reads all waiting datagrams."""

    def __init__(self, host: str, port: int, deliver: Callable[[NoteEvent], None],
                 latency: float) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.sock.setblocking(False)
        self.deliver = deliver
        self.latency = latency
        self.stats = OscInputStats()

    def fileno(self) -> int:
        return self.sock.fileno()

    def handle_ready(self) -> None:
        while True:
            try:
                datagram, sender = self.sock.recvfrom(65536)
            except BlockingIOError:
                return
            try:
                for event in self._events(datagram):
                    self.deliver(event)
                    self.stats.accepted += 1
            except Exception as error:  # any malformed datagram: report it, keep playing
                self.stats.rejected += 1
                log.warning("OSC from %s:%d rejected: %s", sender[0], sender[1], error)

    def _events(self, datagram: bytes) -> list[NoteEvent]:
        arrived = time.time()
        if OscBundle.dgram_is_bundle(datagram):
            bundle = OscBundle(datagram)
            when = _bundle_time(datagram)
            return [self._one(m.address, list(m.params), when)
                    for m in bundle if isinstance(m, OscMessage)]
        message = OscMessage(datagram)
        return [self._one(message.address, list(message.params), arrived + self.latency)]

    def _one(self, address: str, args: list[Any], when: float | None) -> NoteEvent:
        if address == NOTE_ADDRESS:
            return parse_note(args, when, self.latency)
        if address == RELEASE_ADDRESS:
            return release_event(args)
        raise OscInputError(f"unknown address {address!r}: use {NOTE_ADDRESS} or "
                            f"{RELEASE_ADDRESS}")

    def close(self) -> None:
        self.sock.close()


def _bundle_time(datagram: bytes) -> float | None:
    """The bundle's timetag in Unix seconds, exactly; None for 'immediately'."""
    seconds = int.from_bytes(datagram[8:12], "big")
    fraction = int.from_bytes(datagram[12:16], "big")
    if seconds == 0 and fraction == 1:
        return None
    return seconds - NTP_EPOCH_OFFSET + fraction / 4294967296.0
