"""Process failures, with real processes (`python -m performia --realtime` on this run's own
JACK server and ports): a GUI killed again and again, a GUI whose port another program holds,
supernova killed during `--record` when it may not be restarted, and the manager itself
killed during `--record` (restarts of the conductor, transport and supernova, and the fuzz of
both ports: tests/test_restarts.py).
The figures these measure are in docs/RELIABILITY.md ("Process failures")."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from performia.config import replace
from performia.listen.rehearsal import load_samples
from performia.server.recorder import MAX_BUFFER_FRAMES
from tests.audio import read_wav
from tests.conftest import (
    PROJECT,
    RUN_ID,
    make_config,
    our_segments,
    still_running,
    wait_gone,
    write_config,
)

pytestmark = pytest.mark.server

RATE = 48000


class Band:
    """A manager started as a user starts it, its output in a file we can read meanwhile."""

    def __init__(self, tmp_path: Path, jack_name: str, *args: str, gui_backoff: float = 30.0,
                 gui: bool = False, gui_port: int | None = None, max_restarts: int = 5,
                 event_port: int | None = None) -> None:
        config = make_config(jack_name)
        config = replace(config, "supervision", gui_max_backoff=gui_backoff,
                         max_restarts=max_restarts)
        if gui_port is not None:
            config = replace(config, "gui", port=gui_port)
        if event_port is not None:
            config = replace(config, "osc", event_port=event_port)
        self.config = config
        self.jack_name = jack_name
        self.config_file = write_config(tmp_path / f"{jack_name}.toml", config)
        self.log_path = tmp_path / f"{jack_name}.log"
        self.env = {**os.environ, "PERFORMIA_STATE_DIR": str(tmp_path / "state")}
        command = [sys.executable, "-m", "performia", "--realtime", "--config",
                   str(self.config_file), *args, *([] if gui else ["--no-gui"])]
        self.log_file = open(self.log_path, "w")  # noqa: SIM115 (closed in finish())
        self.process = subprocess.Popen(command, cwd=PROJECT, stdout=self.log_file,
                                        stderr=subprocess.STDOUT, env=self.env)
        self.children: list[int] = []

    @property
    def output(self) -> str:
        return self.log_path.read_text()

    def child(self, module: str) -> psutil.Process | None:
        try:
            for kid in psutil.Process(self.process.pid).children(recursive=True):
                if module in " ".join(kid.cmdline()) and kid.status() != psutil.STATUS_ZOMBIE:
                    return kid
        except psutil.NoSuchProcess:
            return None
        return None

    def wait_playing(self, timeout: float = 40.0) -> float:
        """Wait until the band plays; its start time (t = 0 of the recordings, Unix s)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            conductor = self.child("performia.conductor")
            if conductor is not None and "the band starts" in self.output:
                plan = json.loads(conductor.cmdline()[-1])
                self.children = [p.pid for p in
                                 psutil.Process(self.process.pid).children(recursive=True)]
                while time.time() < plan["start_time"] + 0.5:
                    time.sleep(0.05)
                return float(plan["start_time"])
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.process.kill()
        raise AssertionError("the band did not start:\n" + self.output[-3000:])

    def supernova_pid(self) -> int:
        found = re.search(r"supernova booted \(pid (\d+)\)", self.output)
        if found is None:
            raise AssertionError("no supernova pid in the manager's output")
        return int(found.group(1))

    def finish(self, timeout: float = 30.0) -> int:
        try:
            code = self.process.wait(timeout)
        finally:
            self.log_file.close()
        deadline = time.monotonic() + 10
        while still_running(self.children) and time.monotonic() < deadline:
            time.sleep(0.1)
        return code


# A killed server cannot flush what is still in DiskOut's buffer (at most MAX_BUFFER_FRAMES,
# 0.34 s), and its sample clock falls behind the wall clock at each dropout (this VM: up to
# 10 a second): the file holds everything written, compared with the wall clock's length.
LOST_AT_MOST = MAX_BUFFER_FRAMES / RATE + 0.05


def _loud_every_second(audio: np.ndarray, start: float, end: float) -> list[float]:
    """The peak of each whole second of `audio` from `start` to `end` (s)."""
    return [float(np.abs(audio[int(s * RATE):int((s + 1) * RATE)]).max())
            for s in np.arange(start, end - 1, 1.0)]


def _gui_serves(band: Band) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((band.config.gui.host, band.config.gui.port)) == 0


