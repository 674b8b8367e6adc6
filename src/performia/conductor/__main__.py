"""The conductor process (high priority): the tempo clock, the agents, their rings, the
listening side, and the state snapshot for the GUI.

Run by the manager as `python -m performia.conductor '<plan json>'`.
"""

from __future__ import annotations

import logging
import signal
import threading

from performia.band.band import make_band
from performia.conductor.band_loop import BandLoop
from performia.conductor.control import MODE_ADDRESS, ControlPort, mode_command
from performia.conductor.listening import Ears
from performia.conductor.state import Publisher, ServerFigures, compose
from performia.config import MODES
from performia.events.health import HealthReader
from performia.events.ring import RingWriter, attach
from performia.events.snapshot import StateWriter
from performia.plan import ANSWER_RING, PerformancePlan
from performia.server.osc import OscClient
from performia.state.book import StateBook
from performia.state.context import HarmonicContext
from performia.timing.clock import RealtimeClock
from performia.timing.tempo import TempoMap
from performia.transport.event_log import EventLog

log = logging.getLogger("performia.conductor")

CONDUCTOR_PRIORITY = 60


def build_loop(plan: PerformancePlan) -> BandLoop:
    config = plan.config
    tempo = TempoMap(bpm=config.timing.tempo, t0=plan.start_time,
                     beats_per_bar=config.timing.beats_per_bar)
    clock = RealtimeClock(tempo, lookahead=config.timing.latency_ms / 1000.0)
    agents = make_band(config.band.style, config.band.seed)
    ours = {agent.name for agent in agents}
    writers = {ring.agent: RingWriter(attach(ring.shm_name), doorbell=ring.doorbell)
               for ring in plan.rings if ring.agent in ours}   # one writer per ring
    harmony = HarmonicContext.from_labels(config.band.key, config.band.progression)
    book = StateBook(harmony.key, beat_at=lambda t: clock.tempo.beat_at(t),
                     beats_per_bar=tempo.beats_per_bar, bpm=tempo.bpm)
    return BandLoop(agents=agents, writers=dict(writers), clock=clock, harmony=harmony,
                    seed=config.band.seed, book=book)


def open_control_port(host: str, port: int, ears: Ears) -> ControlPort | None:
    """The control port (the pedal's mode changes arrive here); the band plays without it
    when the port is taken."""
    try:
        return ControlPort(host, port, {MODE_ADDRESS: mode_command(ears.set_mode, MODES)}).start()
    except OSError as error:
        log.error("control port %s:%d: %s. The band plays on, but the pedal and "
                  "/performia/mode cannot change the listening mode; set [osc] control_port "
                  "to a free port.", host, port, error.strerror or error)
        return None


def main(argv: list[str] | None = None) -> int:
    plan = PerformancePlan.for_child("conductor", CONDUCTOR_PRIORITY, argv)
    config = plan.config
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    loop = build_loop(plan)
    server = OscClient("127.0.0.1", config.server.port, name="conductor")
    event_log = EventLog(plan.events_path, plan.start_time) if plan.events_path else None
    answers = next((RingWriter(attach(r.shm_name), doorbell=r.doorbell) for r in plan.rings
                    if r.agent == ANSWER_RING and config.band.answer_accents), None)
    ears = Ears(config, server, loop.harmony, loop.listening, lambda: loop.clock.tempo,
                log_event=event_log.add_heard if event_log else None, answers=answers,
                initial_mode=config.midi.initial_mode, book=loop.book)
    if event_log is not None:
        loop.on_event = event_log.add_heard          # predictions, on the heard lines' path
    server.request("/notify", 1, match=lambda a: a[:1] == ["/notify"])
    control = open_control_port(config.osc.host, config.osc.control_port, ears)
    figures = ServerFigures(server)
    health = HealthReader(plan.health_name) if plan.health_name else None
    publisher = None
    if plan.state_name:
        writer = StateWriter.attach(plan.state_name)
        publisher = Publisher(writer, lambda: compose(loop, figures, health,
                                                      config.timing.latency_ms, ears),
                              fps=config.gui.fps * 2, figures=figures)
        publisher.start()
    loop.start()
    stop.wait()
    if isinstance(loop.clock, RealtimeClock):
        loop.clock.stop()
    if publisher is not None:
        publisher.stop()
        publisher.writer.close()
    if health is not None:
        health.close()
    if control is not None:
        control.close()
    server.close()
    ears.close()
    if event_log is not None:
        event_log.close()
    if answers is not None:
        answers.close()
        answers.shm.close()
    for writer_ in loop.writers.values():
        if isinstance(writer_, RingWriter):
            writer_.close()
            writer_.shm.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
