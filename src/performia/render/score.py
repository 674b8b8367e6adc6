"""The non-real-time score: what the live server is sent, as a binary OSC score for
`supernova -N`. A score is a sequence of [int32 size][bundle], bundles in time order, each
timetagged in seconds from the start of the render (not the NTP epoch).

At time 0: the SynthDefs (/d_recv, /d_load for the large analysis synths, as live), the
node tree of server/tree.py, the master, the take in a buffer played into the input bus by
`play_take` (the live `listen_take` without its analysis: the render computes the readings in
numpy, render/hearing.py). Then the band's notes as the live dispatcher
encodes them (transport/dispatcher.py), the release of whatever still sounds at the end
(as the live shutdown does), and a last bundle that sets the render's length.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from performia.events.note import FLAG_REACTIVE, NoteEvent, NoteKind
from performia.server import synthdefs
from performia.server.osc import NTP_EPOCH_OFFSET, Message, encode_bundle
from performia.server.tree import (
    ADD_AFTER,
    ADD_TO_HEAD,
    ADD_TO_TAIL,
    BAND,
    INPUT,
    INSTRUMENT_BUSES,
    INSTRUMENT_GROUPS,
    MASTER,
    MASTER_SYNTH,
    ROOT,
)
from performia.transport.dispatcher import Dispatcher, Source

INPUT_BUFFER = 910          # the buffer and node the live manager uses for the take
INPUT_NODE = 101
DISCARD = ("127.0.0.1", 9)  # the dispatcher's socket target: never used, nothing is sent
_SIZE = struct.Struct(">i")
_TIMETAG = struct.Struct(">II")


def nrt_timetag(seconds: float) -> bytes:
    """A timetag `seconds` after the start of a non-real-time render."""
    whole = int(seconds)
    fraction = int((seconds - whole) * 4294967296.0)
    return _TIMETAG.pack(whole, min(fraction, 0xFFFFFFFF))


@dataclass(frozen=True)
class SupernovaClock:
    """supernova -N's clock: timetags in seconds from the render's start; what `OffsetOut`
    writes comes a block late, so a note's start goes `note_lead` (a block) early (Score)."""

    block: float                              # seconds

    @property
    def note_lead(self) -> float:
        return self.block

    def timetag(self, seconds: float) -> bytes:
        return nrt_timetag(seconds)


@dataclass(frozen=True)
class ScsynthGrid:
    """scsynth -N's clock (SC_World.cpp, World_NonRealTimeSynthesis): block k starts at
    k · floor(block / 2⁻³² s) in timetag units (the increment is truncated, so its blocks
    drift ahead of exact seconds by 0.06 units each, a third of a sample after ten
    minutes); a bundle runs before the first block whose end is not before its time, at
    sample floor(its offset in that block + 0.5), clamped to the block's last sample. So
    a bundle exactly on a block's start would run a block early, on its last sample.
    `timetag` places a time on its nearest sample on that clock, plus a tenth of a
    sample: it runs in the block holding that sample, on that sample, at any length, and
    a note needs no lead."""

    rate: int
    block_frames: int
    note_lead: float = 0.0

    def timetag(self, seconds: float) -> bytes:
        sample = round(seconds * self.rate)
        blocks, within = divmod(sample, self.block_frames)
        increment = int(self.block_frames / (self.rate * (1.0 / 4294967296.0)))
        units = blocks * increment + round((within + 0.1) * 4294967296.0 / self.rate)
        return _TIMETAG.pack(units >> 32, units & 0xFFFFFFFF)


ServerClock = SupernovaClock | ScsynthGrid


def server_clock(supernova: bool, rate: int, block_frames: int) -> ServerClock:
    """The -N server's clock, which the score's timetags are placed on."""
    if supernova:
        return SupernovaClock(block_frames / rate)
    return ScsynthGrid(rate, block_frames)


def live_time(datagram: bytes) -> float | None:
    """The time of a live bundle (Unix seconds on the song's clock, whose t = 0 is the song's
    start), or None for an immediate one."""
    whole, fraction = _TIMETAG.unpack_from(datagram, 8)
    if whole == 0 and fraction == 1:
        return None
    return float(whole - NTP_EPOCH_OFFSET + fraction / 4294967296.0)


