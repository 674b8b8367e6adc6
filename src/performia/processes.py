"""Child processes that cannot outlive us: own process group, parent-death signal, and a
stop that escalates from a polite request to SIGTERM to SIGKILL of the whole group."""

from __future__ import annotations

import ctypes
import logging
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
REALTIME_SWITCH_INTERVAL = 0.0005   # seconds: how soon a waiting thread gets the GIL
STARTED: list[int] = []   # every PID this process started (tests check none outlives them)
EXIT_PORT_TAKEN = 75      # a child that cannot bind its port exits with this (EX_TEMPFAIL)
LAST_LINES = 20           # lines of a child's output kept to say why it died
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:
    """Runs in the child between fork and exec: SIGTERM it when the parent dies."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    """A started child process, known by its PID and process group."""

    name: str
    process: subprocess.Popen[bytes]
    on_line: Callable[[str], None] | None = None
    _reader: threading.Thread | None = field(default=None, repr=False)
    last_lines: deque[str] = field(default_factory=lambda: deque(maxlen=LAST_LINES), repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def last_words(self) -> str:
        """The last line it wrote before it died (its error, mostly), or '' when none was kept;
        waits a moment for the line to come through its pipe."""
        if self._reader is not None and not self.alive():
            self._reader.join(timeout=0.5)
        return self.last_lines[-1] if self.last_lines else ""

    def stop(self, timeout: float = 3.0, polite: Callable[[], None] | None = None) -> int | None:
        """Stop the child and its group: `polite()` first (e.g. /quit), then SIGTERM, SIGKILL."""
        if polite is not None and self.alive():
            try:
                polite()
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s (pid %d) did not stop when asked; terminating", self.name, self.pid)
            except OSError as error:
                log.warning("could not ask %s to stop: %s", self.name, error)
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, timeout)):
            if not self.alive():
                break
            self._signal_group(sig)
            try:
                self.process.wait(wait)
            except subprocess.TimeoutExpired:
                log.warning("%s (pid %d) ignored %s", self.name, self.pid, sig.name)
        if self._reader is not None:
            self._reader.join(timeout=1.0)
        return self.process.returncode

    def terminate(self) -> None:
        """SIGTERM to the child's group, without waiting (see `stop_all`)."""
        if self.alive():
            self._signal_group(signal.SIGTERM)

    def _signal_group(self, sig: signal.Signals) -> None:
        try:
            os.killpg(self.pid, sig)  # the child leads its own group: only our processes
        except ProcessLookupError:
            pass


def stop_all(children: Sequence[Child], grace: float) -> list[str]:
    """Stop `children` together, fast: SIGTERM to all at once, then SIGKILL to those still
    running after `grace` seconds. The names of those that had to be killed."""
    for child in children:
        child.terminate()
    deadline = time.monotonic() + grace
    killed = []
    for child in children:
        try:
            child.process.wait(max(deadline - time.monotonic(), 0.0))
        except subprocess.TimeoutExpired:
            child._signal_group(signal.SIGKILL)
            child.process.wait(grace)
            killed.append(child.name)
        if child._reader is not None:
            child._reader.join(timeout=grace)
    return killed


def describe_exit(returncode: int | None) -> str:
    """'exit 1', 'killed by SIGKILL', or 'still running'."""
    if returncode is None:
        return "still running"
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit {returncode}"


@dataclass
class RestartBudget:
    """At most `limit` restarts within any `window` seconds, for one child alone."""

    limit: int
    window: float
    times: deque[float] = field(default_factory=deque)

    def take(self, now: float) -> bool:
        """Count a restart at `now` (monotonic seconds); False when over the budget."""
        while self.times and now - self.times[0] >= self.window:
            self.times.popleft()
        if len(self.times) >= self.limit:
            return False
        self.times.append(now)
        return True


@dataclass
class Backoff:
    """Waits before retrying something that keeps failing: first, 2·first, 4·first … up to
    `longest`; back to `first` after it stayed up `stable` seconds."""

    first: float = 1.0
    longest: float = 30.0
    stable: float = 30.0
    failures: int = 0

    def next_delay(self, lived: float) -> float:
        """The wait before the next try, after a failure of a try that lived `lived` s."""
        if lived >= self.stable:
            self.failures = 0
        delay = min(math.ldexp(self.first, min(self.failures, 30)), self.longest)
        self.failures += 1
        return delay