def test_a_gui_killed_seven_times_never_touches_the_band(tmp_path: Path) -> None:
    out = tmp_path / "gui-kills.wav"
    band = Band(tmp_path, RUN_ID + "guik", "--record", str(out), gui=True, gui_backoff=2.0)
    try:
        band.wait_playing()
        killed: list[int] = []
        for round_ in range(8):                  # 7 kills, and the GUI back after the last
            deadline = time.monotonic() + 15
            gui = band.child("performia.gui")
            while (gui is None or gui.pid in killed or not _gui_serves(band)) \
                    and time.monotonic() < deadline:
                time.sleep(0.1)
                gui = band.child("performia.gui")
            assert gui is not None and gui.pid not in killed, band.output[-3000:]
            if round_ < 7:
                os.kill(gui.pid, signal.SIGKILL)
                killed.append(gui.pid)
        assert band.process.poll() is None                      # the band never stopped
    finally:
        if band.process.poll() is None:
            band.process.send_signal(signal.SIGINT)
        code = band.finish()
    output = band.output
    assert code == 0, output[-3000:]
    rate, audio = read_wav(out)
    peaks = _loud_every_second(audio, 1.0, audio.shape[0] / rate)
    assert len(peaks) >= 10 and min(peaks) > 0.05, peaks        # no second without the band
    reports = [line for line in output.splitlines() if "the GUI died" in line]
    assert len(reports) == 2, reports      # the first death, then the summary at the end
    assert "the GUI died 7 times during the show" in reports[-1]
    assert "the band stops" not in output


def test_a_taken_gui_port_is_reported_once_and_the_band_plays(tmp_path: Path) -> None:
    out = tmp_path / "taken.wav"
    with socket.socket() as squatter:                       # another program holds the port
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        band = Band(tmp_path, RUN_ID + "gport", "--record", str(out), "--duration", "8",
                    gui=True, gui_backoff=1.0, gui_port=port)
        code = band.finish(60)
    output = band.output
    assert code == 0, output[-3000:]
    errors = [line for line in output.splitlines() if "the GUI cannot start" in line]
    assert len(errors) == 1, errors
    assert f"127.0.0.1:{port} is in use by another program" in errors[0]
    assert "[gui] port" in errors[0] and "--no-gui" in errors[0]
    assert "GUI: http" not in output                     # never claimed to serve
    rate, audio = read_wav(out)
    assert audio.shape[0] >= 7.5 * rate
    assert min(_loud_every_second(audio, 1.0, audio.shape[0] / rate)) > 0.05


def test_a_taken_osc_fallback_port_costs_the_fallback_not_the_band(tmp_path: Path) -> None:
    out = tmp_path / "fallback.wav"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:   # another program
        squatter.bind(("127.0.0.1", 0))
        port = squatter.getsockname()[1]
        band = Band(tmp_path, RUN_ID + "eport", "--record", str(out), "--duration", "6",
                    event_port=port)
        code = band.finish(60)
    output = band.output
    assert code == 0, output[-3000:]
    errors = [line for line in output.splitlines() if "the OSC fallback cannot listen" in line]
    assert len(errors) == 1, errors
    assert f"127.0.0.1:{port}" in errors[0] and "[osc] event_port" in errors[0]
    assert "transport died" not in output                 # never restarted for it
    rate, audio = read_wav(out)
    assert audio.shape[0] >= 5.5 * rate
    assert min(_loud_every_second(audio, 1.0, audio.shape[0] / rate)) > 0.05


def test_supernova_killed_beyond_its_budget_leaves_the_recording_whole_and_stops_at_once(
        tmp_path: Path) -> None:
    """With no restart allowed ([supervision] max_restarts = 0) a supernova crash ends the
    show at once (the restart itself: tests/test_restarts.py)."""
    out, stems = tmp_path / "sn-kill.wav", tmp_path / "sn-kill-stems.wav"
    band = Band(tmp_path, RUN_ID + "snk", "--record", str(out), "--stems", str(stems),
                max_restarts=0)
    try:
        start = band.wait_playing()
        time.sleep(4.0)
        supernova = band.supernova_pid()
        killed_at = time.time()
        os.kill(supernova, signal.SIGKILL)
        t0 = time.monotonic()
        code = band.process.wait(10)
        exit_after = time.monotonic() - t0
    finally:
        if band.process.poll() is None:
            band.process.kill()
        band.finish()
    output = band.output
    print(f"supernova killed {killed_at - start:.3f} s into the recording; the manager "
          f"exited {exit_after:.3f} s later with {code}")
    assert code == 1, output[-3000:]
    assert exit_after < 1.0, output[-3000:]
    died = [line for line in output.splitlines() if "died (killed by SIGKILL)" in line]
    assert len(died) == 1 and f"supernova (pid {supernova})" in died[0]
    assert "the band stops ([supervision] max_restarts = 0" in died[0]
    assert "Traceback" not in output.split(died[0])[1], output[-5000:]   # a quiet end
    expected = killed_at - start
    for path, channels in ((out, 2), (stems, 15)):
        rate, audio = read_wav(path)                         # scipy, a standard reader
        assert rate == RATE and audio.shape[1] == channels
        length = audio.shape[0] / rate
        print(f"{path.name}: {length:.3f} s (killed at {expected:.3f} s)")
        assert abs(length - expected) <= LOST_AT_MOST, (length, expected)
        assert f"recording repaired: {path}" in output
    samples, info = load_samples(out)                        # the project's own reader
    assert info.frames == read_wav(out)[1].shape[0]
    assert float(np.abs(samples[int(RATE * (expected - 1.2)):]).max()) > 0.05  # music to the end
    left = our_segments(band.config.server.port, jack_name=band.jack_name)
    assert [s for s in left if not s.startswith("performia_")
            or s.startswith(f"performia_{band.process.pid}_")] == []
    assert not list((tmp_path / "state").glob("recordings-*.json"))


