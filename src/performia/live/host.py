"""The conductor's side of live coding: the live agents' process, the files it plays, the
bars it has computed, and what went wrong.

How user code is kept off the real-time path (docs/LIVE_CODING.md):
- the code runs in its own process (`performia.live.worker`, SCHED_OTHER, nice 10),
  started with `posix_spawn` (no fork of this real-time process) from the keeper thread;
- the band loop only puts a request on a queue (`request`, once per bar, for the bar after
  next) and looks a computed bar up in a dict (`bar_notes`): nothing it calls can wait;
- a bar that has not arrived when it starts is played by the built-in agent (`late`);
- a process that hangs is ended (its own `faulthandler` timeout, or SIGKILL from here one
  timeout later), the file it was running is blamed (with the line it was on), and the
  process is restarted with every other file and the last good version of that one.

Threads here (all at SCHED_FIFO 1, below the band loop): the keeper (writes to the process,
restarts it), a reader of its stdout (results) and one of its stderr (the log, tracebacks).
"""

from __future__ import annotations

import logging
import os
import queue
import re
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from performia.live.protocol import BarNotes, decode, digest, encode
from performia.processes import set_background_realtime
from performia.transport.guard import truncated

log = logging.getLogger(__name__)

KEEP_BARS = 4                 # computed bars kept behind the newest
STDERR_LINES = 60             # the process's last lines, for the traceback of a hang
LOG_LINES_PER_SECOND = 5      # what the agents print is logged at most this often
MAX_BACKOFF = 10.0
_FRAME = re.compile(r'File "(?P<path>[^"]+)", line (?P<line>\d+)')


@dataclass(frozen=True)
class LiveError:
    path: str
    line: int
    message: str
    agent: str | None = None
    time: float = 0.0

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


ErrorSink = Callable[[LiveError], None]


@dataclass
class _Process:
    pid: int
    stdin: int                # our end of its stdin
    generation: int
    started: float
    sent: dict[str, str] = field(default_factory=dict)   # file → the digest sent to it


