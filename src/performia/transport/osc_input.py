"""The OSC fallback: note events as OSC from agents that cannot map the shared memory
(another machine, another language, sclang). See docs/OSC_API.md.

    /performia/note  agent:s voice:s midi:i velocity:f duration:f [param:f]
    /performia/release agent:s

A message inside a bundle sounds at the bundle's timetag ("immediately" = reactive, now);
a bare message sounds `latency` seconds after it arrives. Nested bundles are flattened (each
message at its innermost bundle's timetag), at most MAX_BUNDLE_DEPTH deep. Whatever a
datagram says, it cannot reach the server unchecked: every field of every note is validated
(no NaN, no infinity, nothing outside its documented range), timetags further ahead than the
horizon or further behind than the late limit are refused, a message cut short is refused
(python-osc would pad a cut-off float with zeros), each sender is rate-limited, and every
refusal is counted per reason (logged at most once per reason per second). The music goes
on.
"""

from __future__ import annotations

import logging
import math
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from performia.events.note import (
    AGENTS,
    FLAG_REACTIVE,
    NON_FINITE,
    OUT_OF_RANGE,
    NoteEvent,
    NoteKind,
    NoteValueError,
    voice_index,
)
from performia.server.osc import NTP_EPOCH_OFFSET, OscDecodeError, decode_message
from performia.transport.guard import (
    ANCILLARY_SPACE,
    KERNEL_DROPPED,
    RATE_LIMITED,
    TOO_LATE,
    RateLimiter,
    Rejects,
    kernel_drops,
    watch_kernel_drops,
)

log = logging.getLogger(__name__)

NOTE_ADDRESS = "/performia/note"
RELEASE_ADDRESS = "/performia/release"

MAX_BUNDLE_DEPTH = 4          # a bundle in a bundle in ... deeper than this is refused
MAX_MESSAGES = 64             # notes in one datagram
MAX_DATAGRAMS_PER_WAKE = 64   # then the rings get their turn (a flood cannot starve them)
DEFAULT_HORIZON_S = 30.0
DEFAULT_LATE_LIMIT_S = 1.0    # a note timetagged further in the past is stale: refused
DEFAULT_RATE = 2000.0

# reasons a datagram, bundle or message is refused (docs/OSC_API.md)
NOT_OSC = "not_osc"
UNKNOWN_ADDRESS = "unknown_address"
BAD_ARGUMENTS = "bad_arguments"
BEYOND_HORIZON = "beyond_horizon"
NESTED_TOO_DEEP = "nested_too_deep"
TOO_MANY_MESSAGES = "too_many_messages"

_BUNDLE_HEAD = b"#bundle\0"
_IMMEDIATELY = (0, 1)


class OscInputError(ValueError):
    """A message that is not a valid Performia note; `reason` names the counter."""

    def __init__(self, message: str, reason: str = BAD_ARGUMENTS) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class OscInputStats:
    accepted: int = 0
    rejects: Rejects = field(default_factory=lambda: Rejects("OSC event port"))

    @property
    def rejected(self) -> int:
        return self.rejects.total


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
    if any(isinstance(x, float) and not math.isfinite(x) for x in numbers):
        raise OscInputError(f"midi, velocity, duration, param must be finite; got {numbers!r}",
                            NON_FINITE)
    if isinstance(midi, float) and not midi.is_integer():
        raise OscInputError(f"midi must be a whole MIDI note number; got {midi!r}")
    try:
        voice_number = voice_index(voice)
    except ValueError as error:
        raise OscInputError(str(error)) from None
    pitched = voice in ("bass", "keys", "lead", "guitar")
    try:
        return NoteEvent(time=when if when is not None else time.time(),
                         agent=AGENTS.index(agent), voice=voice_number, pitch=int(midi),
                         velocity=float(velocity), duration=float(duration),
                         kind=NoteKind.NOTE if pitched else NoteKind.HIT,
                         flags=FLAG_REACTIVE if when is None else 0, param=float(param))
    except NoteValueError as error:
        raise OscInputError(str(error), error.reason) from None
    except (ValueError, OverflowError) as error:
        raise OscInputError(str(error), OUT_OF_RANGE) from None


def release_event(args: list[Any]) -> NoteEvent:
    if len(args) != 1 or args[0] not in AGENTS:
        raise OscInputError(f"{RELEASE_ADDRESS} takes one agent name of {', '.join(AGENTS)}")
    return NoteEvent(time=time.time(), agent=AGENTS.index(args[0]), voice=0,
                     kind=NoteKind.RELEASE, flags=FLAG_REACTIVE)


Timed = tuple[float | None, bytes]     # (timetag in Unix seconds or None = now, message)


