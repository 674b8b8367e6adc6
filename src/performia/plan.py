"""What the manager hands each child process: the validated config and the shared resources
(ring names and their doorbell fds, the song's start time). Passed as one JSON argument.

A restarted conductor also gets `resume`: what the band was doing when the one before it
died (mode, progression, key, tempo), read by the manager from the state snapshot that
conductor was publishing (`resume_from_snapshot`), so it carries on where it was instead of
starting over in the config's initial mode."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import sys
from dataclasses import dataclass, field
from typing import Any

from performia.config import MODES, Config, config_from_dict
from performia.processes import set_realtime
from performia.theory import Chord, Key
from performia.timing.tempo import TempoMap

ANSWER_RING = "answers"   # the conductor's reactive answers: a ring of their own, one writer


@dataclass(frozen=True)
class RingSpec:
    agent: str
    shm_name: str
    doorbell: int


@dataclass(frozen=True)
class PerformancePlan:
    config: Config
    start_time: float                      # Unix time of beat 0 (= t 0 of --record/--events)
    rings: tuple[RingSpec, ...] = ()
    state_name: str = ""                   # shared-memory name of the state snapshot
    health_name: str = ""                  # shared-memory name of the server health counters
    events_path: str = ""                  # --events FILE ("" = none)
    input_path: str = ""                   # --input take ("" = live input / rehearsal take)
    gui: bool = True                       # a GUI reads the state snapshot (--no-gui: no)
    extra: dict[str, Any] = field(default_factory=dict)
    resume: dict[str, Any] = field(default_factory=dict)   # see resume_from_snapshot

    # -- what a (restarted) conductor starts with ---------------------------------------
    def tempo_map(self) -> TempoMap:
        """The song's time base: the config's tempo from beat 0 at `start_time`, or the
        tempo a dead conductor was playing, anchored where its snapshot says it was."""
        beats_per_bar = self.config.timing.beats_per_bar
        resume = self.resume
        if "bpm" in resume:
            return TempoMap(bpm=float(resume["bpm"]), t0=float(resume["t0"]),
                            b0=float(resume["b0"]), beats_per_bar=beats_per_bar)
        return TempoMap(bpm=self.config.timing.tempo, t0=self.start_time,
                        beats_per_bar=beats_per_bar)

    @property
    def key(self) -> str:
        return str(self.resume.get("key", self.config.band.key))

    @property
    def progression(self) -> list[str]:
        return [str(c) for c in self.resume.get("progression", self.config.band.progression)]

    @property
    def initial_mode(self) -> str:
        return str(self.resume.get("mode", self.config.midi.initial_mode))

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        return json.dumps(data)

    @classmethod
    def for_child(cls, name: str, priority: int, argv: list[str] | None = None
                  ) -> PerformancePlan:
        """A child process's start: its log format, its plan (argv[0]), SCHED_FIFO."""
        args = sys.argv[1:] if argv is None else argv
        logging.basicConfig(level=logging.INFO, format=f"%(levelname)s {name}: %(message)s")
        plan = cls.from_json(args[0])
        set_realtime(priority, name)
        return plan

    @classmethod
    def from_json(cls, text: str) -> PerformancePlan:
        data = json.loads(text)
        data["config"] = config_from_dict(data["config"])
        data["rings"] = tuple(RingSpec(**r) for r in data["rings"])
        return cls(**data)


def resume_from_snapshot(state: dict[str, Any], plan: PerformancePlan) -> dict[str, Any]:
    """What a restarted conductor needs from the last state snapshot its predecessor
    published (the GUI's document, events/snapshot.py): the listening mode, the progression
    (the captured one in play mode), the key, and the tempo. Each field is checked and left
    out when it is missing or wrong (a warning), so a damaged snapshot can only make the
    new conductor start from the config. The tempo is kept only when it differs from the
    plan's: then it is anchored at the beat the snapshot shows at its time (to 0.001 beat);
    otherwise the plan's exact time base stays."""
    resume: dict[str, Any] = {}
    if not isinstance(state, dict) or not state.get("version"):
        return resume                      # nothing was published yet
    problems: list[str] = []
    pedal, harmony = state.get("pedal") or {}, state.get("harmony") or {}
    mode = pedal.get("mode") if isinstance(pedal, dict) else None
    if mode in MODES:
        resume["mode"] = mode
    else:
        problems.append(f"mode {mode!r}")
    if isinstance(harmony, dict):
        progression, key = harmony.get("progression"), harmony.get("key")
        try:
            if not isinstance(progression, list) or not progression:
                raise ValueError("empty")
            resume["progression"] = [Chord.parse(str(c)).label for c in progression]
        except ValueError:
            problems.append(f"progression {progression!r}")
        try:
            resume["key"] = Key.parse(str(key)).label
        except ValueError:
            problems.append(f"key {key!r}")
    transport = state.get("transport") or {}
    try:
        bpm = float(transport["bpm"])
        if bpm != plan.config.timing.tempo:
            at = float(state["time"])
            beat = (int(transport["bar"]) - 1) * int(transport["beats_per_bar"]) + float(
                transport["beat"]) - 1.0
            if not all(math.isfinite(v) for v in (at, beat)):
                raise ValueError("not finite")
            TempoMap(bpm=bpm, t0=at, b0=beat)              # raises for an impossible tempo
            resume.update(bpm=bpm, t0=at, b0=beat)
    except (KeyError, TypeError, ValueError):
        problems.append(f"transport {transport!r}"[:200])
    if problems:
        logging.getLogger(__name__).warning(
            "the state snapshot has no usable %s: the restarted conductor takes the "
            "config's", ", ".join(problems))
    return resume
