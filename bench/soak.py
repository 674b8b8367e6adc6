"""Soak: the whole band (`python -m performia --realtime`, the GUI on, the rehearsal take as
the guitar) for N minutes with 20 WebSocket clients on the GUI, watched from outside.

Every `--interval` seconds: the memory (RSS, psutil) of each of the show's processes
(manager, jackd, supernova, transport, conductor, GUI), and from the state snapshot the
server's synth count and the events written and dropped. At the end a table, and the
verdicts (issue 14, point 9): each process's memory within 5 % of its level after the first
minute; the synth count flat (no trend after the first minute, and back at its baseline
after the last note); 0 dropped events; 0 tracebacks in the show's output; every WebSocket
client served throughout. Exit status 0 when all hold.

Usage: python bench/soak.py [--minutes 10] [--clients 20] [--interval 5] [--keep DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil
import websockets

from performia.config import Config, load_config, replace
from performia.events.snapshot import StateReader

PROJECT = Path(__file__).resolve().parents[1]
ROLES = ("manager", "jackd", "supernova", "transport", "conductor", "gui")
MEMORY_TOLERANCE = 0.05      # of the level after the first minute
SYNTH_TREND_LIMIT = 5.0      # synths: the fitted trend over the whole soak after minute 1
STOP_MARGIN = 10.0           # s before the duration's end: samples later may be the shutdown
SLOW_CLIENT = 1013           # the GUI closes a client that made no progress (gui/app.py)


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def soak_config(jack_name: str) -> Config:
    config = load_config()
    config = replace(config, "jack", server_name=jack_name)
    config = replace(config, "server", port=free_port())
    config = replace(config, "osc", event_port=free_port(), control_port=free_port())
    return replace(config, "gui", port=free_port(socket.SOCK_STREAM), enabled=True)


def write_toml(path: Path, config: Config) -> Path:
    def value(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, list | tuple):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return str(v)

    lines = []
    for section in dataclasses.fields(config):
        lines.append(f"[{section.name}]")
        lines += [f"{k} = {value(v)}"
                  for k, v in dataclasses.asdict(getattr(config, section.name)).items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def role(process: psutil.Process, manager: int) -> str | None:
    if process.pid == manager:
        return "manager"
    try:
        command = " ".join(process.cmdline())
    except psutil.Error:
        return None
    if process.name() in ("jackd", "supernova"):
        return process.name()
    for name in ("transport", "conductor", "gui"):
        if f"performia.{name}" in command:
            return f"{name} (standby)" if "--standby" in command else name
    return None


@dataclass
class Sample:
    at: float                                   # seconds since the band started
    rss: dict[str, int]                         # role → bytes
    synths: int | None
    written: int | None
    dropped: int | None


@dataclass
class Clients:
    """WebSocket clients on the GUI's /ws, each reconnecting if dropped (counted)."""

    url: str
    origin: str
    count: int
    messages: list[int] = field(default_factory=list)
    drops: list[float] = field(default_factory=list)     # time.time() of each lost connection
    codes: dict[int, int] = field(default_factory=dict)  # close code → connections closed
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def start(self) -> None:
        self.messages, self.drops = [0] * self.count, []
        self.thread = threading.Thread(target=lambda: asyncio.run(self._all()), daemon=True)
        self.thread.start()

    async def _all(self) -> None:
        await asyncio.gather(*[self._one(i) for i in range(self.count)])

    async def _one(self, i: int) -> None:
        while not self.stop.is_set():
            try:
                async with websockets.connect(self.url, origin=self.origin,  # type: ignore[arg-type]
                                              max_size=None) as ws:
                    while not self.stop.is_set():
                        try:
                            await asyncio.wait_for(ws.recv(), 1.0)
                        except TimeoutError:
                            continue
                        self.messages[i] += 1
            except websockets.ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd is not None else 1006
                self.codes[code] = self.codes.get(code, 0) + 1
                if not self.stop.is_set():
                    self.drops.append(time.time())
                    await asyncio.sleep(0.5)
            except (OSError, websockets.WebSocketException):
                if not self.stop.is_set():
                    self.drops.append(time.time())
                    await asyncio.sleep(0.5)

    def close(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=5)


