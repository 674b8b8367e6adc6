"""The JACK server: find a running one, or start one on the configured ALSA card (the
Quantum 2626 on the reference rig) or, where no such card exists, on the dummy driver."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import time
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path

from performia.config import Config
from performia.processes import Child, realtime_permitted, spawn
from performia.server.jack_registry import reclaim_dead_servers

log = logging.getLogger(__name__)

ASOUND_CARDS = Path("/proc/asound/cards")


class JackError(RuntimeError):
    """JACK could not be found or started."""


@dataclass(frozen=True)
class JackPlan:
    """How we would start JACK: driver, device, period, real-time or not."""

    server_name: str
    driver: str               # "alsa" or "dummy"
    device: str | None        # "hw:2" for ALSA
    sample_rate: int
    period: int
    periods: int
    realtime: bool
    priority: int

    def command(self) -> list[str]:
        cmd = ["jackd"]
        if self.server_name:
            cmd += ["-n", self.server_name]
        cmd += ["-R", "-P", str(self.priority)] if self.realtime else ["-r"]
        cmd += ["-d", self.driver, "-r", str(self.sample_rate), "-p", str(self.period)]
        if self.driver == "alsa" and self.device:
            cmd += ["-d", self.device, "-n", str(self.periods)]
        return cmd


def _point_at(env: MutableMapping[str, str], server_name: str) -> None:
    """Which server a JACK client opened with `env` talks to ("": the default), and never
    let it start one of its own."""
    env["JACK_NO_START_SERVER"] = "1"
    if server_name:
        env["JACK_DEFAULT_SERVER"] = server_name
    else:
        env.pop("JACK_DEFAULT_SERVER", None)


def jack_env(server_name: str) -> dict[str, str]:
    """Environment for a JACK client in a child process."""
    env = dict(os.environ)
    _point_at(env, server_name)
    return env


def use_jack_server(server_name: str) -> None:
    """Point this process's own JACK clients (the pedal's MIDI client: libjack reads the
    environment when a client opens) at `server_name`, the server the band runs on."""
    _point_at(os.environ, server_name)


def jack_running(server_name: str) -> bool:
    """True if a JACK server of that name answers (`jack_wait -c`)."""
    if shutil.which("jack_wait") is None:
        return False
    result = subprocess.run(["jack_wait", "-c"], env=jack_env(server_name), capture_output=True,
                            text=True, timeout=10, check=False)
    return result.stdout.strip() == "running"


def find_alsa_card(name: str) -> str | None:
    """'hw:N' of the first ALSA card whose name contains `name`, else None."""
    if not name or not ASOUND_CARDS.exists():
        return None
    for line in ASOUND_CARDS.read_text().splitlines():
        match = re.match(r"\s*(\d+)\s+\[(\S+)\s*\]:\s*(.*)", line)
        if match and (name.lower() in match.group(2).lower()
                      or name.lower() in match.group(3).lower()):
            return f"hw:{match.group(1)}"
    return None


def plan_jack(config: Config) -> JackPlan:
    """Decide driver and real-time mode from the machine and the config (starts nothing)."""
    j = config.jack
    device = find_alsa_card(j.device)
    realtime = j.realtime and realtime_permitted()
    period = j.period
    if not realtime:
        period = max(period, j.fallback_period)
        log.warning("JACK real-time not %s: starting jackd without -R at %d frames (64-frame "
                    "periods xrun without real-time scheduling)",
                    "requested" if not j.realtime else "permitted", period)
    if device is None:
        log.info("no audio interface named %r: using JACK's dummy driver", j.device)
    return JackPlan(server_name=j.server_name, driver="alsa" if device else "dummy",
                    device=device, sample_rate=config.server.sample_rate, period=period,
                    periods=j.periods, realtime=realtime, priority=j.priority)


def start_jack(plan: JackPlan, timeout: float = 10.0) -> Child:
    """Start jackd per `plan` and wait until it answers; raise JackError with its output."""
    if shutil.which("jackd") is None:
        raise JackError("jackd not found: install it with 'sudo apt-get install jackd2'")
    reclaim_dead_servers()          # else eight dead servers keep every new one from starting
    lines: list[str] = []
    child = spawn("jackd", plan.command(), env=jack_env(plan.server_name), on_line=lines.append)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise JackError("jackd exited at start: " + " | ".join(lines[-5:]))
        if jack_running(plan.server_name):
            child.on_line = None
            log.info("JACK started (pid %d): %s", child.pid, " ".join(plan.command()))
            return child
        time.sleep(0.1)
    child.stop()
    raise JackError(f"jackd did not answer within {timeout:.0f} s: " + " | ".join(lines[-5:]))


def connect_ports(server_name: str, client: str, outputs: int, inputs: int,
                  connect_outputs: bool = True, connect_inputs: bool = True) -> None:
    """Connect the server's outputs to system:playback and system:capture to its inputs."""
    env = jack_env(server_name)
    pairs: list[tuple[str, str]] = []
    if connect_outputs:
        pairs += [(f"{client}:output_{i}", f"system:playback_{i}") for i in range(1, outputs + 1)]
    if connect_inputs:
        pairs += [(f"system:capture_{i}", f"{client}:input_{i}") for i in range(1, inputs + 1)]
    existing = set(_ports(env))
    for src, dst in pairs:
        if src in existing and dst in existing:
            result = subprocess.run(["jack_connect", src, dst], env=env, capture_output=True,
                                    text=True, timeout=10, check=False)
            if result.returncode and "already" not in result.stderr:
                log.warning("could not connect %s → %s: %s", src, dst, result.stderr.strip())


def _ports(env: dict[str, str]) -> list[str]:
    result = subprocess.run(["jack_lsp"], env=env, capture_output=True, text=True, timeout=10,
                            check=False)
    return result.stdout.split()


def jack_period(server_name: str) -> int | None:
    """The running server's period in frames (`jack_bufsize`), if it can be read."""
    if shutil.which("jack_bufsize") is None:
        return None
    result = subprocess.run(["jack_bufsize"], env=jack_env(server_name), capture_output=True,
                            text=True, timeout=10, check=False)
    match = re.search(r"buffer size\s*=\s*(\d+)", result.stdout)
    return int(match.group(1)) if match else None
