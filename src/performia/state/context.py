"""What the listening side shares with the agents, field by field: the harmonic context
(key, progression, the chord heard) and what is heard of the guitarist (level, pitch,
playing, the pedal's mode). The follower replaces the values it sets (a new `Key`, a new
progression list), so a reader in another thread sees the old or the new value."""

from __future__ import annotations

from dataclasses import dataclass

from performia.theory import Chord, Key


@dataclass
class Listening:
    """What the band hears of the guitarist (updated by listen/; read by agents)."""

    playing: bool = False          # the guitar is sounding now
    last_onset_time: float = 0.0   # time of the last detected onset (clock seconds)
    level: float = 0.0             # input amplitude 0..1
    pitch: float = 0.0             # detected pitch in Hz (0 = none)
    mode: str = "play"             # listening mode set by the pedal: "listen" or "play"


@dataclass
class HarmonicContext:
    """Key and progression shared by all agents; one chord per bar, looping."""

    key: Key
    progression: list[Chord]
    heard_chord: Chord | None = None   # latest chord the listening side recognised
    following: bool = False            # play the heard chord (listen/follow modes)

    @classmethod
    def from_labels(cls, key: str, progression: list[str] | tuple[str, ...]) -> HarmonicContext:
        if not progression:
            raise ValueError("a progression needs at least one chord")
        return cls(Key.parse(key), [Chord.parse(label) for label in progression])

    def chord_at_bar(self, bar: int) -> Chord:
        """The chord to play in `bar`: the one heard while following the guitar, else the
        progression's (which loops)."""
        if self.following and self.heard_chord is not None:
            return self.heard_chord
        return self.progression[bar % len(self.progression)]
