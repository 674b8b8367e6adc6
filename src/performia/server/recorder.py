"""Recording on the server: DiskOut writes a stereo (or stem) WAV from its own thread.

The file is complete after `stop()`: the recorder synth is freed first, then /b_close writes
the header. The manager calls `stop()` on every exit path, Ctrl-C included; where the server
cannot close the file any more (it died, or the manager was killed), `recordings` repairs it
(`wav_repair`): a valid WAV of everything DiskOut had written."""

from __future__ import annotations

import logging
from pathlib import Path

from performia.server.osc import OscClient
from performia.server.tree import ADD_TO_TAIL, INSTRUMENT_BUSES, MASTER, sync

log = logging.getLogger(__name__)

DISK_BUFFER_BYTES = 32768 * 2 * 4   # what one DiskOut half-buffer flush may carry
# DiskOut writes a half buffer at a time: what a killed server had not written yet is lost.
# 16384 frames: at most 8192 (0.17 s at 48 kHz) are lost, 64 KB stereo flushes.
MAX_BUFFER_FRAMES = 16384


STEM_CHANNELS = {"drums": 0, "bass": 2, "harmony": 4, "melody": 6, "input": 8, "test": 10,
                 "master": 12, "drum_marks": 14}   # first channel of each part of a stem file


class Recorder:
    """One DiskOut recording: `start(path)`, `stop()`."""

    def __init__(self, client: OscClient, buffer: int, node: int, *, stems: bool = False) -> None:
        self.client = client
        self.buffer = buffer
        self.node = node
        self.stems = stems
        self.path: Path | None = None
        self.start_time: float | None = None

    @property
    def channels(self) -> int:
        return 15 if self.stems else 2

    @property
    def buffer_frames(self) -> int:
        """DiskOut's buffer: as many bytes whatever the channel count. supernova writes each
        half to disk in one go; a 15-channel buffer of 65536 frames (2 MB a flush) made an
        xrun at every flush, 65536 stereo frames or 8192 × 15 channels make none. At most
        MAX_BUFFER_FRAMES, so that little is lost if the server is killed."""
        frames = min(DISK_BUFFER_BYTES // (4 * self.channels), MAX_BUFFER_FRAMES)
        return 1 << (frames.bit_length() - 1)

    def start(self, path: Path | str, at: float | None = None) -> None:
        """Open `path` and start writing at server time `at` (Unix seconds; None = now)."""
        target = Path(path).resolve()
        target.parent.mkdir(parents=True, exist_ok=True)
        c = self.client
        c.request("/b_alloc", self.buffer, self.buffer_frames, self.channels,
                  match=lambda a: a[:2] == ["/b_alloc", self.buffer])
        c.request("/b_write", self.buffer, str(target), "wav", "float", 0, 0, 1,
                  match=lambda a: a[:2] == ["/b_write", self.buffer])
        args: list[str | int] = ["buf", self.buffer]
        if self.stems:
            for name, bus in INSTRUMENT_BUSES.items():
                args += [name, bus]
        synthdef = "stemrecorder" if self.stems else "recorder"
        c.send_bundle(at, [("/s_new", [synthdef, self.node, ADD_TO_TAIL, MASTER, *args])])
        self.path, self.start_time = target, at
        log.info("recording %s to %s", "stems and master" if self.stems else "the master", target)

    def stop(self) -> None:
        """Stop writing and close the file (its header is written now)."""
        if self.path is None:
            return
        c = self.client
        c.send("/n_free", self.node)
        sync(c)
        c.request("/b_close", self.buffer, match=lambda a: a[:2] == ["/b_close", self.buffer])
        c.request("/b_free", self.buffer, match=lambda a: a[:2] == ["/b_free", self.buffer])
        log.info("recording complete: %s", self.path)
        self.path = None
