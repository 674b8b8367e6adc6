"""The manager: starts the server (or uses the one running), the transport, the conductor
and the GUI; supervises them; and on every exit path (normal end, Ctrl-C, SIGTERM, an
error) stops everything it started and removes every shared-memory segment it made.

If the manager itself is killed, its children get SIGTERM from the kernel (parent-death
signal) and the resource tracker removes the rings; a server killed that way leaves
/dev/shm/SuperColliderServer_<port>, which the next start detects and removes.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing import shared_memory
from pathlib import Path
from types import FrameType

from performia.conductor.control import ControlSender
from performia.config import Config
from performia.events.health import HealthWriter
from performia.events.ring import create_ring, make_doorbell
from performia.events.snapshot import StateWriter
from performia.listen.pedal import PedalInput
from performia.listen.rehearsal import read_take
from performia.plan import ANSWER_RING, PerformancePlan, RingSpec
from performia.processes import Child, realtime_child_env, spawn
from performia.server import synthdefs
from performia.server.block_grid import measure_block_grid
from performia.server.jack import find_alsa_card
from performia.server.osc import OscClient, OscTimeoutError
from performia.server.process import ServerLog
from performia.server.recorder import Recorder
from performia.server.session import ServerSession
from performia.server.tree import ADD_TO_HEAD, INPUT

log = logging.getLogger(__name__)

BAND_AGENTS = ("drums", "bass", "harmony", "melody")

INPUT_BUFFER = 910
INPUT_NODE = 101
RING_CAPACITY = 4096
START_DELAY = 1.5          # seconds from "ready" to the first beat (children start meanwhile)
RECORDER_BUFFER = 900
RECORDER_NODE = 900
RESTART_LIMIT = 5


@dataclass
class RunOptions:
    duration: float | None = None
    record: Path | None = None
    stems: Path | None = None
    events: Path | None = None
    input: Path | None = None
    gui: bool = True
    extra_rings: tuple[str, ...] = ()   # rings for agents outside the band (benchmarks)


@dataclass
class Manager:
    config: Config
    options: RunOptions
    session: ServerSession | None = None
    children: dict[str, Child] = field(default_factory=dict)
    segments: list[shared_memory.SharedMemory] = field(default_factory=list)
    doorbells: list[int] = field(default_factory=list)
    recorders: list[Recorder] = field(default_factory=list)
    baseline_synths: int = 0
    final_synths: int | None = None     # synths left after the band stopped (see shutdown)
    server_log: ServerLog = field(default_factory=ServerLog)  # dropouts, late bundles (at the end)
    stop_requested: threading.Event = field(default_factory=threading.Event)
    started: threading.Event = field(default_factory=threading.Event)   # the band is playing
    restarts: dict[str, int] = field(default_factory=dict)
    plan: PerformancePlan | None = None
    state: StateWriter | None = None
    health: HealthWriter | None = None
    pedal: PedalInput | None = None
    control: ControlSender | None = None

    # -- run --------------------------------------------------------------------
    def run(self) -> int:
        self._install_signal_handlers()
        try:
            self._start()
            self._supervise()
            return 0
        finally:
            self.shutdown()

    def _start(self) -> None:
        synthdefs.build()
        self.session = ServerSession(self.config)
        client = self.session.start()
        self.baseline_synths = self.session.status().synths
        start_time = self._song_start(client)
        prefix = f"performia_{os.getpid()}"
        self.state = StateWriter(f"{prefix}_state")
        self.health = HealthWriter(f"{prefix}_health")
        self.plan = PerformancePlan(config=self.config, start_time=start_time,
                                    rings=self._make_rings(), state_name=self.state.name,
                                    health_name=self.health.name,
                                    events_path=str(self.options.events or ""),
                                    input_path=str(self.options.input or ""))
        if self.options.events is not None:
            self.options.events.parent.mkdir(parents=True, exist_ok=True)
            self.options.events.write_text("")     # both writers append to it
        self._start_input(client, start_time)
        recordings = [(self.options.record, False), (self.options.stems, True)]
        for path, stems in recordings:
            if path is None:
                continue
            number = RECORDER_NODE + len(self.recorders)
            recorder = Recorder(client, number, number, stems=stems)
            # a quarter sample late: the recorder's block is the one starting at start_time
            recorder.start(path, at=start_time + 0.25 / self.config.server.sample_rate)
            self.recorders.append(recorder)
        self._spawn("transport")
        self._spawn("conductor")
        self._start_pedal()
        if self.options.gui:
            self._spawn("gui")
        self.started.set()
        log.info("the band starts at %s, %.0f BPM, %s, %s; Ctrl-C stops",
                 time.strftime("%H:%M:%S", time.localtime(start_time)),
                 self.config.timing.tempo, self.config.band.key, self.config.band.style)

    def _start_pedal(self) -> None:
        """The sustain pedal, watched here (a MIDI client talks to JACK or ALSA and may
        block: never inside a real-time process); its mode changes go to the conductor's
        control port."""
        midi = self.config.midi
        if not midi.port:
            return                                 # no pedal configured
        self.control = ControlSender(self.config.osc.host, self.config.osc.control_port)
        self.pedal = PedalInput(midi, self.control.set_mode)
        self.pedal.start()

    def _start_input(self, client: OscClient, start_time: float) -> None:
        """The guitar: the interface's input, or a take played from t = 0 (--input, or the
        rehearsal take when there is no audio interface)."""
        take = self.options.input
        if take is None and find_alsa_card(self.config.jack.device) is None:
            take = rehearsal_take(self.config)
            log.info("no audio interface: the band plays with the rehearsal take %s", take)
        self.baseline_synths += 1          # the listener stays until the end
        if take is None:
            client.send("/s_new", "listen_live", INPUT_NODE, ADD_TO_HEAD, INPUT)
            return
        info = read_take(take)
        client.request("/b_allocRead", INPUT_BUFFER, str(Path(take).resolve()),
                       match=lambda a: a[:2] == ["/b_allocRead", INPUT_BUFFER])
        synthdef = "listen_take" if info.channels == 1 else "listen_take2"
        loop = 1 if self.options.input is None else 0
        client.send_bundle(start_time + 0.25 / self.config.server.sample_rate, [
            ("/s_new", [synthdef, INPUT_NODE, ADD_TO_HEAD, INPUT, "buf", INPUT_BUFFER,
                        "loop", loop])])

    def ring(self, agent: str) -> RingSpec:
        """The ring of `agent` (e.g. one of `extra_rings`, for a writer of your own)."""
        if self.plan is None:
            raise RuntimeError("the band has not started")
        for spec in self.plan.rings:
            if spec.agent == agent:
                return spec
        raise ValueError(f"no ring for {agent!r}")

    def _song_start(self, client: OscClient) -> float:
        """Beat 0 on a block boundary, so t = 0 of --record and --events is one sample."""
        server = self.config.server
        try:
            grid = measure_block_grid(client, server.sample_rate, server.block_size)
        except OscTimeoutError as error:
            log.warning("%s: the recording may start up to one block before beat 0", error)
            return time.time() + START_DELAY
        return grid.next_boundary(time.time() + START_DELAY)

    def _make_rings(self) -> tuple[RingSpec, ...]:
        specs = []
        for agent in BAND_AGENTS + (ANSWER_RING,) + self.options.extra_rings:
            name = f"performia_{os.getpid()}_{agent}"
            self.segments.append(create_ring(name, RING_CAPACITY))
            doorbell = make_doorbell()
            self.doorbells.append(doorbell)
            specs.append(RingSpec(agent, name, doorbell))
        return tuple(specs)

    def _spawn(self, name: str) -> None:
        if self.plan is None:
            raise RuntimeError("no performance plan")
        if name == "gui":
            gui = self.config.gui
            command = [sys.executable, "-m", "performia.gui", "--state", self.plan.state_name,
                       "--host", gui.host, "--port", str(gui.port), "--fps", str(gui.fps)]
            self.children[name] = spawn(name, command)
            log.info("the band's page: http://%s:%d", gui.host, gui.port)
            return
        command = [sys.executable, "-m", f"performia.{name}", self.plan.to_json()]
        self.children[name] = spawn(name, command, pass_fds=self.doorbells,
                                    env=realtime_child_env())

    # -- supervise ----------------------------------------------------------------
    def _supervise(self) -> None:
        deadline = None if self.options.duration is None else time.monotonic() + (
            START_DELAY + self.options.duration)
        while not self.stop_requested.wait(0.1):
            if deadline is not None and time.monotonic() >= deadline:
                log.info("duration reached")
                return
            self._check_children()
            self._report_health()

    def _report_health(self) -> None:
        if self.health is not None and self.session is not None and self.session.supernova:
            server_log = self.session.supernova.log
            self.health.update(server_log.xruns, server_log.late, server_log.errors)

    def _check_children(self) -> None:
        if self.session is not None and self.session.supernova is not None:
            child = self.session.supernova.child
            if child is not None and not child.alive():
                raise RuntimeError("supernova died: " + " | ".join(
                    self.session.supernova.log.tail[-5:]))
        for name, child in list(self.children.items()):
            if child.alive():
                continue
            count = self.restarts.get(name, 0) + 1
            self.restarts[name] = count
            if count > RESTART_LIMIT:
                raise RuntimeError(f"{name} keeps dying (exit {child.process.returncode})")
            log.error("%s exited with %s: restarting it (%d)", name, child.process.returncode,
                      count)
            self._spawn(name)

    # -- stop ---------------------------------------------------------------------
    def _wait_for_quiet(self, timeout: float = 3.0) -> None:
        """After the last note: wait until only the master (and recorders) remain."""
        if self.session is None or self.session.client is None:
            return
        expected = self.baseline_synths + len(self.recorders)
        deadline = time.monotonic() + timeout
        synths = self.session.status().synths
        while synths > expected and time.monotonic() < deadline:
            time.sleep(0.05)
            synths = self.session.status().synths
        self.final_synths = synths - len(self.recorders)
        level = logging.INFO if synths == expected else logging.WARNING
        log.log(level, "after the last note: %d synths on the server (baseline %d)",
                self.final_synths, self.baseline_synths)

    def _report_dropouts(self) -> None:
        """One line a musician can act on: were there dropouts (xruns) or late notes?"""
        xruns, late = self.server_log.xruns, self.server_log.late
        if xruns == 0 and late == 0:
            log.info("no dropouts (xruns) and no late notes")
            return
        log.warning("%d dropouts (xruns) and %d late bundles while the band played: the "
                    "audio thread did not get the CPU in time (another busy program, power "
                    "saving, or on a VM the host). Each dropout is a click in the sound; "
                    "notes after it stay in time. See `python -m performia doctor`.",
                    xruns, late)

    def _install_signal_handlers(self) -> None:
        def request_stop(signum: int, _frame: FrameType | None) -> None:
            log.info("%s: stopping", signal.Signals(signum).name)
            self.stop_requested.set()

        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, request_stop)

    def shutdown(self) -> None:
        """Stop everything we started, in order; every step runs even if one fails."""
        if self.pedal is not None:
            _guard("close the pedal's MIDI input", self.pedal.close)
            self.pedal = None
        if self.control is not None:
            _guard("close the control socket", self.control.close)
            self.control = None
        for name in ("conductor", "gui", "transport"):
            child = self.children.pop(name, None)
            if child is not None:
                _guard(f"stop {name}", child.stop)
        _guard("let the last notes end", self._wait_for_quiet)
        for recorder in self.recorders:
            _guard("close the recording", recorder.stop)
        self.recorders.clear()
        if self.session is not None:
            if self.session.supernova is not None:
                self.server_log = self.session.supernova.log
                _guard("report the dropouts", self._report_dropouts)
            _guard("stop the server", self.session.stop)
            self.session = None
        if self.state is not None:
            _guard("remove the state snapshot", lambda s=self.state: (s.close(), s.unlink()))
            self.state = None
        if self.health is not None:
            _guard("remove the health counters", self.health.close)
            self.health = None
        for shm in self.segments:
            _guard(f"remove {shm.name}", lambda s=shm: (s.close(), s.unlink()))
        self.segments.clear()
        for fd in self.doorbells:
            _guard("close a doorbell", lambda f=fd: os.close(f))
        self.doorbells.clear()


def rehearsal_take(config: Config) -> Path:
    """The take a new user hears the band follow: strummed in the config's key and tempo,
    but with chords of its own (so the following is heard), generated once."""
    from performia.listen.rehearsal import TakeSpec, ensure_take

    spec = TakeSpec(progression=REHEARSAL_PROGRESSION, key="G:maj", bpm=config.timing.tempo,
                    bars=8, beats_per_bar=config.timing.beats_per_bar, lead_in=0.0, tail=0.0)
    return ensure_take(spec)


REHEARSAL_PROGRESSION = ("G:maj", "E:min7", "C:maj7", "D:7")


def _guard(what: str, action: object) -> None:
    try:
        action()  # type: ignore[operator]
    except Exception:
        log.exception("could not %s", what)
