"""The note event: one fixed-size binary record, the unit every data path carries.

Layout (little-endian, 32 bytes, documented in docs/EVENTS.md):

    offset size type  field
    0      8    f64   time      seconds on the clock's time base (Unix epoch in real time)
    8      4    f32   duration  seconds a sustained note is held (0 for a hit)
    12     4    f32   velocity  0.0 .. 1.0
    16     1    u8    agent     index into AGENTS (or a live-coded agent registered later)
    17     1    u8    kind      NoteKind
    18     1    u8    pitch     MIDI note number 0..127
    19     1    u8    voice     index into VOICES (the instrument sound: kick, bass, keys, ...)
    20     2    u16   flags     bit 0: reactive (sent now, not at `time`)
    22     2    u16   reserved  zero
    24     4    u32   sequence  per-writer counter, wraps at 2**32
    28     4    f32   param     one free parameter (pan, brightness), voice-specific
"""

from __future__ import annotations

import enum
import math
import struct
from dataclasses import dataclass

RECORD = struct.Struct("<dffBBBBHHIf")
RECORD_SIZE = RECORD.size

AGENTS: tuple[str, ...] = ("drums", "bass", "harmony", "melody", "input", "test")
VOICES: tuple[str, ...] = (
    "kick", "snare", "hat", "openhat", "bass", "keys", "lead", "click", "answer", "guitar",
)
VOICE_AGENT: dict[str, str] = {
    "kick": "drums", "snare": "drums", "hat": "drums", "openhat": "drums",
    "bass": "bass", "keys": "harmony", "lead": "melody",
    "click": "test", "answer": "drums", "guitar": "input",
}
FLAG_REACTIVE = 1
MAX_DURATION = 30.0   # seconds: no note is held longer (docs/OSC_API.md)

# Why a record is refused (the counters' names: docs/OSC_API.md)
NON_FINITE = "non_finite"        # NaN or ±inf in a float field
OUT_OF_RANGE = "out_of_range"    # a value outside its documented range


class NoteValueError(ValueError):
    """A note field that cannot be played; `reason` is NON_FINITE or OUT_OF_RANGE."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class NoteKind(enum.IntEnum):
    HIT = 0       # a sound that ends by itself (drums, plucks): no release needed
    NOTE = 1      # a sustained note: released by the dispatcher after `duration`
    RELEASE = 2   # release every sounding note of this agent now (panic, agent stopped)


@dataclass(frozen=True, slots=True)
class NoteEvent:
    """An immutable note decision. Build with `NoteEvent.make(...)` to get checked names."""

    time: float
    agent: int
    voice: int
    pitch: int = 60
    velocity: float = 0.8
    duration: float = 0.0
    kind: NoteKind = NoteKind.HIT
    flags: int = 0
    sequence: int = 0
    param: float = 0.0

    def __post_init__(self) -> None:
        # every field, before anything reaches the server: NaN compares false with
        # everything, so finiteness is checked first and explicitly
        for name in ("time", "duration", "velocity", "param"):
            value = getattr(self, name)
            if not math.isfinite(value):
                raise NoteValueError(NON_FINITE, f"{name} must be a finite number, got {value}")
        if not 0 <= self.pitch <= 127:
            raise NoteValueError(OUT_OF_RANGE,
                                 f"pitch must be a MIDI note 0..127, got {self.pitch}")
        if not 0.0 <= self.velocity <= 1.0:
            raise NoteValueError(OUT_OF_RANGE,
                                 f"velocity must be between 0.0 and 1.0, got {self.velocity}")
        if not 0.0 <= self.duration <= MAX_DURATION:
            raise NoteValueError(OUT_OF_RANGE, f"duration must be 0..{MAX_DURATION:g} seconds, "
                                               f"got {self.duration}")
        if not 0.0 <= self.param <= 1.0:
            raise NoteValueError(OUT_OF_RANGE,
                                 f"param must be between 0.0 and 1.0, got {self.param}")
        if not 0 <= self.agent < 256 or not 0 <= self.voice < len(VOICES):
            raise NoteValueError(OUT_OF_RANGE,
                                 f"agent {self.agent} or voice {self.voice} out of range")
        if not 0 <= self.flags <= 0xFFFF or not 0 <= self.sequence:
            raise NoteValueError(OUT_OF_RANGE,
                                 f"flags {self.flags} or sequence {self.sequence} out of range")

    @classmethod
    def make(cls, time: float, agent: str, voice: str, pitch: int = 60, velocity: float = 0.8,
             duration: float = 0.0, *, reactive: bool = False, param: float = 0.0) -> NoteEvent:
        """A note by names: `NoteEvent.make(t, "drums", "kick", 36, 0.9)`."""
        kind = NoteKind.NOTE if duration > 0.0 and voice not in DRUM_VOICES else NoteKind.HIT
        return cls(time=time, agent=agent_index(agent), voice=voice_index(voice), pitch=pitch,
                   velocity=velocity, duration=duration, kind=kind,
                   flags=FLAG_REACTIVE if reactive else 0, param=param)

    @property
    def agent_name(self) -> str:
        return AGENTS[self.agent] if self.agent < len(AGENTS) else f"agent{self.agent}"

    @property
    def voice_name(self) -> str:
        return VOICES[self.voice]

    @property
    def reactive(self) -> bool:
        return bool(self.flags & FLAG_REACTIVE)

    def pack(self) -> bytes:
        return RECORD.pack(self.time, self.duration, self.velocity, self.agent, int(self.kind),
                           self.pitch, self.voice, self.flags, 0, self.sequence & 0xFFFFFFFF,
                           self.param)

    def pack_into(self, buffer: memoryview | bytearray, offset: int) -> None:
        RECORD.pack_into(buffer, offset, self.time, self.duration, self.velocity, self.agent,
                         int(self.kind), self.pitch, self.voice, self.flags, 0,
                         self.sequence & 0xFFFFFFFF, self.param)

    @classmethod
    def unpack(cls, data: bytes | memoryview, offset: int = 0) -> NoteEvent:
        (time, duration, velocity, agent, kind, pitch, voice, flags, _reserved, sequence,
         param) = RECORD.unpack_from(data, offset)
        if kind not in NoteKind.__members__.values():
            raise NoteValueError(OUT_OF_RANGE, f"kind must be 0, 1 or 2, got {kind}")
        return cls(time=time, agent=agent, voice=voice, pitch=pitch, velocity=velocity,
                   duration=duration, kind=NoteKind(kind), flags=flags, sequence=sequence,
                   param=param)


DRUM_VOICES = frozenset({"kick", "snare", "hat", "openhat", "click", "answer"})


def agent_index(name: str) -> int:
    try:
        return AGENTS.index(name)
    except ValueError:
        raise ValueError(f"unknown agent {name!r}: known agents are {', '.join(AGENTS)}") from None


def voice_index(name: str) -> int:
    try:
        return VOICES.index(name)
    except ValueError:
        raise ValueError(f"unknown voice {name!r}: known voices are {', '.join(VOICES)}") from None