SONG_START_BLOCKS = 2     # the song's t = 0 is this many blocks into the score


@dataclass
class Score:
    """Bundles kept in time order (ties in the order they were added).

    supernova -N (measured here): a synth started by a bundle at time T > 0 runs from the
    block holding T, as live, but what it plays with `OffsetOut` (every note synth) comes
    one block late, at sample T·rate + block (a kick at 0.5 s starts at sample 24064); and
    bundles at time 0 run before the first block, where that block is not added. So the song
    starts `SONG_START_BLOCKS` blocks into the score (nothing of it at time 0), every note's
    start bundle is placed one block early (`early`), and the output's first
    SONG_START_BLOCKS blocks are cut off: then the take's sample 0 and a note at t = 0 are
    both the output's sample 0, and a note at t sounds at sample round(t · rate), as live.

    scsynth -N runs a bundle in the block holding its time and an `OffsetOut` note sounds
    on its exact sample, as the live server does, when the timetag is on scsynth's own
    block clock: with scsynth nothing is placed early. Each server's `clock` says where
    its timetags go and how early a note starts (`note_lead`)."""

    block: float                              # seconds
    clock: ServerClock                        # where the -N server's timetags go
    entries: list[tuple[float, int, bytes]] = field(default_factory=list)
    handed_over: float = -math.inf            # score seconds before which all was taken
    count: int = 0                            # bundles added so far

    @property
    def offset(self) -> float:
        """The score time of the song's t = 0."""
        return SONG_START_BLOCKS * self.block

    def at_start(self, messages: Iterable[Message]) -> None:
        """Before the first block (SynthDefs, the tree, the master, the take's buffer)."""
        self._put(0.0, encode_bundle(0.0, messages))

    def add(self, song_time: float, messages: Iterable[Message]) -> None:
        self.add_datagram(song_time, encode_bundle(0.0, messages))

    def add_datagram(self, song_time: float, datagram: bytes, early: bool = False) -> None:
        """A bundle (any timetag) placed at `song_time`; `early`: it starts an OffsetOut
        synth (see above)."""
        lead = self.clock.note_lead if early else 0.0
        self._put(self.offset + song_time - lead, datagram)

    def _put(self, seconds: float, datagram: bytes) -> None:
        if seconds < self.handed_over:
            raise ValueError(f"a bundle at {seconds:.6f} s of the score came after the score "
                             f"up to {self.handed_over:.6f} s was handed to the server")
        stamped = datagram[:8] + self.clock.timetag(seconds) + datagram[16:]
        self.entries.append((seconds, self.count, stamped))
        self.count += 1

    def take(self, before: float = math.inf) -> bytes:
        """The bundles before `before` score seconds, encoded in time order, and no longer
        kept: the score can be streamed to the server while the band still decides (a
        bundle added later must not be earlier than `before`: ValueError). Taken in parts,
        the bytes are the very ones `encode()` gives at once."""
        self.entries.sort()
        split = bisect.bisect_left(self.entries, before, key=lambda entry: entry[0])
        now, self.entries = self.entries[:split], self.entries[split:]
        self.handed_over = max(self.handed_over, before)
        return b"".join(_SIZE.pack(len(d)) + d for _, _, d in now)

    def encode(self) -> bytes:
        return b"".join(_SIZE.pack(len(d)) + d for _, _, d in sorted(self.entries))


