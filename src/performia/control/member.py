"""A band member as the band loop sees it: the built-in agent, or its live-coded
replacement when that one's bar is ready, with the member's mute, octave and volume.

Everything here runs on the band loop's thread. A live-coded bar is chosen once, on the
bar's first step, and kept for the whole bar: a bar is never half one version and half
another. Each step's time is measured (`last_ms`, `longest_ms`, `overruns`).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Protocol

from performia.band.agent import Agent, Step
from performia.band.styles import STRAIGHT, Musician, Style
from performia.control.settings import PITCHED, AgentSettings
from performia.events.note import NoteEvent, NoteKind
from performia.live.protocol import BarNotes


class LiveBars(Protocol):
    """Where computed bars of live-coded agents come from (live/host.py)."""

    def bar_notes(self, agent: str, bar: int) -> BarNotes | None: ...


class Member:
    def __init__(self, builtin: Agent, live: LiveBars | None = None,
                 budget_ms: float = 1.0) -> None:
        self.builtin = builtin
        self.name = builtin.name
        self.live = live
        self.settings = AgentSettings()           # replaced (not mutated) at bar lines
        self.budget_ms = budget_ms
        self.playing_live: str | None = None      # the file whose bar is playing
        self.bad_notes = 0
        self.last_ms = 0.0
        self.longest_ms = 0.0
        self.overruns = 0                         # steps over the budget (all agents)
        self._bar: int | None = None
        self._plan: BarNotes | None = None

    def restyle(self, style: Style, intensity: float | None) -> None:
        """A new style (patterns, density, swing) and intensity for the built-in agent."""
        if isinstance(self.builtin, Musician):
            self.builtin.style = style
            self.builtin.intensity = style.intensity if intensity is None else intensity

    @property
    def swing(self) -> float:
        if isinstance(self.builtin, Musician):
            return self.builtin.style.swing
        return STRAIGHT

    def step(self, step: Step) -> list[NoteEvent]:
        settings = self.settings
        if settings.muted:
            self._bar = None
            return []
        started = time.perf_counter()
        events: list[NoteEvent] | None = None
        if self.live is not None:
            if step.bar != self._bar:
                self._bar = step.bar
                self._plan = self.live.bar_notes(self.name, step.bar)
                self.playing_live = self._plan.path if self._plan is not None else None
            if self._plan is not None:
                index = round(step.beat_in_bar / step.length)
                events, bad = self._plan.events(index, step.beat, step.time_at, self.swing)
                self.bad_notes += bad
        if events is None:
            events = self.builtin.step(step)
        octave = settings.octave if self.name in PITCHED else 0
        if octave or settings.volume != 1.0:
            events = [shaped(e, octave, settings.volume) for e in events]
        self.last_ms = (time.perf_counter() - started) * 1000.0
        self.longest_ms = max(self.longest_ms, self.last_ms)
        if self.last_ms > self.budget_ms:
            self.overruns += 1
        return events


def shaped(event: NoteEvent, octave: int, volume: float) -> NoteEvent:
    """`event` moved by `octave`s and its velocity × `volume` (both kept in range)."""
    if event.kind == NoteKind.RELEASE:
        return event
    pitch = event.pitch + 12 * octave
    while pitch > 127:
        pitch -= 12
    while pitch < 0:
        pitch += 12
    return dataclasses.replace(event, pitch=pitch,
                               velocity=min(1.0, event.velocity * volume))
