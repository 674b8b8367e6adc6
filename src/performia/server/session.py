"""A supernova ready for the band: found or started (with JACK when none runs), the node
tree built and checked, the SynthDefs loaded. `stop()` ends only what it started."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psutil

from performia.config import Config
from performia.cpu_wake import CpuWakeRequest
from performia.processes import Child
from performia.server import jack_registry, synthdefs
from performia.server.jack import (
    connect_ports,
    find_alsa_card,
    jack_period,
    jack_running,
    plan_jack,
    start_jack,
)
from performia.server.options import ServerOptions
from performia.server.osc import OscClient
from performia.server.process import ServerError, Supernova, server_answers
from performia.server.tree import build_tree, check_tree, free_tree, query_tree, sync

log = logging.getLogger(__name__)

JACK_REGISTRY = jack_registry.REGISTRY


@dataclass(frozen=True)
class ServerStatus:
    """/status.reply: the server's load and node counts."""

    ugens: int
    synths: int
    groups: int
    synthdefs: int
    cpu_avg: float
    cpu_peak: float
    sample_rate: float

    @classmethod
    def from_reply(cls, args: list[Any]) -> ServerStatus:
        return cls(ugens=int(args[1]), synths=int(args[2]), groups=int(args[3]),
                   synthdefs=int(args[4]), cpu_avg=float(args[5]), cpu_peak=float(args[6]),
                   sample_rate=float(args[8]))


class ServerSession:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.jack: Child | None = None
        self.supernova: Supernova | None = None
        self.client: OscClient | None = None
        self.options = ServerOptions.from_config(config)
        self._registry_was_there = True
        self.boot_seconds = 0.0       # how long the last restart's boot took
        # while we use the server: no deep CPU idle (measured on these VMs with the band
        # playing: 11-19 xruns in 20 s with it, 259-1316 without; docs/PERFORMANCE.md)
        self.cpu_wake = CpuWakeRequest()

    @property
    def owns_server(self) -> bool:
        return self.supernova is not None

    def start(self) -> OscClient:
        if self.config.timing.keep_cpus_awake:
            self.cpu_wake.hold()
        port = self.config.server.port
        if server_answers("127.0.0.1", port):
            log.info("using the supernova already answering on port %d", port)
        else:
            self._start_server()
        self.client = OscClient("127.0.0.1", port, name="server")
        self.client.request("/notify", 1, match=lambda a: a[:1] == ["/notify"])
        names = synthdefs.load(self.client)
        log.info("loaded %d SynthDefs", len(names))
        if not self.owns_server:
            free_tree(self.client)
        build_tree(self.client)
        tree = query_tree(self.client)
        problems = check_tree(tree)
        if problems:
            raise RuntimeError("node tree is wrong: " + "; ".join(problems))
        log.info("node tree:\n%s", tree.describe())
        return self.client

    def _start_server(self) -> None:
        jack_name = self.config.jack.server_name
        if not jack_running(jack_name):
            plan = plan_jack(self.config)
            self._registry_was_there = JACK_REGISTRY.exists()
            self.jack = start_jack(plan)
            period = plan.period
        else:
            period = jack_period(jack_name) or self.config.jack.period
            log.info("using the JACK server already running (period %d)", period)
        self.options = ServerOptions.from_config(self.config, hardware_buffer_size=period)
        self.supernova = Supernova(self.options)
        self.supernova.boot()
        self._connect()

    def restart(self, meanwhile: Callable[[], object] | None = None) -> OscClient:
        """Our supernova died: start another with the same options on the same port (its
        counts of xruns and late bundles carry on), register with it again, load the
        SynthDefs and build the tree without the instruments' groups (the caller adds them
        with `tree.add_instruments` when the band may sound again). ServerError when it
        cannot be done (JACK gone, supernova not starting). `meanwhile` runs while the new
        server boots (it takes a second or more: supernova's own start)."""
        old = self.supernova
        if old is None or self.client is None:
            raise ServerError("no server of ours to restart")
        if self.jack is not None and not self.jack.alive():
            raise ServerError(f"JACK (pid {self.jack.pid}), which supernova runs on, is gone "
                              "too")
        if old.child is not None:
            old.child.stop(timeout=0.5)           # reaped already; joins its output reader
        self.supernova = Supernova(self.options, server_log=old.log)
        began = time.monotonic()
        self.supernova.boot(after_crash=True, meanwhile=meanwhile)
        self.boot_seconds = time.monotonic() - began
        self._connect()
        self.client.request("/notify", 1, match=lambda a: a[:1] == ["/notify"])
        synthdefs.load(self.client)
        build_tree(self.client, instruments=False)
        return self.client

    def _connect(self) -> None:
        """supernova's ports to the interface (none on the dummy driver)."""
        if find_alsa_card(self.config.jack.device) is None:
            # The dummy driver's system ports lead nowhere; connecting them would only make
            # supernova add their 2.7 ms output latency to every bundle's deadline.
            log.info("no audio interface: supernova's ports stay unconnected")
            return
        connect_ports(self.config.jack.server_name, self.options.jack_client, self.options.outputs,
                      self.options.inputs, self.config.jack.connect_outputs,
                      self.config.jack.connect_inputs)

    def status(self, timeout: float = 2.0) -> ServerStatus:
        if self.client is None:
            raise RuntimeError("server session not started")
        return ServerStatus.from_reply(self.client.request("/status", reply="/status.reply",
                                                           timeout=timeout))

    def sync(self) -> None:
        if self.client is not None:
            sync(self.client)

    def stop(self) -> None:
        """Free our nodes; quit the server and JACK only if we started them."""
        try:
            if self.client is not None and not self.owns_server:
                free_tree(self.client)
        except Exception:
            log.exception("could not free the node tree")
        if self.supernova is not None:
            self.supernova.quit(self.client)
            self.supernova = None
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.jack is not None:
            self.jack.stop()
            log.info("JACK stopped")
            self.jack = None
            self._remove_jack_registry()
        self.cpu_wake.release()

    def _remove_jack_registry(self) -> None:
        """jackd leaves its registry segment behind; if it was ours, no JACK server is left
        running and this process has not mapped it (a JACK client opened here, the pedal's:
        libjack would keep reading the removed file and never reach another server), remove
        it too."""
        if self._registry_was_there or not JACK_REGISTRY.exists():
            return
        if any(p.info["name"] == "jackd" for p in psutil.process_iter(["name"])):
            return
        if jack_registry.mapped_here(JACK_REGISTRY):
            return
        JACK_REGISTRY.unlink(missing_ok=True)