def setup(score: Score, take: Path | None, take_channels: int, build_dir: Path,
          master_controls: tuple[tuple[str, float], ...] = (), seed: int = 1) -> None:
    """Time 0: SynthDefs, tree, the noise seeded, master, the take (each bundle after the one
    before it)."""
    loads: list[Message] = []
    for path in synthdefs.compiled_defs(build_dir):
        data = path.read_bytes()
        if len(data) <= synthdefs.MAX_DATAGRAM_DEF:
            loads.append(("/d_recv", [data]))
        else:
            loads.append(("/d_load", [str(path.resolve())]))
    if not loads:
        raise FileNotFoundError(f"no compiled SynthDefs in {build_dir}: run 'performia build'")
    score.at_start(loads)
    tree: list[Message] = [("/g_new", [ROOT, ADD_TO_HEAD, 0]),
                           ("/g_new", [INPUT, ADD_TO_HEAD, ROOT]),
                           ("/p_new", [BAND, ADD_AFTER, INPUT])]
    tree += [("/p_new", [group, ADD_TO_TAIL, BAND]) for group in INSTRUMENT_GROUPS.values()]
    tree.append(("/g_new", [MASTER, ADD_TO_TAIL, ROOT]))
    tree.append(("/s_new", ["seed_noise", -1, ADD_TO_HEAD, ROOT, "seed", seed]))
    master: list[str | int | float] = []
    for name, bus in INSTRUMENT_BUSES.items():
        master += [name, bus]
    for control, value in master_controls:       # e.g. ("level", 0.05) for a measurement
        master += [control, float(value)]
    tree.append(("/s_new", ["master", MASTER_SYNTH, ADD_TO_HEAD, MASTER, *master]))
    score.at_start(tree)
    if take is not None:
        score.at_start([("/b_allocRead", [INPUT_BUFFER, str(take.resolve()), 0, 0])])
        # the live listen_take's playing and monitoring, without its analysis (done in numpy)
        synthdef = "play_take" if take_channels == 1 else "play_take2"
        score.add(0.0, [("/s_new", [synthdef, INPUT_NODE, ADD_TO_HEAD, INPUT,
                                    "buf", INPUT_BUFFER, "loop", 0])])


class ScoreDispatcher(Dispatcher):
    """The live dispatcher's encoding of every note (the same /s_new, node ids, release
    bundles), its datagrams written into the score instead of a socket.

    Two things the live dispatcher does "now" get the time they would have happened: a
    reactive note (an answer) sounds at `answer_time(note)`, and a release-all event
    (kind 2) closes the gates when the live dispatcher would have received it, a lookahead
    before its time."""

    def __init__(self, score: Score, lookahead: float) -> None:
        super().__init__(DISCARD)
        self.sock.close()                  # nothing is sent anywhere
        self.score = score
        self.lookahead = lookahead
        self.block = score.block
        self.agents: dict[str, Source] = {}
        self.last_time = 0.0

    def source(self, agent: str) -> Source:
        if agent not in self.agents:
            self.agents[agent] = self.add_source(agent)
        return self.agents[agent]

    def answer_time(self, event: NoteEvent) -> float:
        """A reactive note sounds in the first block that starts after it was decided (a
        quarter sample into it, so that rounding cannot move it to the block before)."""
        return math.ceil(event.time / self.block) * self.block + self.block / 256.0

    def send(self, event: NoteEvent, source: Source | None = None) -> None:
        if event.kind == NoteKind.RELEASE:
            now = max(event.time - self.lookahead, 0.0)
            release = self._release_all(source, now)
            if release is not None:
                self.score.add_datagram(now, release)
            self.stats.sent += 1
            return
        if event.flags & FLAG_REACTIVE:
            at = self.answer_time(event)
            event = dataclasses.replace(event, time=at, flags=event.flags & ~FLAG_REACTIVE)
        try:
            datagrams = self._encode(event, source)
        except (IndexError, ValueError) as error:
            self.stats.rejects.refuse(getattr(error, "reason", "unplayable"),
                                      source.name if source else "?", error, event)
            return
        for index, datagram in enumerate(datagrams):   # its start, then its release
            when = live_time(datagram)
            if when is None:
                raise ValueError("the dispatcher made an immediate bundle for a timed note")
            self.score.add_datagram(when, datagram, early=index == 0)
        self.stats.sent += 1
        self.last_time = max(self.last_time, event.time)

    def release_everything(self, at: float) -> None:
        """The end of the render: every note still sounding is released (the live
        transport does the same when it stops)."""
        for source in self.sources:
            release = self._release_all(source, at)
            if release is not None:
                self.score.add_datagram(at, release)


def finish(score: Score, song_time: float) -> None:
    """The render ends at `song_time`: a last (harmless) bundle there."""
    score.add(song_time, [("/c_set", [0, 0])])
