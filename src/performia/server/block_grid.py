"""Where the server's 64-sample blocks fall on the clock.

A recording (DiskOut) starts at the start of a block, not at the exact sample its bundle
names. So before the band starts, one probe finds the block grid: `blockmark` plays an
impulse at a known time with OffsetOut and `blockprobe` reports the sample of the block it
landed on. With supernova's sample clock (-C 0) the grid then holds until an xrun, so the
song can start exactly on a block boundary, and `t = 0` of `--record` and `--events` is
the same sample."""

from __future__ import annotations

import itertools
import math
import queue
import time
from dataclasses import dataclass
from typing import Any

from performia.server.osc import OscClient, OscTimeoutError
from performia.server.tree import ADD_TO_TAIL, MASTER

PROBE_BUS = 30
_probe_ids = itertools.count(1)


@dataclass(frozen=True)
class BlockGrid:
    origin: float            # clock time (Unix seconds) at which a block starts
    block_seconds: float     # block size / sample rate

    def next_boundary(self, after: float) -> float:
        """The first block start at or after `after`."""
        blocks = math.ceil((after - self.origin) / self.block_seconds)
        return self.origin + blocks * self.block_seconds


def measure_block_grid(client: OscClient, sample_rate: int, block_size: int,
                       lead: float = 0.05, timeout: float = 2.0) -> BlockGrid:
    """Probe the server once; raises OscTimeoutError if it does not answer."""
    probe_id = next(_probe_ids)
    inbox: queue.Queue[list[Any]] = queue.Queue()

    def on_offset(_address: str, args: list[Any]) -> None:
        if len(args) >= 3 and args[1] == probe_id:
            inbox.put(args)

    client.on("/blockoffset", on_offset)
    at = time.time() + lead
    client.send_bundle(at, [
        ("/s_new", ["blockmark", -1, ADD_TO_TAIL, MASTER, "bus", PROBE_BUS]),
        ("/s_new", ["blockprobe", -1, ADD_TO_TAIL, MASTER, "bus", PROBE_BUS, "id", probe_id]),
    ])
    try:
        reply = inbox.get(timeout=timeout + lead)
    except queue.Empty:
        raise OscTimeoutError("the server did not report its block offset") from None
    finally:
        client.off("/blockoffset", on_offset)
    offset = float(reply[2])
    return BlockGrid(origin=at - offset / sample_rate, block_seconds=block_size / sample_rate)
