"""The supernova process: boot (ready when stdout says so), its log, a clean quit.

supernova never answers a failed command with /fail: its errors exist only on stdout,
so every line is read and errors become log warnings (and are counted)."""

from __future__ import annotations

import logging
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from performia.processes import Child, spawn
from performia.server.jack import jack_env
from performia.server.options import ServerOptions
from performia.server.osc import OscClient, OscTimeoutError

log = logging.getLogger(__name__)

SHM_DIR = Path("/dev/shm")
_ERROR = re.compile(r"error|failure|exception|not found|could not|cannot|unable", re.IGNORECASE)
_LATE = re.compile(r"^late\b", re.IGNORECASE)
XRUN_BURST = 0.005   # seconds


class ServerError(RuntimeError):
    """supernova failed to boot or to answer."""


@dataclass
class ServerLog:
    """What supernova printed: counts of errors and late bundles, the last lines."""

    errors: int = 0
    xrun_times: list[float] = field(default_factory=list)   # time.time() each dropout was read
    late_times: list[float] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)
    tail: list[str] = field(default_factory=list)
    restarting: bool = False    # a restarted server without its tree yet: failures expected
    refused_while_restarting: int = 0
    _last_xrun_line: float = float("-inf")

    @property
    def xruns(self) -> int:
        return len(self.xrun_times)

    @property
    def late(self) -> int:
        return len(self.late_times)

    def report_times(self) -> list[float]:
        """When each dropout and each late bundle was read (time.time()), in order."""
        return sorted(self.xrun_times + self.late_times)

    def feed(self, line: str, now: float | None = None) -> None:
        """One line of supernova's output, read at `now` (time.time() by default)."""
        now = time.time() if now is None else now
        self.tail = (self.tail + [line])[-50:]
        if "Supernova ready" in line:
            self.ready.set()
            log.info("supernova: %s", line)
        elif _LATE.search(line):
            self.late_times.append(now)
            log.debug("supernova: %s", line)
        elif "node not found" in line.lower():
            log.debug("supernova: %s (a note that had already ended)", line)
        elif "xrun" in line.lower():
            self._count_xrun(now)
            log.debug("supernova: %s", line)
        elif _ERROR.search(line) and self.restarting:
            # notes the transport sent before the tree and SynthDefs were back: counted,
            # summed up once by the manager
            self.refused_while_restarting += 1
            log.debug("supernova (restarting): %s", line)
        elif _ERROR.search(line):
            self.errors += 1
            log.warning("supernova: %s", line)
        else:
            log.debug("supernova: %s", line)

    def _count_xrun(self, now: float) -> None:
        """JACK reports one dropout in a burst of lines (measured: a 20-ms stall of the
        server gave 8, read within 0.3 ms; a short stall 1 or 2): a line read within
        XRUN_BURST of the previous one belongs to the same dropout."""
        if now - self._last_xrun_line > XRUN_BURST:
            self.xrun_times.append(now)
        self._last_xrun_line = now


def server_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    """True if a server at host:port answers /status."""
    client = OscClient(host, port, name="probe")
    try:
        client.request("/status", reply="/status.reply", timeout=timeout)
        return True
    except OscTimeoutError:
        return False
    finally:
        client.close()


def clear_stale_shm(options: ServerOptions) -> bool:
    """Remove /dev/shm/SuperColliderServer_<port> left by a crashed server (none answers)."""
    path = SHM_DIR / options.shm_name
    if not path.exists() or server_answers("127.0.0.1", options.port):
        return False
    log.warning("found %s from an earlier server that no longer answers on port %d: removing it",
                path, options.port)
    path.unlink(missing_ok=True)
    return True


class Supernova:
    """A supernova we started: `boot()`, then `quit()`."""

    def __init__(self, options: ServerOptions, server_log: ServerLog | None = None) -> None:
        self.options = options
        self.log = server_log or ServerLog()    # a restarted server carries on the counts
        self.log.ready.clear()
        self.child: Child | None = None

    def boot(self, after_crash: bool = False,
             meanwhile: Callable[[], object] | None = None) -> None:
        """Start supernova and wait until it is ready. `after_crash`: the server on our port
        was ours and is gone (its process reaped), so nothing is probed: its segment is
        removed at once (each probe would wait half a second for an answer). `meanwhile`
        runs once the process is started, before waiting for it to be ready."""
        if shutil.which(self.options.executable) is None:
            raise ServerError(f"{self.options.executable} not found: install it with "
                              "'sudo apt-get install supercollider-supernova'")
        if after_crash:
            (SHM_DIR / self.options.shm_name).unlink(missing_ok=True)
        elif server_answers("127.0.0.1", self.options.port):
            raise ServerError(f"port {self.options.port} already has a server answering")
        else:
            clear_stale_shm(self.options)
        self.child = spawn("supernova", self.options.command(),
                           env=jack_env(self.options.jack_server), on_line=self.log.feed)
        deadline = time.monotonic() + self.options.boot_timeout
        if meanwhile is not None:
            meanwhile()
        while not self.log.ready.wait(0.02):
            if not self.child.alive():
                raise ServerError("supernova exited while booting: " + " | ".join(self.log.tail))
            if time.monotonic() > deadline:
                self.child.stop()
                raise ServerError(f"supernova not ready within {self.options.boot_timeout:.0f} s"
                                  ": " + " | ".join(self.log.tail[-5:]))
        log.info("supernova booted (pid %d): %s", self.child.pid, " ".join(self.options.command()))

    @property
    def pid(self) -> int | None:
        return self.child.pid if self.child else None

    def quit(self, client: OscClient | None = None) -> None:
        """/quit (which also removes the server's shared memory), then signals if needed."""
        if self.child is None:
            return
        if not self.child.alive():
            # it died (killed, crashed): nothing to ask, and its segment is surely stale
            self.child.stop(timeout=0.5)
            (SHM_DIR / self.options.shm_name).unlink(missing_ok=True)
            self.child = None
            return
        own = client or OscClient("127.0.0.1", self.options.port, name="quit")

        def ask() -> None:
            own.send("/quit")

        try:
            self.child.stop(timeout=3.0, polite=ask)
        finally:
            if client is None:
                own.close()
        clear_stale_shm(self.options)
        self.child = None
