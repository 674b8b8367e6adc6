"""Where the server's 64-sample blocks fall on the clock.

A recording (DiskOut) starts at the start of a block, not at the exact sample its bundle
names. So before the band starts, one probe finds the block grid: `blockmark` plays an
impulse at a known time with OffsetOut and `blockprobe` reports the sample of the block it
landed on. With supernova's sample clock (-C 0) the grid then holds until an xrun, so the
song can start exactly on a block boundary, and `t = 0` of `--record` and `--events` is
the same sample.

One probe places the grid only to within a sample: a time anywhere inside a sample reports
that sample. A song started near the edge of one can see its notes move by a sample later
on, because supernova's clock runs slow by 1.1e-8 (it adds a 64-sample tick computed in
single precision, 5726623 NTP units instead of 5726623.06: a sample in 32 minutes), and a
float Unix time near 1.7e9 is only exact to 0.01 sample. So the probe is sent
`SUBSAMPLE_STEPS` times, each an eighth of a sample later than the one before, in blocks
20 ms apart: where the reported sample steps up is the edge between two samples, and the
grid is placed half a sample from it, in the middle of its samples."""

from __future__ import annotations

import itertools
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

from performia.server.osc import OscClient, OscTimeoutError
from performia.server.tree import ADD_TO_TAIL, MASTER

PROBE_BUS = 30
SUBSAMPLE_STEPS = 8            # probes, each an eighth of a sample after the one before
PROBE_SPACING_BLOCKS = 15      # blocks between probes (20 ms at 48 kHz): each has its own
ATTEMPTS = 3                   # tries before the grid is left to within a sample
log = logging.getLogger(__name__)
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
    """Probe the server (`SUBSAMPLE_STEPS` probes, up to `ATTEMPTS` times until they agree)
    and place the grid in the middle of its samples; raises OscTimeoutError if it does not
    answer. Probes that never agree (a dropout resynced the clock between them each time)
    leave the grid where the first probe puts it, to within a sample."""
    block_seconds = block_size / sample_rate
    for _attempt in range(ATTEMPTS):
        at = time.time() + lead
        offsets = _probe(client, at, sample_rate, block_size, timeout)
        edge = subsample_edge(offsets, block_size)
        if edge is not None:
            centre = (edge - 0.5) / sample_rate          # half a sample before the edge
            return BlockGrid(origin=at + centre - offsets[0] / sample_rate,
                             block_seconds=block_seconds)
    log.warning("the block probes disagree (dropouts?): the song starts within a sample of "
                "a block boundary, not in the middle of one")
    return BlockGrid(origin=at - offsets[0] / sample_rate, block_seconds=block_seconds)


def subsample_edge(offsets: list[int], block_size: int) -> float | None:
    """From the samples reported for probes each 1/len(offsets) sample later than the one
    before: the estimated edge, in samples after the first probe's time, where the reported
    sample steps up (in (0, 1]), or None if they do not step up once, by one, in order."""
    steps = len(offsets)
    if steps < 2:
        raise ValueError("at least two probes are needed to find the edge of a sample")
    moved = [(offset - offsets[0]) % block_size for offset in offsets]
    if any(m not in (0, 1) for m in moved) or moved != sorted(moved):
        return None
    first_up = moved.index(1) if 1 in moved else steps
    return (first_up - 0.5) / steps


def _probe(client: OscClient, at: float, sample_rate: int, block_size: int,
           timeout: float) -> list[int]:
    """The block offsets (samples) of `SUBSAMPLE_STEPS` marks sent from `at` on, each
    `PROBE_SPACING_BLOCKS` blocks and 1/`SUBSAMPLE_STEPS` sample after the one before."""
    ids = [next(_probe_ids) for _ in range(SUBSAMPLE_STEPS)]
    replies: dict[int, int] = {}
    done = threading.Event()

    def on_offset(_address: str, args: list[Any]) -> None:
        if len(args) >= 3 and args[1] in ids and args[1] not in replies:
            replies[int(args[1])] = int(round(float(args[2])))
            if len(replies) == len(ids):
                done.set()

    client.on("/blockoffset", on_offset)
    spacing = PROBE_SPACING_BLOCKS * block_size / sample_rate
    try:
        for step, probe_id in enumerate(ids):
            client.send_bundle(at + step * spacing + step / (SUBSAMPLE_STEPS * sample_rate), [
                ("/s_new", ["blockmark", -1, ADD_TO_TAIL, MASTER, "bus", PROBE_BUS]),
                ("/s_new", ["blockprobe", -1, ADD_TO_TAIL, MASTER, "bus", PROBE_BUS,
                            "id", probe_id]),
            ])
        wait = at - time.time() + SUBSAMPLE_STEPS * spacing + timeout
        if not done.wait(max(wait, 0.0)):
            raise OscTimeoutError("the server did not report its block offset")
    finally:
        client.off("/blockoffset", on_offset)
    return [replies[probe_id] for probe_id in ids]