def test_a_killed_managers_recording_is_repaired_at_the_next_start(tmp_path: Path) -> None:
    out = tmp_path / "manager-kill.wav"
    band = Band(tmp_path, RUN_ID + "mgk", "--record", str(out))
    try:
        start = band.wait_playing()
        time.sleep(3.0)
        killed_at = time.time()
        band.process.kill()                                  # SIGKILL: no chance to clean up
    finally:
        band.finish()
    wait_gone(band.children)                 # its children stop on their parent's death
    assert still_running(band.children) == []
    _remove_what_a_killed_run_leaves(band)
    journals = list((tmp_path / "state").glob("recordings-*.json"))
    assert len(journals) == 1                                # what the next start reads
    again = Band(tmp_path, RUN_ID + "mgk2", "--duration", "1")
    assert again.finish(60) == 0, again.output[-3000:]
    lines = [line for line in again.output.splitlines() if str(out) in line]
    assert len(lines) == 1 and f"pid {band.process.pid}" in lines[0], again.output[-3000:]
    assert "killed" in lines[0]
    assert not list((tmp_path / "state").glob("recordings-*.json"))
    rate, audio = read_wav(out)
    length, expected = audio.shape[0] / rate, killed_at - start
    print(f"manager killed {expected:.3f} s into the recording: {length:.3f} s in the file; "
          f"{lines[0]}")
    assert abs(length - expected) <= LOST_AT_MOST, (length, expected)
    assert float(np.abs(audio[int(RATE * (expected - 1.2)):]).max()) > 0.05


def _remove_what_a_killed_run_leaves(band: Band) -> None:
    """A killed manager's supernova and JACK leave their segments: this run's names only
    (as in test_cli_run.test_children_do_not_outlive_a_killed_manager)."""
    name = band.jack_name
    for stale in [Path(f"/dev/shm/SuperColliderServer_{band.config.server.port}"),
                  *Path("/dev/shm").glob(f"jack_sem.0_{name}_*"),
                  *Path("/dev/shm").glob(f"jack_{name}_*")]:
        stale.unlink(missing_ok=True)
    if not any(p.info["name"] == "jackd" and p.info["status"] != psutil.STATUS_ZOMBIE
               for p in psutil.process_iter(["name", "status"])):
        for stale in [*Path("/dev/shm").glob("jack-[0-9]*-[0-9]*"),
                      *Path("/dev/shm").glob("jack_db-*"), Path("/dev/shm/jack-shm-registry")]:
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)


def test_a_long_take_is_read_before_the_song_start_is_set(tmp_path: Path) -> None:
    """Reading an --input takes time (an hour: seconds): the start time is set only after the
    take is in the server, so the band never comes in late because of it."""
    from performia.listen.rehearsal import write_wav_float
    from performia.manager import START_DELAY, Manager, RunOptions

    take = tmp_path / "long.wav"
    rng = np.random.default_rng(2)
    write_wav_float(take, rng.normal(0, 0.01, 48000 * 600).astype(np.float32), 48000)  # 10 min
    config = make_config(RUN_ID + "long")
    manager = Manager(config, RunOptions(duration=2.0, input=take, gui=False))
    assert manager.run() == 0
    assert manager.plan is not None and manager.take_loaded_at is not None
    assert manager.plan.start_time >= manager.take_loaded_at + 0.9 * START_DELAY