def wait_serving(host: str, port: int, manager: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if manager.poll() is not None:
            raise SystemExit(f"the band ended before its GUI served (exit {manager.returncode})")
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit(f"the GUI did not serve on {host}:{port} within {timeout:.0f} s")


def sample(manager: subprocess.Popen[bytes], reader: StateReader | None, since: float) -> Sample:
    rss: dict[str, int] = {}
    try:
        top = psutil.Process(manager.pid)
        for process in [top, *top.children(recursive=True)]:
            name = role(process, manager.pid)
            if name is not None:
                try:
                    rss[name] = rss.get(name, 0) + process.memory_info().rss
                except psutil.Error:
                    pass
    except psutil.NoSuchProcess:
        pass
    synths = written = dropped = None
    if reader is not None:
        published = reader.read()
        if published is not None:
            state = published[1]
            synths = int(state["server"].get("synths", 0))
            written, dropped = int(state["events"]["written"]), int(state["events"]["dropped"])
    return Sample(time.time() - since, rss, synths, written, dropped)


def mb(value: float) -> str:
    return f"{value / 2**20:.1f}"


def report(samples: list[Sample], output: str, clients: Clients, minutes: float,
           began: float) -> bool:
    """The table and the verdicts; True when every one holds. Only what was measured while
    the band played counts (not its shutdown after the duration)."""
    playing = minutes * 60.0 - STOP_MARGIN
    after = [s for s in samples if 60.0 <= s.at <= playing]
    ok = True
    print(f"\nsoak: {minutes:g} min, {len(samples)} samples, {clients.count} WebSocket clients")
    print(f"{'process':<12} {'RSS 1 min MB':>13} {'min MB':>8} {'max MB':>8} {'end MB':>8} "
          f"{'max change':>11}  verdict")
    for name in ROLES:
        levels = [s.rss[name] for s in after if name in s.rss]
        if not levels:
            print(f"{name:<12} {'—':>13}  (not running)")
            ok = ok and name != "jackd"       # jackd: only when none ran before
            continue
        first = levels[0]
        change = max(abs(v - first) for v in levels) / first
        good = change <= MEMORY_TOLERANCE
        ok = ok and good
        print(f"{name:<12} {mb(first):>13} {mb(min(levels)):>8} {mb(max(levels)):>8} "
              f"{mb(levels[-1]):>8} {change * 100:>10.1f}%  {'ok' if good else 'OVER 5 %'}")
    synths = np.array([s.synths for s in after if s.synths is not None], dtype=float)
    times = np.array([s.at for s in after if s.synths is not None], dtype=float)
    trend = float(np.polyfit(times, synths, 1)[0] * (times[-1] - times[0])) \
        if synths.size > 2 else 0.0
    end = re.findall(r"after the last note: (\d+) synths on the server \(baseline (\d+)\)",
                     output)
    back = bool(end) and end[-1][0] == end[-1][1]
    flat = abs(trend) <= SYNTH_TREND_LIMIT and back
    per_minute = [synths[(times >= m * 60) & (times < (m + 1) * 60)]
                  for m in range(1, int(minutes) + 1)]
    print("synths per minute (mean/max): " + ", ".join(
        f"{a.mean():.0f}/{a.max():.0f}" for a in per_minute if a.size))
    print(f"synth count: trend {trend:+.1f} over the soak, after the last note "
          f"{end[-1][0] + ' (baseline ' + end[-1][1] + ')' if end else 'not reported'}: "
          f"{'flat' if flat else 'NOT FLAT'}")
    last = next((s for s in reversed(samples) if s.dropped is not None), None)
    dropped = last.dropped if last is not None else None
    full = output.count("full:")                     # "ring of X full: N events dropped"
    print(f"events: {last.written if last else '?'} written, {dropped} dropped "
          f"(snapshot), {full} ring-full lines")
    tracebacks = output.count("Traceback")
    print(f"tracebacks in the show's output: {tracebacks}")
    lost = sum(1 for t in clients.drops if t - began <= playing)
    slow = clients.codes.get(SLOW_CLIENT, 0)
    served = all(m > 0 for m in clients.messages)
    print(f"WebSocket clients: {sum(clients.messages)} messages, per client "
          f"{min(clients.messages)}..{max(clients.messages)}; connections closed while the "
          f"band played {lost} (close codes {dict(sorted(clients.codes.items()))}; "
          f"{SLOW_CLIENT}: dropped by the GUI as too slow, {slow}), at its end "
          f"{len(clients.drops) - lost}")
    ok = ok and flat and dropped == 0 and full == 0 and tracebacks == 0 and served
    print("SOAK PASSED" if ok else "SOAK FAILED")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--keep", type=Path, help="keep the show's output in this directory")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="performia-soak-"))
    jack_name = f"soak{os.getpid()}"
    config = soak_config(jack_name)
    path = write_toml(work / "performia.toml", config)
    log_path = (args.keep or work) / "soak.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PERFORMIA_STATE_DIR": str(work / "state"),
           "JACK_DEFAULT_SERVER": jack_name, "JACK_NO_START_SERVER": "1"}
    duration = args.minutes * 60.0
    with open(log_path, "wb") as log_file:
        manager = subprocess.Popen(
            [sys.executable, "-m", "performia", "--realtime", "--config", str(path),
             "--duration", str(duration)], cwd=PROJECT, stdout=log_file,
            stderr=subprocess.STDOUT, env=env)
        clients = Clients(f"ws://127.0.0.1:{config.gui.port}/ws",
                          f"http://127.0.0.1:{config.gui.port}", args.clients)
        samples: list[Sample] = []
        reader: StateReader | None = None
        began = time.time()
        try:
            wait_serving("127.0.0.1", config.gui.port, manager, 120)
            began = time.time()
            reader = StateReader.wait_exists(f"performia_{manager.pid}_state", timeout=30)
            clients.start()
            print(f"soak: {args.minutes:g} min, manager pid {manager.pid}, output {log_path}",
                  flush=True)
            while manager.poll() is None:
                samples.append(sample(manager, reader, began))
                last = samples[-1]
                if len(samples) % max(1, round(60 / args.interval)) == 0:
                    print(f"  {last.at / 60:4.1f} min: " + ", ".join(
                        f"{k} {mb(v)}" for k, v in sorted(last.rss.items()))
                        + f" MB; synths {last.synths}; dropped {last.dropped}", flush=True)
                try:
                    manager.wait(args.interval)
                except subprocess.TimeoutExpired:
                    pass
        finally:
            clients.close()
            if reader is not None:
                reader.close()
            if manager.poll() is None:
                manager.send_signal(signal.SIGINT)
                manager.wait(60)
    output = log_path.read_text(errors="replace")
    print(f"the show ended with exit status {manager.returncode}")
    ok = report(samples, output, clients, args.minutes, began) and manager.returncode == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
