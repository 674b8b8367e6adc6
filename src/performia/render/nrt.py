"""The audio pass: scsynth (or supernova) in non-real-time mode (`-N`), started first and
fed its score through a FIFO as the band decides (`open_score`, `send`, `close_score`); it
renders up to the last bundle it has, then waits for more. Its output is one float WAV of
the output buses (the master on 0–1; with stems, 32 outputs, so that the instrument buses
16–31 are written too).

Which server: `[server] render_executable`, scsynth by default, or the live server
(supernova) when that is not installed.
Both play the same SynthDefs and the same score; scsynth renders the 32-bar benchmark in
≈ 0.8 s of CPU where supernova takes ≈ 2 s, ≈ 0.9 s of which is a fixed spin-wait
calibration at its start (measured here, docs/PERFORMANCE.md). The song's sample 0 is the
same in both outputs: supernova plays what `OffsetOut` writes a block late, and its score
starts those notes a block early; scsynth's timetags are placed on its own block clock
(`score.server_clock`).

Determinism: scsynth seeds the noise generator all synths share from the clock; the
score's first synth, `seed_noise`, reseeds it (score.setup). supernova runs with `-T 1`
(one DSP thread: the ParGroups' order of summation is fixed) and without address-space
randomisation (`setarch -R`): it seeds each synth's generator from the synth's address,
which then repeats run after run.
"""

from __future__ import annotations

import errno
import logging
import os
import platform
import queue
import shutil
import subprocess
import threading
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

WAV_HEADER_GUESS = 128     # bytes before the samples in the server's WAV (for the progress)


class NrtError(RuntimeError):
    """The server could not render (the message says why, in one line)."""


def render_executable(wanted: str, fallback: str) -> str:
    """The configured render server (`[server] render_executable`), or the live server when
    it is not installed."""
    if shutil.which(wanted) is not None or shutil.which(fallback) is None:
        return wanted
    log.warning("%s not found: the render uses %s (slower to start)", wanted, fallback)
    return fallback


@dataclass(frozen=True)
class NrtSettings:
    executable: str
    sample_rate: int
    block_size: int
    outputs: int
    inputs: int = 2
    rt_memory_kb: int = 262144
    max_nodes: int = 4096
    audio_buses: int = 1024

    @property
    def supernova(self) -> bool:
        return "supernova" in Path(self.executable).name


def command(settings: NrtSettings, score: Path, output: Path) -> list[str]:
    common = ["-N", str(score), "_", str(output), str(settings.sample_rate), "WAV", "float",
              "-z", str(settings.block_size), "-o", str(settings.outputs),
              "-i", str(settings.inputs), "-m", str(settings.rt_memory_kb),
              "-n", str(settings.max_nodes), "-a", str(settings.audio_buses), "-R", "0"]
    if not settings.supernova:        # scsynth: no SynthDefs from its default folder
        return [settings.executable, *common, "-D", "0"]
    nova = [settings.executable, *common, "-T", "1"]
    setarch = shutil.which("setarch")
    if setarch is None:
        log.warning("setarch not found (util-linux): the noise in the drums will differ "
                    "from render to render")
        return nova
    return [setarch, platform.machine(), "-R", *nova]