def split_datagram(datagram: bytes, depth: int = 0) -> list[Timed]:
    """Every message in `datagram` with the timetag of its innermost bundle (a bare message
    gets NaN: 'on arrival'). Raises OscInputError for a malformed or too deep bundle, or one
    holding more than MAX_MESSAGES messages."""
    if not datagram.startswith(_BUNDLE_HEAD):
        return [(math.nan, datagram)]
    if depth >= MAX_BUNDLE_DEPTH:
        raise OscInputError(f"bundles nested deeper than {MAX_BUNDLE_DEPTH}", NESTED_TOO_DEEP)
    if len(datagram) < 16:
        raise OscInputError("a bundle without its timetag", NOT_OSC)
    when = bundle_time(datagram)
    out: list[Timed] = []
    at = 16
    while at < len(datagram):
        if at + 4 > len(datagram):
            raise OscInputError(f"a bundle element's size cut off at byte {at}", NOT_OSC)
        size = int.from_bytes(datagram[at:at + 4], "big", signed=True)
        at += 4
        if size <= 0 or size % 4 or at + size > len(datagram):
            raise OscInputError(f"a bundle element of {size} bytes at byte {at} does not fit "
                                f"the {len(datagram)}-byte datagram", NOT_OSC)
        element = datagram[at:at + size]
        at += size
        if element.startswith(_BUNDLE_HEAD):
            out += split_datagram(element, depth + 1)
        else:
            out.append((when, element))
        if len(out) > MAX_MESSAGES:
            raise OscInputError(f"more than {MAX_MESSAGES} messages in one datagram",
                                TOO_MANY_MESSAGES)
    return out


class OscInput:
    """A UDP socket receiving notes; `handle_ready()` reads the waiting datagrams (at most
    MAX_DATAGRAMS_PER_WAKE, so the rings keep their turn under a flood)."""

    def __init__(self, host: str, port: int, deliver: Callable[[NoteEvent], None],
                 latency: float, *, horizon: float = DEFAULT_HORIZON_S,
                 late_limit: float = DEFAULT_LATE_LIMIT_S, rate: float = DEFAULT_RATE,
                 clock: Callable[[], float] = time.time) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.sock.setblocking(False)
        self.deliver = deliver
        self.latency = latency
        self.horizon = horizon
        self.late_limit = late_limit
        self.clock = clock
        self.limiter = RateLimiter(rate)
        self.stats = OscInputStats()
        self._kernel_dropped = 0
        self._watching_drops = watch_kernel_drops(self.sock)

    def fileno(self) -> int:
        return self.sock.fileno()

    def handle_ready(self) -> None:
        for _ in range(MAX_DATAGRAMS_PER_WAKE):
            try:
                datagram, ancdata, _flags, sender = self.sock.recvmsg(65536, ANCILLARY_SPACE)
            except BlockingIOError:
                return
            if self._watching_drops:
                self._count_kernel_drops(ancdata)
            self.handle(datagram, sender)

    def handle(self, datagram: bytes, sender: tuple[str, int]) -> None:
        """Check one datagram and deliver its notes; count and log what is refused."""
        who = f"{sender[0]}:{sender[1]}"
        rejects = self.stats.rejects
        if not self.limiter.allow(sender):
            rejects.refuse(RATE_LIMITED, who, f"more than {self.limiter.rate:g} datagrams/s")
            return
        arrived = self.clock()
        try:
            messages = split_datagram(datagram)
        except OscInputError as error:
            rejects.refuse(error.reason, who, error, datagram)
            return
        for when, raw in messages:
            if when is None or math.isnan(when):
                at: float | None = arrived + self.latency if when is not None else None
            elif when - arrived > self.horizon:
                rejects.refuse(BEYOND_HORIZON, who, f"timetag {when - arrived:.1f} s ahead "
                               f"(the horizon is {self.horizon:g} s)", raw)
                continue
            elif arrived - when > self.late_limit:
                rejects.refuse(TOO_LATE, who, f"timetag {arrived - when:.1f} s in the past "
                               f"(the late limit is {self.late_limit:g} s)", raw)
                continue
            else:
                at = when
            try:
                event = self._one(raw, at)
            except OscInputError as error:
                rejects.refuse(error.reason, who, error, raw)
                continue
            self.deliver(event)
            self.stats.accepted += 1

    def _one(self, raw: bytes, when: float | None) -> NoteEvent:
        try:
            address, args = decode_message(raw)
        except OscDecodeError as error:
            raise OscInputError(str(error), NOT_OSC) from None
        except Exception as error:  # python-osc raises several kinds for a malformed message
            raise OscInputError(f"not an OSC message ({error})", NOT_OSC) from None
        if address == NOTE_ADDRESS:
            return parse_note(args, when, self.latency)
        if address == RELEASE_ADDRESS:
            return release_event(args)
        raise OscInputError(f"unknown address {address!r}: use {NOTE_ADDRESS} or "
                            f"{RELEASE_ADDRESS}", UNKNOWN_ADDRESS)

    def _count_kernel_drops(self, ancdata: list[tuple[int, int, bytes]]) -> None:
        total = kernel_drops(ancdata)
        if total is None:
            return
        new = (total - self._kernel_dropped) & 0xFFFFFFFF
        if new:
            self._kernel_dropped = total
            self.stats.rejects.refuse(KERNEL_DROPPED, "the kernel",
                                      f"{new} datagrams dropped: the receive queue was full",
                                      count=new)

    def close(self) -> None:
        self.sock.close()


def bundle_time(datagram: bytes) -> float | None:
    """The bundle's timetag in Unix seconds, exactly; None for 'immediately'."""
    seconds = int.from_bytes(datagram[8:12], "big")
    fraction = int.from_bytes(datagram[12:16], "big")
    if (seconds, fraction) == _IMMEDIATELY:
        return None
    return seconds - NTP_EPOCH_OFFSET + fraction / 4294967296.0

