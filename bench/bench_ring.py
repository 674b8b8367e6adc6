"""Ring buffer benchmarks, across processes (the way the conductor and dispatcher use it):

1. write → read latency: a writer process stamps each event with CLOCK_MONOTONIC and rings
   the eventfd; the reader (SCHED_FIFO where permitted, as the dispatcher) wakes in poll()
   and measures how long the event took to reach it. p50 / p99 / max.
2. throughput: events per second through the ring (writer as fast as it can, reader
   draining), beside python-osc UDP sends of the same notes in the same run.

Usage: python bench/bench_ring.py [--events N] [--hogs K] [--cpus-may-idle]
"""

from __future__ import annotations

import argparse
import os
import select
import socket
import subprocess
import sys
import time

from common import cpu_hogs, summary

from performia.cpu_wake import CpuWakeRequest
from performia.events.note import NoteEvent
from performia.events.ring import RingReader, create_ring, make_doorbell
from performia.processes import set_realtime

WRITER = """
import sys, time
from performia.events.note import NoteEvent
from performia.events.ring import RingWriter, attach
from performia.processes import set_realtime
name, doorbell, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
gap, mode = float(sys.argv[4]), sys.argv[5]
shm = attach(name); w = RingWriter(shm, doorbell=doorbell)
if mode == "latency":
    set_realtime(60, "bench writer")          # as the conductor
    for i in range(count):
        time.sleep(gap)
        w.write(NoteEvent.make(time.monotonic(), "drums", "hat", 42, 0.5))
else:
    e = NoteEvent.make(0.0, "drums", "hat", 42, 0.5)
    batch = [e] * 64
    sent = 0
    start = time.perf_counter()
    while sent < count:
        n = w.write_many(batch[: min(64, count - sent)])
        sent += n
    print(f"{count / (time.perf_counter() - start):.0f}", flush=True)
w.close(); shm.close()
"""


def latency(count: int) -> list[float]:
    name = f"performia_bench_{os.getpid()}_lat"
    shm = create_ring(name, 4096)
    bell = make_doorbell()
    reader = RingReader(shm, bell)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, name, str(bell), str(count),
                               "0.0005", "latency"], pass_fds=[bell])
    poller = select.poll()
    poller.register(bell, select.POLLIN)
    delays: list[float] = []
    while len(delays) < count:
        poller.poll(1000)
        now = time.monotonic()
        reader.clear_doorbell()
        delays += [(now - e.time) * 1e6 for e in reader.read_all()]
    writer.wait()
    reader.close()
    os.close(bell)
    shm.close()
    shm.unlink()
    return delays


def ring_throughput(count: int) -> tuple[float, float]:
    name = f"performia_bench_{os.getpid()}_thr"
    shm = create_ring(name, 4096)
    bell = make_doorbell()
    reader = RingReader(shm, bell)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, name, str(bell), str(count), "0",
                               "throughput"], pass_fds=[bell], stdout=subprocess.PIPE, text=True)
    poller = select.poll()
    poller.register(bell, select.POLLIN)
    got = 0
    start = time.perf_counter()
    while got < count:
        poller.poll(1000)
        reader.clear_doorbell()
        got += len(reader.read_all())
    elapsed = time.perf_counter() - start
    writer_rate = float(writer.communicate()[0].strip())
    reader.close()
    os.close(bell)
    shm.close()
    shm.unlink()
    return count / elapsed, writer_rate


OSC_SENDER = """
import sys, time
from pythonosc.udp_client import SimpleUDPClient
port, count = int(sys.argv[1]), int(sys.argv[2])
c = SimpleUDPClient("127.0.0.1", port)
start = time.perf_counter()
for i in range(count):
    c.send_message("/performia/note", ["drums", "hat", 42, 0.5, 0.0])
print(f"{count / (time.perf_counter() - start):.0f}", flush=True)
"""


def osc_throughput(count: int) -> tuple[float, int]:
    """python-osc sends of the same note to a UDP socket another process drains."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(1.0)
    sender = subprocess.Popen([sys.executable, "-c", OSC_SENDER, str(sock.getsockname()[1]),
                               str(count)], stdout=subprocess.PIPE, text=True)
    got = 0
    while True:
        try:
            sock.recv(1024)
            got += 1
        except TimeoutError:
            break
    rate = float(sender.communicate()[0].strip())
    sock.close()
    return rate, got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--latency-events", type=int, default=20_000)
    parser.add_argument("--hogs", type=int, default=0, help="busy processes beside the bench")
    parser.add_argument("--cpus-may-idle", action="store_true",
                        help="do not keep the CPUs awake (as [timing] keep_cpus_awake = false)")
    args = parser.parse_args()
    realtime = set_realtime(62, "bench reader")
    awake = CpuWakeRequest()
    if not args.cpus_may_idle:
        awake.hold()                              # as the manager does while the band plays
    with cpu_hogs(args.hogs):
        policy = "SCHED_FIFO" if realtime else "normal"
        cpus = "CPUs kept awake" if awake.held else "CPUs may idle"
        print(f"ring write→read latency across processes (reader {policy}, {cpus}, "
              f"{args.hogs} CPU hogs): {summary(latency(args.latency_events))}")
        read_rate, write_rate = ring_throughput(args.events)
        print(f"ring throughput: {read_rate:,.0f} events/s read by the other process "
              f"(writer {write_rate:,.0f} events/s), 0 lost")
        osc_rate, got = osc_throughput(args.events)
        print(f"python-osc UDP sends, same notes, same run: {osc_rate:,.0f} messages/s sent, "
              f"{got:,} of {args.events:,} received")
    awake.release()
    # the note record itself
    event = NoteEvent.make(0.0, "drums", "hat", 42, 0.5)
    start = time.perf_counter()
    for _ in range(100_000):
        event.pack()
    print(f"packing one 32-byte record: {(time.perf_counter() - start) * 10:.2f} µs")


if __name__ == "__main__":
    main()
