"""The conductor process (high priority): the tempo clock, the agents, their rings.

Every sixteenth, a lookahead before it sounds, each agent decides its notes; the notes go
into the agent's ring (the dispatcher process sends them to the server). Nothing here waits
on the network or the disk.

Run by the manager as `python -m performia.conductor '<plan json>'`.
"""

from __future__ import annotations

import logging
import random
import signal
import sys
import threading
from dataclasses import dataclass, field

from performia.band.agent import Agent, BandMemory, HarmonicContext, Listening, Step
from performia.band.band import make_band
from performia.events.note import NoteEvent
from performia.events.ring import RingWriter, attach
from performia.plan import PerformancePlan
from performia.processes import set_realtime
from performia.timing.clock import RealtimeClock
from performia.timing.tempo import TempoMap

log = logging.getLogger("performia.conductor")

STEP_BEATS = 0.25
CONDUCTOR_PRIORITY = 60


@dataclass
class Conductor:
    """Runs the agents step by step and writes their notes into their rings."""

    agents: list[Agent]
    writers: dict[str, RingWriter]
    clock: RealtimeClock
    harmony: HarmonicContext
    listening: Listening = field(default_factory=Listening)
    memory: BandMemory = field(default_factory=BandMemory)
    seed: int = 0
    rngs: dict[str, random.Random] = field(default_factory=dict)
    dropped: int = 0

    def start(self, first_beat: float = 0.0) -> None:
        for agent in self.agents:
            self.rngs[agent.name] = random.Random(f"{self.seed}:{agent.name}")
        self.clock.schedule(first_beat, self.play_step)
        self.clock.start()

    def play_step(self, beat: float, _time: float) -> None:
        self.clock.schedule(beat + STEP_BEATS, self.play_step)
        tempo = self.clock.tempo
        for agent in self.agents:
            step = Step(beat=beat, length=STEP_BEATS, time_at=tempo.time_at,
                        beats_per_bar=tempo.beats_per_bar, bpm=tempo.bpm, harmony=self.harmony,
                        listening=self.listening, memory=self.memory, rng=self.rngs[agent.name])
            try:
                events = agent.step(step)
            except Exception:
                log.exception("agent %s failed at beat %.2f: it sits out this step",
                              agent.name, beat)
                continue
            self.emit(agent.name, events)

    def emit(self, agent: str, events: list[NoteEvent]) -> None:
        writer = self.writers.get(agent)
        for event in events:
            self.memory.add(agent, event)
        if writer is None or not events:
            return
        written = writer.write_many(events)
        if written < len(events):
            self.dropped += len(events) - written
            log.warning("ring of %s full: %d events dropped", agent, len(events) - written)


def build_conductor(plan: PerformancePlan) -> Conductor:
    config = plan.config
    tempo = TempoMap(bpm=config.timing.tempo, t0=plan.start_time,
                     beats_per_bar=config.timing.beats_per_bar)
    clock = RealtimeClock(tempo, lookahead=config.timing.latency_ms / 1000.0)
    writers = {}
    for ring in plan.rings:
        writers[ring.agent] = RingWriter(attach(ring.shm_name), doorbell=ring.doorbell)
    agents = make_band(config.band.style, config.band.seed)
    harmony = HarmonicContext.from_labels(config.band.key, config.band.progression)
    return Conductor(agents=agents, writers=writers, clock=clock, harmony=harmony,
                     seed=config.band.seed)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(levelname)s conductor: %(message)s")
    plan = PerformancePlan.from_json(args[0])
    set_realtime(CONDUCTOR_PRIORITY, "conductor")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    conductor = build_conductor(plan)
    conductor.start()
    stop.wait()
    conductor.clock.stop()
    for writer in conductor.writers.values():
        writer.close()
        writer.shm.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
