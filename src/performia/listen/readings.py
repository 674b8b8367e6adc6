"""What the analysis synth reports, parsed from its SendReply messages.

SendReply sends `address [nodeID, replyID, value, ...]`. The caller stamps each message with
the time it arrived (clock seconds) and gets a frozen reading, or a ValueError naming what
is wrong with the message (the caller logs it and drops the message).

    /pitch    [node, id, freq, hasFreq, amp]
    /spectrum [node, id, m0 .. m799]         a 16,384-point magnitude spectrum (the chords)
    /bands    [node, id, m1 .. m128]         a 1,024-point magnitude spectrum (the onsets)
    /take_end [node, id, buf]                a rehearsal take has played to its end

The spectra are described in frontend.py; their magnitudes arrive as a read-only numpy
array (a frame is checked as a whole: any non-finite or negative value rejects it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from performia.listen.frontend import CHORD_SPECTRUM, ONSET_BANDS

Magnitudes = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class PitchReading:
    time: float
    node: int
    reply_id: int
    freq: float          # Hz; meaningful only when has_freq
    has_freq: bool
    amp: float           # input amplitude (peak follower), 0..1 for a clean input


@dataclass(frozen=True, slots=True, eq=False)
class SpectrumReading:
    """A frame of CHORD_SPECTRUM; `time` is when it arrived (its last sample + the path)."""

    time: float
    node: int
    reply_id: int
    magnitudes: Magnitudes


@dataclass(frozen=True, slots=True, eq=False)
class BandsReading:
    """A frame of ONSET_BANDS."""

    time: float
    node: int
    reply_id: int
    magnitudes: Magnitudes


@dataclass(frozen=True, slots=True)
class TakeEndReading:
    time: float
    node: int
    reply_id: int


Reading = PitchReading | SpectrumReading | BandsReading | TakeEndReading

_VALUES = {"/pitch": 3, "/spectrum": CHORD_SPECTRUM.bins, "/bands": ONSET_BANDS.bins,
           "/take_end": 1}
ADDRESSES = tuple(_VALUES)
_FRAMES: dict[str, type[SpectrumReading] | type[BandsReading]] = {
    "/spectrum": SpectrumReading, "/bands": BandsReading}


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
    frame = _FRAMES.get(address)
    if frame is not None:
        return frame(time, node, reply_id, _magnitudes(address, args[2:]))
    values = [_number(address, i, arg) for i, arg in enumerate(args[2:])]
    if address == "/pitch":
        freq, has_freq, amp = values
        return PitchReading(time, node, reply_id, max(freq, 0.0), has_freq > 0.5, max(amp, 0.0))
    return TakeEndReading(time, node, reply_id)


def frame(address: str, node: int, reply_id: int, values: npt.ArrayLike,
          time: float) -> SpectrumReading | BandsReading:
    """A /spectrum or /bands frame already read as numbers (the socket's fast path)."""
    kind = _FRAMES.get(address)
    if kind is None:
        raise ValueError(f"{address!r} is not a spectrum frame ({', '.join(_FRAMES)})")
    magnitudes = np.array(values, dtype=np.float64)
    if magnitudes.shape != (_VALUES[address],):
        raise ValueError(f"{address} carries {magnitudes.size} values, expected "
                         f"{_VALUES[address]}")
    return kind(time, node, reply_id, _checked(address, magnitudes))


def _magnitudes(address: str, values: Sequence[object]) -> Magnitudes:
    """A frame's values as a read-only array; ValueError if any is not a finite number ≥ 0."""
    try:
        frame = np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{address}: every value must be a number ({error})") from None
    if frame.ndim != 1 or any(isinstance(v, bool | str | bytes) for v in values):
        raise ValueError(f"{address}: every value must be a number")
    return _checked(address, frame)


def _checked(address: str, frame: Magnitudes) -> Magnitudes:
    bad = ~np.isfinite(frame) | (frame < 0)
    if bad.any():
        index = int(np.argmax(bad))
        raise ValueError(f"{address}: value {index} is not a finite magnitude ({frame[index]})")
    frame.flags.writeable = False
    return frame


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
