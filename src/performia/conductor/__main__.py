"""The conductor process (high priority): the tempo clock, the agents, their rings, the
listening side, and the state snapshot for the GUI.

Run by the manager as `python -m performia.conductor '<plan json>'`. A restarted conductor
carries on with the mode, progression, key and tempo in its plan's `resume` (plan.py); and
SIGUSR1 (sent by the manager after it restarted supernova) makes it register with the new
server (/notify 1) so that the analysis replies reach it again.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import signal
import threading
from pathlib import Path
from typing import Any

from performia.band.band import make_band
from performia.conductor.band_loop import BandLoop
from performia.conductor.control import ControlPort, Handler
from performia.conductor.listening import Ears
from performia.conductor.state import Publisher, ServerFigures, compose
from performia.config import Config, replace
from performia.control.band import BandControl
from performia.control.commands import ControlApi
from performia.control.member import Member
from performia.control.notify import Address, Notifier
from performia.control.session import Session, Sessions, session_json
from performia.control.settings import BandSettings
from performia.events.health import HealthReader
from performia.events.ring import RingWriter, attach
from performia.events.snapshot import StateWriter
from performia.live.host import LiveError, LiveHost
from performia.live.watch import FolderWatcher
from performia.plan import ANSWER_RING, PerformancePlan
from performia.server.osc import OscClient, OscTimeoutError
from performia.signals import SignalWatcher
from performia.state.book import StateBook
from performia.state.context import HarmonicContext
from performia.timing.clock import RealtimeClock
from performia.transport.event_log import EventLog

log = logging.getLogger("performia.conductor")

CONDUCTOR_PRIORITY = 60
# without a GUI the snapshot only serves a restarted conductor (what it carries on with):
# a few a second is plenty, and each costs a cold wake-up (docs/PERFORMANCE.md)
RESUME_FPS = 5


def build_loop(plan: PerformancePlan, live: LiveHost | None = None) -> BandLoop:
    config = plan.config
    tempo = plan.tempo_map()
    clock = RealtimeClock(tempo, lookahead=config.timing.latency_ms / 1000.0)
    # each member: the built-in agent, its live-coded replacement when ready, mute/octave/…
    agents: list[Any] = [Member(agent, live, config.band.step_budget_ms)
                         for agent in make_band(config.band.style, config.band.seed)]
    ours = {agent.name for agent in agents}
    writers = {ring.agent: RingWriter(attach(ring.shm_name), doorbell=ring.doorbell)
               for ring in plan.rings if ring.agent in ours}   # one writer per ring
    harmony = HarmonicContext.from_labels(plan.key, plan.progression)
    book = StateBook(harmony.key, beat_at=lambda t: clock.tempo.beat_at(t),
                     beats_per_bar=tempo.beats_per_bar, bpm=tempo.bpm)
    return BandLoop(agents=agents, writers=dict(writers), clock=clock, harmony=harmony,
                    seed=config.band.seed, book=book)


def open_control_port(config: Config, handler: Handler) -> ControlPort | None:
    """The control port (the pedal's mode changes and every control command arrive here);
    the band plays without it when the port is taken."""
    osc = config.osc
    try:
        return ControlPort(osc.host, osc.control_port, handler, rate_limit=osc.rate_limit,
                           secret=osc.control_secret, allow=osc.control_allow).start()
    except OSError as error:
        log.error("control port %s:%d: %s. The band plays on, but the pedal and "
                  "/performia/mode cannot change the listening mode; set [osc] control_port "
                  "to a free port.", osc.host, osc.control_port, error.strerror or error)
        return None


def start_live(config: Config, notifier: Notifier
               ) -> tuple[LiveHost | None, FolderWatcher | None]:
    """Live-coded agents, when `[band] agents_dir` is set (docs/LIVE_CODING.md)."""
    if not config.band.agents_dir:
        return None, None

    def report(error: LiveError) -> None:
        log.warning("live agent %s", error)
        notifier.notify("/performia/error", (error.path, error.line, error.message))

    folder = Path(config.band.agents_dir).resolve()
    live = LiveHost(folder, config.band.step_budget_ms, config.band.agent_timeout, report)
    watcher = FolderWatcher(folder, live.offer, live.remove, live.report)
    return live.start(), watcher.start()


def starting_settings(plan: PerformancePlan, loop: BandLoop, session: Session | None
                      ) -> BandSettings:
    """The config's settings, or the session's; a restarted conductor keeps the tempo, key
    and progression it was playing (its plan's `resume`)."""
    playing = dataclasses.replace(BandSettings.from_config(plan.config),
                                  tempo=loop.clock.tempo.bpm, key=loop.harmony.key.label,
                                  progression=tuple(c.label for c in loop.harmony.progression))
    if session is None:
        return playing
    if plan.resume:
        return dataclasses.replace(session.settings, tempo=playing.tempo, key=playing.key,
                                   progression=playing.progression)
    return session.settings


def renotify_on_signal(server: OscClient) -> SignalWatcher:
    """SIGUSR1: register again with the server (a restarted supernova knows no clients)."""
    def renotify() -> None:
        try:
            server.request("/notify", 1, match=lambda a: a[:1] == ["/notify"], timeout=2.0)
            log.info("registered with the restarted server")
        except OscTimeoutError as error:
            log.error("could not register with the restarted server: %s", error)

    return SignalWatcher({signal.SIGUSR1: renotify}, name="renotify")


def main(argv: list[str] | None = None) -> int:
    plan = PerformancePlan.for_child("conductor", CONDUCTOR_PRIORITY, argv)
    if plan.resume:          # a restart: the band was playing, it comes straight back in
        plan = dataclasses.replace(plan, config=replace(plan.config, "timing", come_in="now"))
    config = plan.config
    stop = threading.Event()
    stop_signals = SignalWatcher({signal.SIGTERM: stop.set, signal.SIGINT: stop.set},
                                 name="stop-signals")
    ports: list[ControlPort] = []              # replies and notifications leave from it

    def send(datagram: bytes, address: Address) -> None:
        if ports:
            ports[0].send(datagram, address)
    notifier = Notifier(send).start()
    live, watcher = start_live(config, notifier)
    loop = build_loop(plan, live)
    band = BandControl(loop, starting_settings(plan, loop, None),
                       {a.name: a for a in loop.agents if isinstance(a, Member)}, live,
                       notify=notifier.notify)
    band.report_in_background()
    sessions = Sessions(Path(config.band.session) if config.band.session else None,
                        BandSettings.from_config(config),
                        lambda: session_json(band.settings, loop.listening.mode,
                                             tuple(sorted(live.playing.values())) if live
                                             else ()))
    session = sessions.restore()               # at start: the disk may be read now
    sessions.start()
    band.install(starting_settings(plan, loop, session))
    server = OscClient("127.0.0.1", config.server.port, name="conductor")
    event_log = EventLog(plan.events_path, plan.start_time) if plan.events_path else None
    answers = next((RingWriter(attach(r.shm_name), doorbell=r.doorbell) for r in plan.rings
                    if r.agent == ANSWER_RING and config.band.answer_accents), None)

    def heard(event: dict[str, Any]) -> None:
        """What the ears heard: to --events, and chords and modes to the subscribers."""
        if event_log is not None:
            event_log.add_heard(event)
        if event.get("kind") == "chord":
            notifier.notify("/performia/chord", (str(event["chord"]),))
        elif event.get("kind") == "mode":
            notifier.notify("/performia/mode", (str(event["mode"]),))
    initial_mode = plan.initial_mode
    if session is not None and session.mode is not None and not plan.resume:
        initial_mode = session.mode
    ears = Ears(config, server, loop.harmony, loop.listening, lambda: loop.clock.tempo,
                log_event=heard, answers=answers, initial_mode=initial_mode, book=loop.book)
    if plan.resume:
        log.info("restarted: carrying on in %s mode, %s, progression %s, %.1f BPM",
                 plan.initial_mode, plan.key, " ".join(plan.progression), loop.clock.tempo.bpm)
    if event_log is not None:
        loop.on_event = event_log.add_heard          # predictions, on the heard lines' path
    renotify = renotify_on_signal(server)
    server.request("/notify", 1, match=lambda a: a[:1] == ["/notify"])
    control = open_control_port(config, ControlApi(band, ears.set_mode, notifier, send,
                                                   sessions, live))
    if control is not None:
        ports.append(control)
    figures = ServerFigures(server)
    health = HealthReader(plan.health_name) if plan.health_name else None
    publisher = None
    if plan.state_name:
        writer = StateWriter.attach(plan.state_name)
        publisher = Publisher(writer, lambda: compose(loop, figures, health,
                                                      config.timing.latency_ms, ears, band),
                              fps=config.gui.fps * 2 if plan.gui else RESUME_FPS,
                              figures=figures)
        publisher.start()
    if live is not None:                       # the first bar, before the band plays it
        first_bar = max(0, math.ceil(loop.clock.beat() / loop.clock.tempo.beats_per_bar))
        band.ask_live(first_bar)
    loop.start()
    stop.wait()
    if isinstance(loop.clock, RealtimeClock):
        loop.clock.stop()
    sessions.close(save=True)                    # on exit: the session in use is saved
    if watcher is not None:
        watcher.close()
    if live is not None:
        live.close()
    if publisher is not None:
        publisher.stop()
        publisher.writer.close()
    if health is not None:
        health.close()
    if control is not None:
        control.close()
    band.close()
    notifier.close()
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
    renotify.close()
    stop_signals.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
