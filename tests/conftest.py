"""Shared test harness: a real JACK (dummy driver, real-time, 64 frames) and a real supernova,
on names and ports of this test run only; and a check that nothing we started outlives us."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from performia import processes
from performia.config import Config, load_config, replace
from performia.server import synthdefs
from performia.server.session import ServerSession

RUN_ID = f"ptest{os.getpid()}"
PROJECT = Path(__file__).resolve().parents[1]
# The recordings journal of the runs the tests start (and kill) stays out of the user's home:
# a killed test run must not make the user's next start repair a test's temporary file.
os.environ.setdefault("PERFORMIA_STATE_DIR", f"/tmp/performia-test-state-{os.getpid()}")


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def make_config(jack_name: str = RUN_ID, **server: object) -> Config:
    """The project config moved onto this run's own JACK server name and free ports."""
    config = load_config()
    config = replace(config, "jack", server_name=jack_name)
    config = replace(config, "server", port=free_port(), **server)
    config = replace(config, "osc", event_port=free_port(), control_port=free_port())
    config = replace(config, "gui", port=free_port(socket.SOCK_STREAM))
    # the server tests were written for a band that leads from beat 0 at the config's tempo
    # (drums on the configured grid); following and coming in are tested on their own
    # (tests/unit/test_follow_tempo.py, tests/test_follow_render.py)
    return replace(config, "timing", follow=0.0, come_in="now")


def write_config(path: Path, config: Config) -> Path:
    """Write `config` as TOML (for tests that run the command line)."""
    import dataclasses

    lines = []
    for section in dataclasses.fields(config):
        lines.append(f"[{section.name}]")
        for key, value in dataclasses.asdict(getattr(config, section.name)).items():
            lines.append(f"{key} = {_toml(value)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)


@pytest.fixture(scope="session")
def built_synthdefs() -> None:
    synthdefs.build()


@pytest.fixture(scope="session")
def server(built_synthdefs: None) -> Iterator[ServerSession]:
    """One real supernova (and its JACK) for the tests that only talk to it."""
    session = ServerSession(make_config())
    session.start()
    try:
        yield session
    finally:
        session.stop()


def still_running(pids: list[int]) -> list[str]:
    """'pid command' of each of `pids` still running (zombies are gone already)."""
    out = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            if proc.status() != psutil.STATUS_ZOMBIE:
                out.append(f"{pid} {' '.join(proc.cmdline()) or proc.name()}")
        except psutil.NoSuchProcess:
            pass
    return out


def wait_gone(pids: list[int], timeout: float = 10.0) -> None:
    """Wait until none of `pids` runs any more (at most `timeout` s)."""
    deadline = time.monotonic() + timeout
    while still_running(pids) and time.monotonic() < deadline:
        time.sleep(0.1)


def our_leftovers() -> list[str]:
    """Processes of ours still running: PIDs we started, and any jackd/supernova on this
    run's JACK server name (started by a manager subprocess)."""
    left = still_running(processes.STARTED)
    for proc in psutil.process_iter(["pid", "name", "cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if proc.info["name"] in ("jackd", "supernova") and RUN_ID in cmd:
            left.append(f"{proc.info['pid']} {cmd}")
    return sorted(set(left))


def our_segments(*ports: int, jack_name: str = RUN_ID) -> list[str]:
    """Shared-memory segments of ours: rings, JACK semaphores of the JACK server
    `jack_name`, and the server segments of `ports`."""
    names = {f"SuperColliderServer_{port}" for port in ports}
    return sorted(p.name for p in Path("/dev/shm").iterdir()
                  if p.name.startswith(("performia_", f"jack_sem.0_{jack_name}_"))
                  or p.name in names)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    left = our_leftovers()
    if left:
        print("\nFAIL: processes started by the tests outlived them:\n  " + "\n  ".join(left))
        session.exitstatus = 1


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "performia", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=PROJECT, check=False)
