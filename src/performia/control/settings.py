"""What a musician can change while the band plays, as one immutable value.

`BandSettings` holds the tempo, key, style, the progression of play mode, the pattern
overrides and every agent's parameters. It is never mutated: a change makes a new value
(`with_tempo`, `with_pattern`, ...), and the band loop swaps it in whole at the moment the
change is due (control/band.py). Other threads (the control port answering a query, the
session writer, the state publisher) read `settings` with one attribute load and always see
a whole, consistent value. The same value is what a session file stores.

Every `with_*` validates its argument and raises `ValueError` with the accepted values.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from performia.band.patterns import Pattern, parse_pattern
from performia.band.styles import MAX_SWING, STRAIGHT, DrumPart, Style
from performia.band.styles import style as style_preset
from performia.config import STYLES, Config
from performia.theory import Chord, Key

BAND: tuple[str, ...] = ("drums", "bass", "harmony", "melody")
AGENT_VOICES: dict[str, tuple[str, ...]] = {
    "drums": ("kick", "snare", "hat", "openhat"),
    "bass": ("bass",),
    "harmony": ("keys",),
    "melody": ("lead",),
}
MIN_TEMPO, MAX_TEMPO = 20.0, 400.0           # the config's range for [timing] tempo
MAX_CHORDS = 64
MAX_PATTERN_CHARS = 256


@dataclass(frozen=True, slots=True)
class Param:
    """An agent parameter set by `/performia/agent/<name>/<param> f`."""

    low: float
    high: float
    agents: tuple[str, ...]      # the built-in agents it changes (live agents read them all)
    doc: str
    whole: bool = False          # a whole number (octave)

    def check(self, name: str, value: float) -> float:
        if not math.isfinite(value) or not self.low <= value <= self.high:
            raise ValueError(f"{name} must be between {self.low:g} and {self.high:g}, "
                             f"got {value!r}")
        if self.whole and value != int(value):
            raise ValueError(f"{name} must be a whole number, got {value!r}")
        return float(value)


PITCHED = ("bass", "harmony", "melody")
PARAMS: dict[str, Param] = {
    "intensity": Param(0.0, 1.0, BAND, "how hard and busy the player is (default: the "
                                       "style's)"),
    "density": Param(0.0, 1.0, PITCHED, "the chance of optional notes (default: the "
                                        "style's)"),
    "octave": Param(-2.0, 2.0, PITCHED, "octaves up (+) or down (-) of every note", True),
    "swing": Param(STRAIGHT, MAX_SWING - 0.01, BAND, "0.5 straight .. 0.74 (default: the "
                                                     "style's)"),
    "volume": Param(0.0, 2.0, BAND, "velocity factor (1 = as played; capped at full)"),
}


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True, slots=True)
class AgentSettings:
    """One agent's mute and parameters (only the parameters that were set)."""

    muted: bool = False
    params: Mapping[str, float] = field(default_factory=lambda: _frozen({}))

    def param(self, name: str, default: float) -> float:
        return self.params.get(name, default)

    @property
    def octave(self) -> int:
        return int(self.params.get("octave", 0.0))

    @property
    def volume(self) -> float:
        return self.params.get("volume", 1.0)

    def to_json(self) -> dict[str, Any]:
        return {"muted": self.muted, **dict(self.params)}


