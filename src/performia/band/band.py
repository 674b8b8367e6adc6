"""Putting the band together and running one step for everybody.

    agents = make_band("funk", seed=7)                  # drums, bass, harmony, melody
    events = play_step(agents, own_rng(step))           # every sixteenth, a lookahead early

`play_step` calls the agents in band order (drums first, so the bass hears this step's
kick), adds each agent's notes to `step.memory` and returns all notes in that order.
Everything here is pure: no clock, no I/O, randomness only from the agents' seeded dice.
"""

from __future__ import annotations

import dataclasses
import random
import zlib
from collections.abc import Callable, Sequence

from performia.band import styles
from performia.band.agent import Agent, Step
from performia.band.bass import BassAgent
from performia.band.drums import DrumsAgent
from performia.band.harmony import HarmonyAgent
from performia.band.melody import MelodyAgent
from performia.band.styles import Musician
from performia.events.note import NoteEvent

BAND_ORDER: tuple[str, ...] = ("drums", "bass", "harmony", "melody")
_MEMBERS: tuple[type[Musician], ...] = (DrumsAgent, BassAgent, HarmonyAgent, MelodyAgent)


def agent_seed(seed: int, agent: str) -> int:
    """A member's own seed, derived from the band's seed and its name (stable across runs)."""
    return (seed * 1_000_003 + zlib.crc32(agent.encode("utf-8"))) % 2**32


def make_band(style: str, seed: int, intensity: float | None = None) -> list[Agent]:
    """The four members in playing order (drums, bass, harmony, melody).

    style: "rock", "funk", "ballad" or "jazz-swing" (ValueError lists them otherwise);
    seed: the band's seed; each member gets `agent_seed(seed, name)` and its own
    `random.Random` as `.rng`; intensity: 0..1, or None for the style's default.
    """
    preset = styles.style(style)
    return [member(preset, intensity, agent_seed(seed, member.name)) for member in _MEMBERS]


def set_intensity(agents: Sequence[Agent], intensity: float) -> None:
    """Turn the whole band up or down (0..1); members without an intensity are skipped."""
    for agent in agents:
        if isinstance(agent, Musician):
            agent.intensity = intensity


def own_rng(step: Step) -> Callable[[Agent], Step]:
    """A `step_for_agent` giving every member the shared step with its own seeded dice."""
    def for_agent(agent: Agent) -> Step:
        rng = getattr(agent, "rng", None)
        return dataclasses.replace(step, rng=rng) if isinstance(rng, random.Random) else step
    return for_agent


def play_step(agents: Sequence[Agent], step_for_agent: Callable[[Agent], Step]) -> list[NoteEvent]:
    """Run one step for every agent in order, adding each one's notes to the band's memory.

    `step_for_agent(agent)` returns the Step that agent sees (the same position, harmony,
    listening and memory for all; the agent's own rng). Returns every note, in band order.
    """
    played: list[NoteEvent] = []
    for agent in agents:
        step = step_for_agent(agent)
        events = agent.step(step)
        for event in events:
            step.memory.add(agent.name, event)
        played.extend(events)
    return played