class LiveHost:
    def __init__(self, folder: Path, budget_ms: float, timeout: float, on_error: ErrorSink,
                 python: str = sys.executable) -> None:
        self.folder = folder
        self.budget_ms = budget_ms
        self.timeout = timeout
        self.on_error = on_error
        self.python = python
        # read by the band loop: replaced whole, never mutated
        self._results: dict[tuple[str, int], BarNotes] = {}
        self.playing: dict[str, str] = {}          # agent → file (as the process says)
        self.files: dict[str, dict[str, Any]] = {}  # file → {"agent", "status", "line", ...}
        self.last_error: LiveError | None = None
        self.errors = 0
        self.late = 0                 # bars played by a built-in agent: notes not in time
        self.restarts = 0
        self._sources: dict[str, tuple[str, str]] = {}   # file → (source, digest) offered
        self._good: dict[str, tuple[str, str]] = {}      # file → the last version that played
        self._bad: set[str] = set()                      # digests that hung
        self._outbox: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        self._last_request: dict[str, Any] | None = None
        self._process: _Process | None = None
        self._generation = 0
        self._running: tuple[str, float] | None = None  # (file, since): the code running
        self._stderr_tail: deque[str] = deque(maxlen=STDERR_LINES)
        self._stop = threading.Event()
        self._died = threading.Event()
        self._deaths_in_a_row = 0
        self._keeper = threading.Thread(target=self._keep, name="live-keeper", daemon=True)
        self._logged: deque[float] = deque(maxlen=LOG_LINES_PER_SECOND)

    def start(self) -> LiveHost:
        self._keeper.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._outbox.put(None)
        if self._keeper.is_alive():
            self._keeper.join(timeout=5.0)

    # -- the band loop (never waits) --------------------------------------------------------

    def request(self, bar: int, ctx: dict[str, Any]) -> None:
        """Ask for `bar` (the bar after the one starting now)."""
        self._outbox.put({"op": "bar", "bar": bar, "ctx": ctx})

    def bar_notes(self, agent: str, bar: int) -> BarNotes | None:
        """`agent`'s notes for `bar` if they are here (else: the built-in agent plays)."""
        if agent not in self.playing:
            return None
        notes = self._results.get((agent, bar))
        if notes is None:
            self.late += 1
        return notes

    # -- the folder watcher ----------------------------------------------------------------

    def offer(self, path: str, source: str) -> None:
        """A file was saved: load it (from the next bar it is in time for)."""
        version = digest(source)
        if self._sources.get(path, ("", ""))[1] == version:
            return                                          # saved without a change
        self._sources[path] = (source, version)
        if version in self._bad:
            self._report(LiveError(path, 0, "this version hung before: not loaded again "
                                            "(the previous version plays); edit the file"))
            return
        self._set_file(path, status="loading")
        self._outbox.put({"op": "load", "path": path, "source": source, "digest": version})

    def remove(self, path: str) -> None:
        """A file was deleted: its agent goes back to the built-in one at the next bar."""
        self._sources.pop(path, None)
        self._good.pop(path, None)
        self.files = {p: v for p, v in self.files.items() if p != path}
        self._outbox.put({"op": "unload", "path": path})

    def report(self, path: str, line: int, message: str) -> None:
        """An error found outside the process (a file that cannot be read)."""
        self._report(LiveError(path, line, message))

    # -- inside ------------------------------------------------------------------------------

    def _report(self, error: LiveError) -> None:
        error = LiveError(error.path, error.line, error.message, error.agent, time.time())
        self.last_error = error
        self.errors += 1
        self._set_file(error.path, status="error", error=str(error))
        try:
            self.on_error(error)
        except Exception:
            log.exception("reporting a live-coding error failed")

    def _set_file(self, path: str, **values: Any) -> None:
        entry = {**self.files.get(path, {"agent": None, "status": "new", "error": None}),
                 **values}
        self.files = {**self.files, path: entry}

    def _keep(self) -> None:
        """Start the process, write to it, restart it when it dies. This thread starts the
        process, so the process's parent-death signal follows this thread's life."""
        set_background_realtime("live agents keeper")
        backoff = 0.0
        while not self._stop.is_set():
            if self._process is None:
                if backoff and self._stop.wait(backoff):
                    break
                self._spawn()
            try:
                message = self._outbox.get(timeout=0.1)
            except queue.Empty:
                message = None
            if self._stop.is_set():
                break
            if message is not None and message["op"] == "bar":
                self._last_request = message       # sent again to a restarted process
            if self._died.is_set():
                backoff = self._buried()
                continue
            if message is not None and message["op"] != "died":
                self._write(message)
            self._check_hang()
        self._end()

    def _write(self, message: dict[str, Any]) -> None:
        process = self._process
        if process is None:
            return
        if message["op"] == "load":
            if process.sent.get(message["path"]) == message["digest"]:
                return                       # it has this version already (sent at start)
            process.sent[message["path"]] = message["digest"]
        try:
            os.write(process.stdin, encode(message))
        except OSError as error:           # it died; its reader will tell
            log.debug("live agents: write failed: %s", error)

    def _check_hang(self) -> None:
        running, process = self._running, self._process
        if running is None or process is None:
            return
        path, since = running
        if time.monotonic() - since > self.timeout + 0.5:
            log.warning("live agents: %s has been running for %.1f s: stopping the process",
                        path, time.monotonic() - since)
            self._kill(process)

    def _spawn(self) -> None:
        stdin_r, stdin_w = os.pipe()
        stdout_r, stdout_w = os.pipe()
        stderr_r, stderr_w = os.pipe()
        command = [self.python, "-m", "performia.live.worker", "--budget-ms",
                   str(self.budget_ms), "--timeout", str(self.timeout),
                   "--parent", str(os.getpid())]
        try:
            pid = os.posix_spawn(
                self.python, command, os.environ,
                file_actions=[(os.POSIX_SPAWN_DUP2, stdin_r, 0),
                              (os.POSIX_SPAWN_DUP2, stdout_w, 1),
                              (os.POSIX_SPAWN_DUP2, stderr_w, 2)],
                setsid=True, scheduler=(os.SCHED_OTHER, os.sched_param(0)))
        finally:
            for fd in (stdin_r, stdout_w, stderr_w):
                os.close(fd)
        self._generation += 1
        process = _Process(pid, stdin_w, self._generation, time.monotonic())
        self._process = process
        self._running = None
        self._died.clear()
        self._stderr_tail.clear()
        threading.Thread(target=self._read, args=(process, stdout_r), daemon=True,
                         name="live-results").start()
        threading.Thread(target=self._read_log, args=(stderr_r,), daemon=True,
                         name="live-log").start()
        for path, (source, version) in self._sources.items():
            if version in self._bad:
                good = self._good.get(path)
                if good is None or good[1] in self._bad:
                    continue
                source, version = good
            os.write(stdin_w, encode({"op": "load", "path": path, "source": source,
                                      "digest": version}))
            process.sent[path] = version
        if self._last_request is not None:
            os.write(stdin_w, encode(self._last_request))
        log.info("live agents: process %d started (%d files)", pid, len(self._sources))

    def _read(self, process: _Process, fd: int) -> None:
        set_background_realtime("live agents results")
        with os.fdopen(fd, "rb") as stream:
            for line in stream:
                try:
                    self._on_message(decode(line))
                except (ValueError, KeyError, TypeError) as error:
                    log.warning("live agents: bad message %s: %s", truncated(line), error)
        os.waitpid(process.pid, 0)
        self._died.set()
        self._outbox.put({"op": "died"})              # wake the keeper

    def _read_log(self, fd: int) -> None:
        set_background_realtime("live agents log")
        with os.fdopen(fd, "rb") as stream:
            for raw in stream:
                line = raw.decode("utf-8", "replace").rstrip()
                self._stderr_tail.append(line)
                now = time.monotonic()
                if len(self._logged) < LOG_LINES_PER_SECOND or now - self._logged[0] > 1.0:
                    self._logged.append(now)
                    log.info("live agents: %s", truncated(line))

    def _on_message(self, message: dict[str, Any]) -> None:
        op = message["op"]
        if op == "begin":
            self._running = (str(message["path"]), time.monotonic())
            return
        self._running = None
        path = str(message.get("path", ""))
        if op == "notes":
            notes = BarNotes.from_message(message)
            results = {k: v for k, v in self._results.items() if k[1] >= notes.bar - KEEP_BARS}
            results[(notes.agent, notes.bar)] = notes
            self._results = results
            source = self._sources.get(path)
            if source is not None and source[1] == notes.digest:
                self._good[path] = source
            self._set_file(path, agent=notes.agent, status="playing", cpu_ms=message["cpu_ms"])
            self._deaths_in_a_row = 0
        elif op == "loaded":
            agent = str(message["agent"])
            self.playing = {**self.playing, agent: path}
            self._set_file(path, agent=agent, status="loaded", error=None)
            log.info("live agents: %s loaded: it plays %s from the next bar it is ready for",
                     self._short(path), agent)
        elif op == "unloaded":
            agent = str(message["agent"])
            if self.playing.get(agent) == path:
                self.playing = {a: p for a, p in self.playing.items() if a != agent}
                self._results = {k: v for k, v in self._results.items() if k[0] != agent}
                log.info("live agents: %s is the built-in agent again", agent)
        elif op == "error":
            self._report(LiveError(path, int(message["line"]), str(message["message"]),
                                   message.get("agent")))

    def _buried(self) -> float:
        """The process died: blame the file it was running, restart; the backoff."""
        process, running = self._process, self._running
        self._process, self._running = None, None
        self._died.clear()
        if process is not None:
            os.close(process.stdin)
        if self._stop.is_set():
            return 0.0
        self.restarts += 1
        if running is None:
            self._deaths_in_a_row += 1
            log.error("live agents: the process ended by itself; restarting it%s",
                      "" if self._deaths_in_a_row < 2 else " (again)")
            return float(min(MAX_BACKOFF, 0.5 * 2.0 ** (self._deaths_in_a_row - 1)))
        path = running[0]
        version = self._sources.get(path, ("", ""))[1]
        self._bad.add(version)
        # the others go on with the bars already computed; a good version of this file,
        # if there is one, plays again once the new process has loaded it
        self.playing = {a: p for a, p in self.playing.items() if p != path}
        line = self._line_in_tail(path)
        self._report(LiveError(path, line, f"did not return within {self.timeout:g} s (an "
                                           "endless loop, a sleep, a blocking call?): the "
                                           "process was restarted without this version; "
                                           "the previous version plays"))
        return 0.0

    def _line_in_tail(self, path: str) -> int:
        """The line of `path` the hung process was on (faulthandler's dump, newest first)."""
        for line in self._stderr_tail:
            match = _FRAME.search(line)
            if match and match["path"] == path:
                return int(match["line"])
        return 0

    def _kill(self, process: _Process) -> None:
        try:
            os.kill(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            log.debug("live agents: process %d already gone", process.pid)

    def _end(self) -> None:
        process = self._process
        if process is None:
            return
        os.close(process.stdin)            # EOF: it ends by itself
        if not self._died.wait(1.0):
            self._kill(process)
            self._died.wait(1.0)

    def _short(self, path: str) -> str:
        try:
            return str(Path(path).relative_to(Path.cwd()))
        except ValueError:
            return path
