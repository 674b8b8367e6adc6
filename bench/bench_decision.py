"""Decision → server: how long from an agent writing a note (an immediate, reactive one) into
its ring to the server starting it. The agent process stamps CLOCK_MONOTONIC as it writes;
the real transport process dispatches; the server's /n_go notification (sent when the node
starts, at its next block) is timed on arrival. So the figure includes the wait for the next
64-sample block (0 to 1.33 ms) and the notification's way back: an upper bound of the
decision → server-receipt time.

Usage: python bench/bench_decision.py [--notes 300] [--hogs 0]
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import threading
import time

from common import cpu_hogs, summary

from performia.config import load_config, replace
from performia.cpu_wake import CpuWakeRequest
from performia.events.ring import create_ring, make_doorbell
from performia.plan import PerformancePlan, RingSpec
from performia.processes import spawn
from performia.server.osc import OscClient
from performia.server.session import ServerSession

AGENT = """
import sys, time
from performia.events.note import NoteEvent
from performia.events.ring import RingWriter, attach
from performia.processes import set_realtime
name, bell, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
set_realtime(60, "bench agent")
shm = attach(name); w = RingWriter(shm, doorbell=bell)
for i in range(count):
    time.sleep(0.05)
    stamp = time.monotonic()
    w.write(NoteEvent.make(time.time(), "drums", "hat", 42, 0.2, reactive=True))
    print(f"{stamp:.9f}", flush=True)
w.close(); shm.close()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notes", type=int, default=300)
    parser.add_argument("--hogs", type=int, default=0)
    parser.add_argument("--cpus-may-idle", action="store_true",
                        help="do not keep the CPUs awake (as [timing] keep_cpus_awake = false)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    config = replace(load_config(), "gui", enabled=False)
    awake = CpuWakeRequest()
    if not args.cpus_may_idle:
        awake.hold()                              # as the manager does while the band plays
    session = ServerSession(config)
    session.start()
    name = f"performia_bench_{os.getpid()}_decision"
    shm = create_ring(name, 1024)
    bell = make_doorbell()
    plan = PerformancePlan(config=config, start_time=time.time(),
                           rings=(RingSpec("drums", name, bell),))
    transport = spawn("transport", [sys.executable, "-m", "performia.transport", plan.to_json()],
                      pass_fds=[bell])
    started: list[float] = []
    lock = threading.Lock()

    def on_go(_address: str, _args: list[object]) -> None:
        with lock:
            started.append(time.monotonic())

    watcher = OscClient("127.0.0.1", config.server.port, name="watch")
    watcher.request("/notify", 1, match=lambda a: a[:1] == ["/notify"])
    watcher.on("/n_go", on_go)
    time.sleep(0.5)
    try:
        with cpu_hogs(args.hogs):
            agent = subprocess.run([sys.executable, "-c", AGENT, name, str(bell),
                                    str(args.notes)], pass_fds=[bell], capture_output=True,
                                   text=True, check=True)
            time.sleep(0.3)
        stamps = [float(x) for x in agent.stdout.split()]
        with lock:
            gos = list(started)
        delays = []
        for stamp in stamps:
            after = [g for g in gos if g >= stamp]
            if after and after[0] - stamp < 0.05:
                delays.append((after[0] - stamp) * 1e6)
        cpus = "CPUs kept awake" if awake.held else "CPUs may idle"
        print(f"decision → node started (/n_go back), {cpus}, {args.hogs} CPU hogs: "
              f"{summary(delays)}")
    finally:
        watcher.close()
        transport.stop()
        session.stop()
        os.close(bell)
        shm.close()
        shm.unlink()
        awake.release()


if __name__ == "__main__":
    main()