class NrtRender:
    """One scsynth or supernova -N run in `workdir`: `start()`, `open_score()`, `send(part)`…,
    `close_score()`, `wait()`; `abort()` on any failure (it ends only the process it
    started)."""

    def __init__(self, settings: NrtSettings, workdir: Path) -> None:
        self.settings = settings
        self.fifo = workdir / "score.osc"
        self.output = workdir / "render.wav"
        self.log_path = workdir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._feeder: threading.Thread | None = None
        self._parts: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._feed_error: BaseException | None = None

    @property
    def name(self) -> str:
        return Path(self.settings.executable).name

    def start(self) -> None:
        if shutil.which(self.settings.executable) is None:
            raise NrtError(f"{self.settings.executable} not found: install SuperCollider's "
                           "server ('performia doctor' says how)")
        os.mkfifo(self.fifo)
        with open(self.log_path, "wb") as out:
            self.process = subprocess.Popen(  # noqa: S603 (our own command line)
                command(self.settings, self.fifo, self.output), stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def open_score(self) -> None:
        """Start streaming the score: `send` parts of it in time order (the server renders
        up to the last bundle it has, then waits for the next), `close_score` at its end."""
        self._feeder = threading.Thread(target=self._write, args=(self._parts,),
                                        name="nrt-score", daemon=True)
        self._feeder.start()

    def send(self, part: bytes) -> None:
        if self._feeder is None:
            raise NrtError("the score was not opened")
        if part:
            self._parts.put(part)

    def close_score(self) -> None:
        if self._feeder is not None:
            self._parts.put(None)

    def _open_fifo(self) -> int:
        while True:
            try:
                return os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as error:
                if error.errno != errno.ENXIO:
                    raise
            if self.process is None or self.process.poll() is not None:
                raise NrtError(f"{self.name} ended before reading its score: "
                               + self.last_lines())
            time.sleep(0.005)

    def _write(self, parts: queue.SimpleQueue[bytes | None]) -> None:
        """The feeder thread: opens the FIFO when the server does (supernova: after its
        calibration), then writes the parts as they come."""
        try:
            fd = self._open_fifo()
        except (NrtError, OSError) as error:
            self._feed_error = error
            return
        try:
            os.set_blocking(fd, True)
            while (part := parts.get()) is not None:
                view = memoryview(part)
                while view:
                    view = view[os.write(fd, view):]
        except OSError as error:       # the server died while reading: reported by wait()
            self._feed_error = error
        finally:
            os.close(fd)

    def rendered(self) -> float:
        """Seconds of output written so far (from the file's size)."""
        try:
            size = self.output.stat().st_size
        except FileNotFoundError:
            return 0.0
        frame = 4 * self.settings.outputs
        return max(size - WAV_HEADER_GUESS, 0) / frame / self.settings.sample_rate

    def wait(self, on_progress: object = None, timeout: float = 3600.0) -> None:
        """Until the server is done; NrtError if it failed."""
        if self.process is None:
            raise NrtError(f"{self.name} was not started")
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            if callable(on_progress):
                on_progress(self.rendered())
            if time.monotonic() > deadline:
                self.abort()
                raise NrtError(f"{self.name} did not finish within {timeout:.0f} s")
            with suppress(subprocess.TimeoutExpired):    # returns as soon as it ends
                self.process.wait(timeout=0.05)
        if self._feeder is not None:
            self._feeder.join()
        code = self.process.returncode
        if code != 0:
            raise NrtError(f"{self.name} failed (exit status {code}): {self.last_lines()}")
        if self._feed_error is not None:
            raise NrtError(f"{self.name} stopped reading its score ({self._feed_error}): "
                           + self.last_lines())
        failures = self.failures()
        if failures:
            raise NrtError(f"{self.name} refused a command: {failures[0]}")

    def failures(self) -> list[str]:
        """Lines of the server's log that mean the render is wrong: a SynthDef or a buffer
        that could not be loaded, a synth that could not be made. (A release for a note
        that has already ended, /n_set on a freed node, is normal: live too.)"""
        bad = []
        for line in self._lines():
            if "FAILURE" in line and "/n_set" not in line:
                bad.append(line.strip())
            elif "could not" in line.lower() or "error" in line.lower():
                bad.append(line.strip())
        return bad

    def _lines(self) -> list[str]:
        try:
            return self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return []

    def last_lines(self, count: int = 3) -> str:
        lines = [line.strip() for line in self._lines()
                 if line.strip() and "Next OSC bundle" not in line
                 and not line.startswith("nextOSCPacket")
                 and not line.strip().startswith("Channel")]
        return " / ".join(lines[-count:]) or "no output"

    def abort(self) -> None:
        """End the server if it still runs (only the process we started, by its pid)."""
        self.close_score()
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=2.0)