def spawn(name: str, command: Sequence[str], *, env: dict[str, str] | None = None,
          on_line: Callable[[str], None] | None = None, pass_fds: Sequence[int] = (),
          cwd: str | None = None, relay: bool = False) -> Child:
    """Start `command` in a new process group that dies with us; feed its output to `on_line`.
    With `relay`, its output is echoed to our stderr as it comes (as if inherited) and its
    last lines are kept to say why it died (`Child.last_words`)."""
    log.debug("starting %s: %s", name, " ".join(command))
    piped = on_line is not None or relay
    process = subprocess.Popen(
        list(command), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if piped else None,
        stderr=subprocess.STDOUT if piped else None,
        env=env, cwd=cwd, start_new_session=True, preexec_fn=_die_with_parent,  # noqa: PLW1509
        pass_fds=tuple(pass_fds),
    )
    STARTED.append(process.pid)
    child = Child(name, process, on_line)
    if piped:
        child._reader = threading.Thread(target=_read_lines,
                                         args=(child, _echo if relay else None),
                                         name=f"{name}-stdout", daemon=True)
        child._reader.start()
    return child


def _echo(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _read_lines(child: Child, otherwise: Callable[[str], None] | None) -> None:
    """Each line of the child's output to its `on_line` as it is now (a caller may stop
    listening by setting it to None), else to `otherwise`; the last lines kept."""
    stdout = child.process.stdout
    if stdout is None:
        return
    for raw in stdout:
        line = raw.decode("utf-8", "replace").rstrip()
        if not line:
            continue
        child.last_lines.append(line)
        handle = child.on_line if child.on_line is not None else otherwise
        if handle is None:
            continue
        try:
            handle(line)
        except Exception:
            log.exception("handling a line of output failed: %r", line)
    stdout.close()


def set_realtime(priority: int, what: str) -> bool:
    """SCHED_FIFO for this process; a clear warning and False where not permitted."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except PermissionError:
        log.warning("%s: real-time scheduling (SCHED_FIFO %d) not permitted; running at normal "
                    "priority, timing may suffer under load. Fix: run as a user in the 'audio' "
                    "group with rtprio in /etc/security/limits.d/audio.conf", what, priority)
        return False
    except OSError as error:
        log.warning("%s: could not set SCHED_FIFO %d: %s", what, priority, error)
        return False
    # A thread waiting for the GIL asks for it after this interval (default 5 ms): the
    # real-time threads of this process get it back within half a millisecond.
    sys.setswitchinterval(REALTIME_SWITCH_INTERVAL)
    log.info("%s: SCHED_FIFO priority %d", what, priority)
    return True


# Worker pools that numeric libraries start at import run at normal priority: a real-time
# thread that hands them work would wait behind any busy process. One thread, no pool.
_SINGLE_THREADED = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def realtime_child_env() -> dict[str, str]:
    """The environment of a real-time child: ours, with numeric libraries single-threaded."""
    return {**os.environ, **_SINGLE_THREADED}


def set_background_realtime(what: str) -> bool:
    """This thread (not its process) at SCHED_FIFO 1: below every audio thread, above every
    normal process. For the helper threads of a real-time Python process: a normal-priority
    thread preempted by a busy process while it holds the GIL would stall the process's
    real-time threads for a whole time slice (measured: answers 26–47 ms late)."""
    try:
        os.sched_setscheduler(threading.get_native_id(), os.SCHED_FIFO, os.sched_param(1))
    except OSError as error:
        log.debug("%s keeps its priority: %s", what, error)
        return False
    return True


def set_low_priority(what: str, niceness: int = 10) -> None:
    """Normal scheduling at a lower priority (nice), for work that must never disturb audio."""
    try:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        os.nice(niceness)
    except OSError as error:
        log.warning("%s: could not lower priority: %s", what, error)


def realtime_permitted() -> bool:
    """Whether this user may use SCHED_FIFO (root, or a non-zero RLIMIT_RTPRIO)."""
    import resource

    if os.geteuid() == 0:
        return True
    soft, _hard = resource.getrlimit(resource.RLIMIT_RTPRIO)
    return soft == resource.RLIM_INFINITY or soft > 0


def catches_signal(pid: int, sig: signal.Signals) -> bool:
    """Whether process `pid` has a handler for `sig` now (its SigCgt mask in /proc): a
    signal whose default is to terminate is sent only to a process that handles it."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (int(sig) - 1) & 1)
    except (OSError, ValueError):
        return False
    return False


def pid_alive(pid: int) -> bool:
    """Is process `pid` alive (one we may not signal counts as alive)?"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
