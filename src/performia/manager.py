"""The manager: starts the server (or uses the one running), the transport, the conductor
and the GUI; supervises them; and on every exit path (normal end, Ctrl-C, SIGTERM, an
error) stops everything it started and removes every shared-memory segment it made.

If the manager itself is killed, its children get SIGTERM from the kernel (parent-death
signal) and the resource tracker removes the rings; a server killed that way leaves
/dev/shm/SuperColliderServer_<port>, which the next start detects and removes, and
recordings whose header the server never finished, which the next start repairs
(server/recordings.py).

Supervision: the conductor and the transport are restarted when they die, each within its
own budget ([supervision] max_restarts in restart_window seconds); a restarted conductor
carries on with the mode, progression, key and tempo of the state snapshot the dead one was
publishing. The GUI, which the music does not need, is retried forever with a growing wait,
and its failures are logged at most once a minute. If supernova dies, it is restarted
within the same kind of budget (`_restart_server`): same options and port, SynthDefs, tree,
the guitar's analysis (the take carries on where it would be), a new part of each recording
(`out.part2.wav` ...); the conductor registers with the new server and the band sounds again
from the next block boundary it can make. If it cannot be restarted: one line, exit 1.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing import shared_memory
from pathlib import Path
from types import FrameType
from typing import Any

from performia.conductor.control import ControlSender
from performia.config import Config
from performia.events.health import HealthWriter
from performia.events.ring import create_ring, make_doorbell
from performia.events.snapshot import StateReader, StateWriter
from performia.listen.pedal import PedalInput
from performia.listen.rehearsal import TakeError, TakeInfo, read_take
from performia.plan import ANSWER_RING, PerformancePlan, RingSpec, resume_from_snapshot
from performia.processes import (
    EXIT_PORT_TAKEN,
    Backoff,
    Child,
    RestartBudget,
    catches_signal,
    describe_exit,
    realtime_child_env,
    spawn,
    stop_all,
)
from performia.server import synthdefs
from performia.server.block_grid import measure_block_grid
from performia.server.jack import find_alsa_card, use_jack_server
from performia.server.osc import OscClient, OscTimeoutError
from performia.server.process import ServerError, ServerLog
from performia.server.recorder import Recorder
from performia.server.recordings import RecordingJournal, repair_left_over
from performia.server.session import ServerSession
from performia.server.tree import ADD_TO_HEAD, INPUT, add_instruments, check_tree, query_tree

log = logging.getLogger(__name__)

BAND_AGENTS = ("drums", "bass", "harmony", "melody")

INPUT_BUFFER = 910
INPUT_NODE = 101
RING_CAPACITY = 4096
START_DELAY = 1.5          # seconds from "ready" to the first beat (children start meanwhile)
RECORDER_BUFFER = 900
RECORDER_NODE = 900
ESSENTIAL = ("transport", "conductor")   # the band cannot play without them
SUPERVISE_PERIOD = 0.05    # seconds between looks at the children (a death is seen this soon)
PATCH_PERIOD = 1.0         # seconds between header patches of the recordings in progress
GUI_REPORT_PERIOD = 60.0   # the GUI's failures are logged at most this often
STOP_GRACE = 0.2           # seconds a child has to end once supernova has died
RESUME_LEAD = 0.05         # seconds from a restarted server's tree to the band's return
TREE_CHECK_TIMEOUT = 1.0   # seconds after that for the instruments' groups to be there
EXIT_FAILED = 1            # a child died beyond its budget, or supernova died


@dataclass
class RunOptions:
    duration: float | None = None
    record: Path | None = None
    stems: Path | None = None
    events: Path | None = None
    input: Path | None = None
    gui: bool = True
    extra_rings: tuple[str, ...] = ()   # rings for agents outside the band (benchmarks)


@dataclass(frozen=True)
class Take:
    """The take played as the guitar (none with a live input)."""

    path: Path
    info: TakeInfo
    loop: bool                          # the rehearsal take loops; an --input plays once


def part_path(path: Path, part: int) -> Path:
    """The file of a recording's `part` (1: the path itself; then out.part2.wav ...)."""
    return path if part == 1 else path.with_name(f"{path.stem}.part{part}{path.suffix}")


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
    # The signal that asked us to stop. A signal handler only writes this attribute: setting
    # the Event from the handler deadlocked when the signal arrived while the main thread was
    # inside the Event's own wait() (its Condition lock held; seen in CI after a restart).
    stop_signal: str | None = None
    started: threading.Event = field(default_factory=threading.Event)   # the band is playing
    restarts: dict[str, RestartBudget] = field(default_factory=dict)
    journal: RecordingJournal = field(default_factory=RecordingJournal)
    gui_keeper: GuiKeeper | None = None
    server_died: bool = False
    plan: PerformancePlan | None = None
    state: StateWriter | None = None
    health: HealthWriter | None = None
    pedal: PedalInput | None = None
    control: ControlSender | None = None
    take: Take | None = None
    take_loaded_at: float | None = None  # when the take was in the server (before beat 0)
    server_life: int = 1                # 2 after the first restart of supernova ...

    # -- run --------------------------------------------------------------------
    def run(self) -> int:
        previous = self._install_signal_handlers()
        try:
            self._start()
            return self._supervise()
        finally:
            try:
                self.shutdown()
            finally:   # the process's own handlers again: a child forked later (a pool, a
                for sig, handler in previous.items():    # worker) must die of SIGTERM
                    signal.signal(sig, handler)

    def _start(self) -> None:
        repair_left_over()                 # recordings of an earlier run that was killed
        synthdefs.build()
        self.session = ServerSession(self.config)
        client = self.session.start()
        self.baseline_synths = self.session.status().synths
        self._load_input(client)           # before the start is set: an hour takes seconds
        start_time = self._song_start(client)
        prefix = f"performia_{os.getpid()}"
        self.state = StateWriter(f"{prefix}_state")
        self.health = HealthWriter(f"{prefix}_health")
        self.plan = PerformancePlan(config=self.config, start_time=start_time,
                                    rings=self._make_rings(), state_name=self.state.name,
                                    health_name=self.health.name,
                                    events_path=str(self.options.events or ""),
                                    input_path=str(self.options.input or ""),
                                    gui=self.options.gui)
        if self.options.events is not None:
            self.options.events.parent.mkdir(parents=True, exist_ok=True)
            self.options.events.write_text("")     # both writers append to it
        self._start_input(client, start_time)
        self._start_recordings(client, start_time)
        self._spawn("transport")
        self._spawn("conductor")
        self._start_pedal()
        if self.options.gui:
            self.gui_keeper = GuiKeeper(self, Backoff(
                longest=self.config.supervision.gui_max_backoff))
            self.gui_keeper.keep(time.monotonic())
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
        self.control = ControlSender(self.config.osc.host, self.config.osc.control_port,
                                     secret=self.config.osc.control_secret)
        use_jack_server(self.config.jack.server_name)   # a named server: the pedal's too
        self.pedal = PedalInput(midi, self.control.set_mode)
        self.pedal.start()

    def _start_recordings(self, client: OscClient, at: float) -> None:
        """A recorder per --record/--stems file (its part for this server's life), starting
        in the block that starts at `at`."""
        for path, stems in ((self.options.record, False), (self.options.stems, True)):
            if path is None:
                continue
            number = RECORDER_NODE + len(self.recorders)
            recorder = Recorder(client, number, number, stems=stems)
            part = part_path(path, self.server_life)
            self.journal.add(part)          # written down before the server opens it
            # a quarter sample late: the recorder's block is the one starting at `at`
            recorder.start(part, at=at + 0.25 / self.config.server.sample_rate)
            self.recorders.append(recorder)
            if self.server_life > 1 and self.plan is not None:
                log.info("recording part %d of %s: %s, its t = 0 is t = %.4f s of the song",
                         self.server_life, path, part, at - self.plan.start_time)

    def _load_input(self, client: OscClient) -> None:
        """The take the guitar plays (--input, or the rehearsal take when there is no audio
        interface) read into the server's buffer; nothing to load for a live input."""
        path = self.options.input
        if path is None and find_alsa_card(self.config.jack.device) is None:
            path = rehearsal_take(self.config)
            log.info("no audio interface: the band plays with the rehearsal take %s", path)
        if path is None:
            return
        self.take = Take(Path(path).resolve(), read_take(path), loop=self.options.input is None)
        info = self.take.info
        size = info.frames * info.channels * 4                   # the server reads float32
        started = time.time()
        client.request("/b_allocRead", INPUT_BUFFER, str(self.take.path),
                       match=lambda a: a[:2] == ["/b_allocRead", INPUT_BUFFER],
                       timeout=5.0 + size / 50e6)                # 50 MB/s at the slowest
        self.take_loaded_at = time.time()
        log.info("the take %s (%.0f s) read in %.2f s", self.take.path.name,
                 info.frames / info.sample_rate, self.take_loaded_at - started)

    def _start_input(self, client: OscClient, start_time: float) -> None:
        """The guitar: the interface's input, or the take loaded, played from t = 0."""
        self.baseline_synths += 1          # the listener stays until the end
        if self.take is None:
            client.send("/s_new", "listen_live", INPUT_NODE, ADD_TO_HEAD, INPUT)
            return
        self._play_take(client, start_time)

    def _play_take(self, client: OscClient, at: float) -> None:
        if self.take is None:
            return
        synthdef = "listen_take" if self.take.info.channels == 1 else "listen_take2"
        client.send_bundle(at + 0.25 / self.config.server.sample_rate, [
            ("/s_new", [synthdef, INPUT_NODE, ADD_TO_HEAD, INPUT, "buf", INPUT_BUFFER,
                        "loop", int(self.take.loop)])])

    def _resume_input(self, client: OscClient, grid_at: Callable[[float], float]) -> bool:
        """The guitar again on a restarted server: the live input, or the take from where it
        would be now (the rehearsal take's buffer rotated so that it still loops on the
        song's bars). False when there is nothing to listen to (an --input that ended)."""
        take = self.take
        if take is None:
            client.send("/s_new", "listen_live", INPUT_NODE, ADD_TO_HEAD, INPUT)
            return True
        if self.plan is None:
            return False
        frames, rate = take.info.frames, take.info.sample_rate
        # reading the rest of the file takes time: start the take after it (~100 MB/s)
        at = grid_at(time.time() + 0.05 + frames * take.info.channels * 4 / 100e6)
        offset = max(round((at - self.plan.start_time) * rate), 0)
        if take.loop:
            offset %= frames
        elif offset >= frames:
            log.info("the take %s had ended: nothing to listen to after the restart",
                     take.path)
            return False
        path = str(take.path)
        done = lambda a: a[:2] == ["/b_read", INPUT_BUFFER]  # noqa: E731
        if take.loop:
            client.request("/b_alloc", INPUT_BUFFER, frames, take.info.channels,
                           match=lambda a: a[:2] == ["/b_alloc", INPUT_BUFFER])
            client.request("/b_read", INPUT_BUFFER, path, offset, frames - offset, 0, 0,
                           match=done)
            if offset:
                client.request("/b_read", INPUT_BUFFER, path, 0, offset, frames - offset, 0,
                               match=done)
        else:
            client.request("/b_allocRead", INPUT_BUFFER, path, offset, 0,
                           match=lambda a: a[:2] == ["/b_allocRead", INPUT_BUFFER])
        late = time.time() - at
        if late > 0:
            log.warning("the take comes back %.0f ms behind the band (reading it took "
                        "longer than expected)", late * 1000)
        self._play_take(client, at)
        return True

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

    def _spawn(self, name: str, plan: PerformancePlan | None = None) -> None:
        plan = plan or self.plan
        if plan is None:
            raise RuntimeError("no performance plan")
        if name == "gui":
            gui = self.config.gui
            command = [sys.executable, "-m", "performia.gui", "--state", plan.state_name,
                       "--host", gui.host, "--port", str(gui.port), "--fps", str(gui.fps)]
            on_line = self.gui_keeper.output if self.gui_keeper is not None else None
            self.children[name] = spawn(name, command, on_line=on_line)
            return      # the GUI logs its address once it listens on it
        command = [sys.executable, "-m", f"performia.{name}", plan.to_json()]
        self.children[name] = spawn(name, command, pass_fds=self.doorbells,
                                    env=realtime_child_env(), relay=True)

    # -- supervise ----------------------------------------------------------------
    def _supervise(self) -> int:
        """Until the duration, a stop signal or a fatal failure: the exit status."""
        deadline = None if self.options.duration is None else time.monotonic() + (
            START_DELAY + self.options.duration)
        next_patch = time.monotonic() + PATCH_PERIOD
        while not self.stop_requested.wait(SUPERVISE_PERIOD):
            if self.stop_signal is not None:
                log.info("%s: stopping", self.stop_signal)
                break
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                log.info("duration reached")
                return 0
            if self._server_gone():
                if not self._restart_server(now):
                    return EXIT_FAILED
                continue
            if not self._check_children(now):
                return EXIT_FAILED
            if self.gui_keeper is not None:
                self.gui_keeper.keep(now)
            self._report_health()
            if now >= next_patch:
                self.journal.patch()        # valid files even if we are killed outright
                next_patch = now + PATCH_PERIOD
        return 0

    def _report_health(self) -> None:
        if self.health is not None and self.session is not None and self.session.supernova:
            server_log = self.session.supernova.log
            self.health.update(server_log.xruns, server_log.late, server_log.errors)

    def _server_gone(self) -> bool:
        """True once the supernova we started has exited (seen from its process)."""
        if self.server_died:
            return True
        supernova = self.session.supernova if self.session is not None else None
        if supernova is None or supernova.child is None or supernova.child.alive():
            return False
        self.server_died = True
        return True

    def _restart_server(self, now: float) -> bool:
        """supernova died: start it again, within its budget, and bring the band back on it.
        False (after one line) when it cannot be done: the show ends."""
        session = self.session
        supernova = session.supernova if session is not None else None
        if session is None or supernova is None or supernova.child is None:
            return False
        supervision = self.config.supervision
        budget = self.restarts.setdefault(
            "supernova", RestartBudget(supervision.max_restarts, supervision.restart_window))
        last = " | ".join(line for line in supernova.log.tail[-3:] if line.strip())
        said = (f"supernova (pid {supernova.child.pid}) died "
                f"({describe_exit(supernova.child.process.returncode)})")
        output = f". Its last output: {last}" if last else ""
        if not budget.take(now):
            log.error("%s for the %s time within %.0f s: the band stops ([supervision] "
                      "max_restarts = %d, restart_window = %.0f); the recordings keep "
                      "everything written so far%s", said, _ordinal(len(budget.times) + 1),
                      supervision.restart_window, supervision.max_restarts,
                      supervision.restart_window, output)
            return False
        log.error("%s: restarting it (%d of %d within %.0f s); the recordings keep everything "
                  "written so far%s", said, len(budget.times), supervision.max_restarts,
                  supervision.restart_window, output)
        began = time.monotonic()
        closed = [r.path for r in self.recorders if r.path is not None]
        self.recorders.clear()
        server_log = supernova.log
        server_log.restarting = True
        server_log.refused_while_restarting = 0
        try:
            at = self._bring_back(session, closed)
        except (ServerError, OscTimeoutError, synthdefs.SynthDefError, TakeError,
                OSError) as error:
            log.error("supernova could not be restarted: %s. The band stops.", error)
            return False
        finally:
            server_log.restarting = False
        self.server_died = False
        self._renotify_conductor()
        new = session.supernova.pid if session.supernova is not None else None
        log.info("supernova restarted (pid %s, booted in %.2f s) %.2f s after its death was "
                 "seen; the band plays again from t = %.3f s of the song", new,
                 session.boot_seconds, time.monotonic() - began,
                 at - (self.plan.start_time if self.plan is not None else 0.0))
        if server_log.refused_while_restarting:
            log.info("%d notes sent while the server was starting again were refused by it",
                     server_log.refused_while_restarting)
        return True

    def _bring_back(self, session: ServerSession, closed: list[Path]) -> float:
        """A new supernova with the tree, recordings (new parts; `closed`, the parts the
        dead server wrote, are repaired while it boots), the guitar and, at the next block
        boundary RESUME_LEAD ahead, the instruments: the time the band is back."""
        client = session.restart(
            meanwhile=lambda: self.journal.close_files(closed, "its server died"))
        self.baseline_synths = session.status().synths           # the master
        rate, block = self.config.server.sample_rate, self.config.server.block_size
        try:
            grid = measure_block_grid(client, rate, block, lead=0.01)
            grid_at = grid.next_boundary
        except OscTimeoutError as error:
            log.warning("%s: the recording parts may start up to one block off", error)

            def grid_at(after: float) -> float:
                return after
        at = grid_at(time.time() + RESUME_LEAD)
        self.server_life += 1
        self._start_recordings(client, at)
        add_instruments(client, at - 0.5 / rate)          # the band's notes sound from `at`
        if self._resume_input(client, grid_at):
            self.baseline_synths += 1
        # the groups exist once the server's clock has passed `at` (after a restart it may
        # be a little behind the system clock): look until they are there
        deadline = at + TREE_CHECK_TIMEOUT
        while True:
            time.sleep(max(at - time.time(), 0.01))
            problems = check_tree(query_tree(client))
            if not problems:
                return at
            if time.time() > deadline:
                raise ServerError("the restarted server's node tree is wrong: "
                                  + "; ".join(problems))

    def _renotify_conductor(self) -> None:
        """The conductor's server socket must register with the new server (/notify) for the
        analysis replies: SIGUSR1 asks it to, once it has its handler (a conductor still
        starting registers by itself)."""
        child = self.children.get("conductor")
        if child is None or not child.alive():
            return
        if catches_signal(child.pid, signal.SIGUSR1):
            os.kill(child.pid, signal.SIGUSR1)
        else:
            log.info("the conductor is starting: it registers with the new server itself")

    def _conductor_resume(self) -> dict[str, Any]:
        """What a new conductor carries on with: the dead one's last state snapshot."""
        if self.state is None or self.plan is None:
            return {}
        try:
            reader = StateReader(self.state.name)
        except (OSError, ValueError) as error:
            log.warning("cannot read the state snapshot (%s): the conductor starts over", error)
            return {}
        try:
            published = reader.read()
        finally:
            reader.close()
        return {} if published is None else resume_from_snapshot(published[1], self.plan)

    def _check_children(self, now: float) -> bool:
        """Restart a conductor or transport that died, within its own budget; False when
        one is over it (the show cannot go on)."""
        supervision = self.config.supervision
        for name in ESSENTIAL:
            child = self.children.get(name)
            if child is None or child.alive():
                continue
            budget = self.restarts.setdefault(
                name, RestartBudget(supervision.max_restarts, supervision.restart_window))
            how = describe_exit(child.process.returncode)
            words = child.last_words() if (child.process.returncode or 0) > 0 else ""
            if words:                   # it exited on its own: mostly its error's last line
                log.error("%s exited (%s) saying: %s", name, how, words)
            if not budget.take(now):
                log.error("%s died (%s) for the %s time within %.0f s: the band stops "
                          "([supervision] max_restarts = %d, restart_window = %.0f)", name,
                          how, _ordinal(len(budget.times) + 1), supervision.restart_window,
                          supervision.max_restarts, supervision.restart_window)
                self.children.pop(name)
                return False
            log.error("%s died (%s): restarting it (%d of %d within %.0f s)", name, how,
                      len(budget.times), supervision.max_restarts, supervision.restart_window)
            if name == "conductor" and self.plan is not None:
                resume = self._conductor_resume()
                if resume:
                    log.info("the conductor carries on in %s mode, %s, %s", resume.get("mode"),
                             resume.get("key"), " ".join(resume.get("progression", ())))
                self._spawn(name, dataclasses.replace(self.plan, resume=resume))
                continue
            self._spawn(name)
        return True

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

    def _stop_fast(self) -> None:
        """supernova is gone: nothing to play, nothing to wait for. Every child (and JACK,
        if ours) gets SIGTERM at once; what has not ended STOP_GRACE later is killed."""
        children = [c for c in self.children.values()]
        if self.session is not None and self.session.jack is not None:
            children.append(self.session.jack)
        killed = stop_all(children, STOP_GRACE)
        if killed:
            log.info("%s did not end within %.1f s of SIGTERM: killed", ", ".join(killed),
                     STOP_GRACE)

    def _install_signal_handlers(self) -> dict[signal.Signals, Any]:
        """Ctrl-C, SIGTERM and SIGHUP ask the supervisor to stop; the handlers they
        replace are returned (run() puts them back)."""
        def request_stop(signum: int, _frame: FrameType | None) -> None:
            self.stop_signal = signal.Signals(signum).name     # read within SUPERVISE_PERIOD

        return {sig: signal.signal(sig, request_stop)
                for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}

    def shutdown(self) -> None:
        """Stop everything we started, in order; every step runs even if one fails. With
        supernova dead, nothing waits for it: its recordings are repaired from their files."""
        server_gone = self._server_gone()
        if self.pedal is not None:
            _guard("close the pedal's MIDI input", self.pedal.close)
            self.pedal = None
        if self.control is not None:
            _guard("close the control socket", self.control.close)
            self.control = None
        if server_gone:
            _guard("stop the band's processes", self._stop_fast)
        for name in ("conductor", "gui", "transport"):
            child = self.children.pop(name, None)
            if child is not None:
                _guard(f"stop {name}", child.stop)
        if self.gui_keeper is not None:
            _guard("report the GUI's failures", self.gui_keeper.summary)
            self.gui_keeper = None
        if not server_gone:
            _guard("let the last notes end", self._wait_for_quiet)
            for recorder in self.recorders:
                _guard("close the recording", recorder.stop)
        self.recorders.clear()
        _guard("check the recordings", lambda: self.journal.finish(server_died=server_gone))
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