@dataclass(frozen=True, slots=True)
class BandSettings:
    tempo: float
    key: str
    style: str
    progression: tuple[str, ...]
    patterns: Mapping[str, str] = field(default_factory=lambda: _frozen({}))  # "drums/kick"
    agents: Mapping[str, AgentSettings] = field(
        default_factory=lambda: _frozen({name: AgentSettings() for name in BAND}))

    @classmethod
    def from_config(cls, config: Config) -> BandSettings:
        return cls(tempo=config.timing.tempo, key=Key.parse(config.band.key).label,
                   style=config.band.style,
                   progression=tuple(Chord.parse(c).label for c in config.band.progression))

    # -- changes (each returns a new value) -------------------------------------------------

    def with_tempo(self, bpm: float) -> BandSettings:
        if not math.isfinite(bpm) or not MIN_TEMPO <= bpm <= MAX_TEMPO:
            raise ValueError(f"tempo must be between {MIN_TEMPO:g} and {MAX_TEMPO:g} BPM, "
                             f"got {bpm!r}")
        return dataclasses.replace(self, tempo=float(bpm))

    def with_key(self, label: str) -> BandSettings:
        return dataclasses.replace(self, key=Key.parse(label).label)

    def with_style(self, name: str) -> BandSettings:
        if name not in STYLES:
            raise ValueError(f"unknown style {name!r}: choose one of {', '.join(STYLES)}")
        return dataclasses.replace(self, style=name)

    def with_progression(self, labels: tuple[str, ...]) -> BandSettings:
        return dataclasses.replace(self, progression=parse_progression(" ".join(labels)))

    def with_pattern(self, agent: str, voice: str, text: str | None) -> BandSettings:
        """Override the pattern of `agent`'s `voice` (None: back to the style's)."""
        check_voice(agent, voice)
        patterns = dict(self.patterns)
        if text is None:
            patterns.pop(f"{agent}/{voice}", None)
        else:
            patterns[f"{agent}/{voice}"] = check_pattern(text).text
        return dataclasses.replace(self, patterns=_frozen(patterns))

    def with_mute(self, agent: str, muted: bool) -> BandSettings:
        check_agent(agent)
        current = self.agents[agent]
        return self._with_agent(agent, dataclasses.replace(current, muted=muted))

    def with_param(self, agent: str, name: str, value: float) -> BandSettings:
        check_agent(agent)
        param = PARAMS.get(name)
        if param is None:
            raise ValueError(f"unknown parameter {name!r}: use mute or one of "
                             f"{', '.join(PARAMS)}")
        checked = param.check(name, value)
        current = self.agents[agent]
        params = {**current.params, name: checked}
        return self._with_agent(agent, dataclasses.replace(current, params=_frozen(params)))

    def _with_agent(self, agent: str, value: AgentSettings) -> BandSettings:
        agents = {**self.agents, agent: value}
        return dataclasses.replace(self, agents=_frozen(agents))

    # -- derived ------------------------------------------------------------------------------

    def pattern_text(self, agent: str, voice: str) -> str:
        """The pattern `agent`'s `voice` plays: the override, else the style's."""
        override = self.patterns.get(f"{agent}/{voice}")
        if override is not None:
            return override
        preset = style_preset(self.style)
        if agent == "drums":
            part: DrumPart = getattr(preset.drums, voice)
            return part.groove.text
        if agent == "bass":
            return preset.bass.pattern.text
        if agent == "harmony":
            return preset.harmony.patterns[0].text
        return "X..............."      # the built-in melody phrases freely: no pattern

    def to_json(self) -> dict[str, Any]:
        return {"tempo": self.tempo, "key": self.key, "style": self.style,
                "progression": list(self.progression), "patterns": dict(self.patterns),
                "agents": {name: a.to_json() for name, a in self.agents.items()}}


def check_agent(agent: str) -> None:
    if agent not in BAND:
        raise ValueError(f"unknown agent {agent!r}: use one of {', '.join(BAND)}")


def check_voice(agent: str, voice: str) -> None:
    check_agent(agent)
    if voice not in AGENT_VOICES[agent]:
        raise ValueError(f"{agent} has no voice {voice!r}: use one of "
                         f"{', '.join(AGENT_VOICES[agent])}")


def check_pattern(text: str) -> Pattern:
    if len(text) > MAX_PATTERN_CHARS:
        raise ValueError(f"a pattern has at most {MAX_PATTERN_CHARS} characters")
    return parse_pattern(text)


def parse_progression(text: str) -> tuple[str, ...]:
    """'G:maj D:maj E:min C:maj' (spaces, commas or '|' between chords) → labels."""
    labels = [part for part in text.replace(",", " ").replace("|", " ").split() if part]
    if not labels:
        raise ValueError("a progression needs at least one chord, e.g. \"G:maj D:maj E:min\"")
    if len(labels) > MAX_CHORDS:
        raise ValueError(f"a progression has at most {MAX_CHORDS} chords")
    return tuple(Chord.parse(label).label for label in labels)


def member_style(settings: BandSettings, agent: str) -> Style:
    """The style a built-in agent plays: the preset with this agent's pattern overrides and
    parameters (density, swing) applied."""
    preset = style_preset(settings.style)
    params = settings.agents[agent].params
    style = preset
    overrides = {voice: parse_pattern(text) for key, text in settings.patterns.items()
                 for a, _, voice in [key.partition("/")] if a == agent}
    if agent == "drums" and overrides:
        kit = dataclasses.replace(preset.drums, **{voice: DrumPart(p, p)
                                                   for voice, p in overrides.items()})
        style = dataclasses.replace(style, drums=kit)
    if agent == "bass" and ("bass" in overrides or "density" in params):
        bass = preset.bass
        bass = dataclasses.replace(bass, pattern=overrides.get("bass", bass.pattern),
                                   density=params.get("density", bass.density))
        style = dataclasses.replace(style, bass=bass)
    if agent == "harmony" and ("keys" in overrides or "density" in params):
        comp = preset.harmony
        patterns = (overrides["keys"],) if "keys" in overrides else comp.patterns
        comp = dataclasses.replace(comp, patterns=patterns,
                                   density=params.get("density", comp.density))
        style = dataclasses.replace(style, harmony=comp)
    if agent == "melody" and "density" in params:
        style = dataclasses.replace(style, melody=dataclasses.replace(
            preset.melody, density=params["density"]))
    if "swing" in params:
        style = dataclasses.replace(style, swing=params["swing"])
    return style
