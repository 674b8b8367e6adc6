"""Which SynthDef, group and bus each voice plays through; how an event becomes /s_new."""

from __future__ import annotations

from dataclasses import dataclass

from performia.events.note import VOICE_AGENT, VOICES
from performia.server.tree import INPUT, INSTRUMENT_BUSES, INSTRUMENT_GROUPS

GATED_VOICES = frozenset({"bass", "keys", "lead", "guitar"})
TEST_VOICES = frozenset({"click", "answer"})
MAX_NOTE_SECONDS = 30.0   # no note is held longer, whatever an agent asks: nothing can hang
MIN_NOTE_SECONDS = 0.02


@dataclass(frozen=True)
class Voice:
    synthdef: str
    group: int
    bus: int
    gated: bool     # sustained with a gate: the dispatcher must release it


def _route(voice: str) -> Voice:
    instrument = VOICE_AGENT[voice]
    if voice in TEST_VOICES:   # measurement clicks and answers: their own bus, beside the band
        group, bus = INSTRUMENT_GROUPS["drums"], INSTRUMENT_BUSES["test"]
    elif instrument in INSTRUMENT_GROUPS:
        group, bus = INSTRUMENT_GROUPS[instrument], INSTRUMENT_BUSES[instrument]
    elif instrument == "input":
        group, bus = INPUT, INSTRUMENT_BUSES["input"]
    else:
        raise ValueError(f"voice {voice!r} has no instrument to play through")
    return Voice(synthdef=voice, group=group, bus=bus, gated=voice in GATED_VOICES)


ROUTES: tuple[Voice, ...] = tuple(_route(v) for v in VOICES)


def midi_to_hz(midi: float) -> float:
    return float(440.0 * 2.0 ** ((midi - 69.0) / 12.0))