@dataclass
class GuiKeeper:
    """Keeps the GUI up for the whole show without ever touching the music: a GUI that dies
    is started again after 1, 2, 4 … up to [supervision] gui_max_backoff seconds (back to 1
    after it stayed up), forever; its failures are logged at most once a minute, and so is
    its own output while it keeps failing. A port taken by another program is reported
    once, with the fix, and the GUI starts when the port is free."""

    manager: Manager
    backoff: Backoff
    next_try: float = 0.0
    started: float = 0.0
    deaths: int = 0                 # in all
    unreported: int = 0             # deaths not logged yet
    last_exit: str = ""
    last_report: float = float("-inf")
    port_reported: bool = False     # the port was taken: said once for the whole show
    port_back: bool = False         # ... and it was free again later: said once too
    quiet: bool = False             # this incarnation's output is not shown (see output())
    dropped_lines: int = 0

    def keep(self, now: float) -> None:
        """Called by the supervision loop: notice a death, start a new GUI when it is time."""
        child = self.manager.children.get("gui")
        if child is not None:
            if child.alive():
                return
            self.manager.children.pop("gui")
            self._died(now, child.process.returncode)
            return
        if now < self.next_try:
            return
        gui = self.manager.config.gui
        problem = port_problem(gui.host, gui.port)
        if problem is not None:
            self._port_taken(problem)
            self.next_try = now + self.backoff.next_delay(0.0)
            return
        if self.port_reported and not self.port_back:
            log.info("the GUI's port %s:%d is free now: starting the band's page",
                     gui.host, gui.port)
            self.port_back = True
        # a GUI that keeps failing: its output too only once a minute
        self.quiet = self.backoff.failures >= 2 and now - self.last_report < GUI_REPORT_PERIOD
        self.started = now
        try:
            self.manager._spawn("gui")
        except OSError as error:
            log.warning("could not start the GUI: %s", error)
            self._died(now, None)

    def _died(self, now: float, returncode: int | None) -> None:
        delay = self.backoff.next_delay(now - self.started)
        self.next_try = now + delay
        if returncode == EXIT_PORT_TAKEN:
            gui = self.manager.config.gui
            self._port_taken(f"{gui.host}:{gui.port} could not be bound")
            return
        self.deaths += 1
        self.unreported += 1
        self.last_exit = describe_exit(returncode)
        if now - self.last_report < GUI_REPORT_PERIOD:
            return
        if self.unreported == 1:
            log.warning("the GUI died (%s): the band plays on; starting it again in %.0f s",
                        self.last_exit, delay)
        else:
            log.warning("the GUI died %d times since the last report (last: %s): the band "
                        "plays on; starting it again in %.0f s (retried forever, at most "
                        "every %.0f s; reported at most once a minute)", self.unreported,
                        self.last_exit, delay, self.backoff.longest)
        self.unreported = 0
        self.last_report = now

    def _port_taken(self, problem: str) -> None:
        if self.port_reported:
            return
        self.port_reported = True
        log.error("the GUI cannot start: %s. The band plays on without its page. Fix: set "
                  "[gui] port to a free port in the config (config/performia.toml), or run "
                  "with --no-gui; retrying meanwhile (at most every %.0f s)", problem,
                  self.backoff.longest)

    def output(self, line: str) -> None:
        """A line of the GUI's output: shown, unless this GUI started while its failures
        were in their minute of silence (shown again once it has stayed up)."""
        if self.quiet and time.monotonic() - self.started < self.backoff.stable:
            self.dropped_lines += 1
            return
        print(line, file=sys.stderr, flush=True)

    def summary(self) -> None:
        if self.deaths:
            log.warning("the GUI died %d times during the show (last: %s)%s", self.deaths,
                        self.last_exit, f"; {self.dropped_lines} lines of its output were "
                        "not shown" if self.dropped_lines else "")


def port_problem(host: str, port: int) -> str | None:
    """Why a TCP server could not listen on host:port now (None: it could)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return f"{host}:{port} is in use by another program"
            return f"{host}:{port} cannot be used: {error.strerror}"
    return None


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _guard(what: str, action: object) -> None:
    try:
        action()  # type: ignore[operator]
    except Exception:
        log.exception("could not %s", what)
