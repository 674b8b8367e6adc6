"""What the manager hands each child process: the validated config and the shared resources
(ring names and their doorbell fds, the song's start time). Passed as one JSON argument."""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from dataclasses import dataclass, field
from typing import Any

from performia.config import Config, config_from_dict
from performia.processes import set_realtime

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
    extra: dict[str, Any] = field(default_factory=dict)

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
