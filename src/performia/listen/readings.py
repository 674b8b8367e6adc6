"""What the analysis synth reports, parsed from its SendReply messages.

SendReply sends `address [nodeID, replyID, value, ...]`. The caller stamps each message with
the time it arrived (clock seconds) and gets a frozen reading, or a ValueError naming what
is wrong with the message (the caller logs it and drops the message).

    /pitch    [node, id, freq, hasFreq, amp]
    /onset    [node, id, amp]
    /chroma   [node, id, c0 .. c11]          pitch classes C .. B
    /take_end [node, id, buf]                a rehearsal take has played to its end
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

CHROMA_BINS = 12


@dataclass(frozen=True, slots=True)
class PitchReading:
    time: float
    node: int
    reply_id: int
    freq: float          # Hz; meaningful only when has_freq
    has_freq: bool
    amp: float           # input amplitude (peak follower), 0..1 for a clean input


@dataclass(frozen=True, slots=True)
class OnsetReading:
    time: float
    node: int
    reply_id: int
    amp: float


@dataclass(frozen=True, slots=True)
class ChromaReading:
    time: float
    node: int
    reply_id: int
    chroma: tuple[float, ...]   # 12 energies, C first


@dataclass(frozen=True, slots=True)
class TakeEndReading:
    time: float
    node: int
    reply_id: int


Reading = PitchReading | OnsetReading | ChromaReading | TakeEndReading

_VALUES = {"/pitch": 3, "/onset": 1, "/chroma": CHROMA_BINS, "/take_end": 1}
ADDRESSES = tuple(_VALUES)


def parse(address: str, args: Sequence[object], time: float) -> Reading:
    """One SendReply message → a reading stamped `time`. ValueError if it is malformed."""
    if address not in _VALUES:
        raise ValueError(f"{address!r} is not an analysis reply (expected one of "
                         f"{', '.join(ADDRESSES)})")
    expected = 2 + _VALUES[address]
    if len(args) != expected:
        raise ValueError(f"{address} carries {len(args)} arguments, expected {expected} "
                         f"(nodeID, replyID and {_VALUES[address]} values)")
    node = _whole(address, "nodeID", args[0])
    reply_id = _whole(address, "replyID", args[1])
    values = [_number(address, i, arg) for i, arg in enumerate(args[2:])]
    if address == "/pitch":
        freq, has_freq, amp = values
        return PitchReading(time, node, reply_id, max(freq, 0.0), has_freq > 0.5, max(amp, 0.0))
    if address == "/onset":
        return OnsetReading(time, node, reply_id, max(values[0], 0.0))
    if address == "/chroma":
        return ChromaReading(time, node, reply_id, tuple(max(v, 0.0) for v in values))
    return TakeEndReading(time, node, reply_id)


def _whole(address: str, name: str, arg: object) -> int:
    if isinstance(arg, bool):
        raise ValueError(f"{address}: {name} must be a number, got {arg!r}")
    if isinstance(arg, int):
        return arg
    if isinstance(arg, float) and arg.is_integer():
        return int(arg)
    raise ValueError(f"{address}: {name} must be a whole number, got {arg!r}")


def _number(address: str, index: int, arg: object) -> float:
    if isinstance(arg, bool) or not isinstance(arg, int | float):
        raise ValueError(f"{address}: value {index} must be a number, got {arg!r}")
    value = float(arg)
    if not math.isfinite(value):
        raise ValueError(f"{address}: value {index} is not finite ({value})")
    return value
