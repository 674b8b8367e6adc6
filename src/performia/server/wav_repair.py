"""Make a WAV that was being written valid again: its sizes from the file's real length.

supernova's DiskOut (libsndfile) writes a WAV's header when the file is opened, with a RIFF
size of 8 and a data chunk of 0 bytes, and the real sizes only on `/b_close`. A server or a
manager that is killed before that leaves a file full of audio that every standard reader
sees as empty. `repair_wav` rewrites the three sizes that matter (RIFF, `fact`, `data`) from
the file's length, truncated to whole frames; every other byte of the header stays as it was
(DiskOut writes `fmt ` with format 3 = float, then `fact` and `PEAK`; WAVE_FORMAT_EXTENSIBLE
headers are read the same way, block alignment from `fmt `).

`final=False` patches a file that is still being written (the manager does it every second
while it records): sizes only, the file is not truncated. `final=True` (nothing writes the
file any more) also cuts a partial last frame.

`python -m performia.server.wav_repair FILE...` repairs files by hand.
"""

from __future__ import annotations

import logging
import os
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

HEADER_LIMIT = 1 << 16       # the chunks before `data` are within the first 64 KB
WAV_MAX = 0xFFFFFFFF         # a 32-bit size: a WAV cannot declare more


class WavRepairError(ValueError):
    """The file is not a WAV that can be repaired (names the file and why)."""


@dataclass(frozen=True)
class WavState:
    """What the header of a WAV says, and what the file holds."""

    channels: int
    rate: int
    block_align: int           # bytes per frame
    data_offset: int           # where the samples start
    declared_bytes: int        # the data chunk's size in the header
    riff_size: int             # the RIFF chunk's size in the header
    file_size: int
    fact_offset: int | None    # where the `fact` sample count is, if there is one

    @property
    def available_frames(self) -> int:
        """Whole frames between the start of the samples and the end of the file."""
        return max(self.file_size - self.data_offset, 0) // self.block_align

    @property
    def consistent(self) -> bool:
        """The header matches the file: RIFF covers the file, data fits in it."""
        return (self.riff_size + 8 == self.file_size
                and self.data_offset + self.declared_bytes <= self.file_size)


@dataclass(frozen=True)
class Repair:
    """What `repair_wav` did: the frames the header declares now, and before."""

    path: Path
    frames: int
    frames_before: int
    rate: int
    changed: bool

    @property
    def seconds(self) -> float:
        return self.frames / self.rate if self.rate else 0.0


def inspect_wav(path: Path | str) -> WavState:
    """Parse the header of `path` (WavRepairError if it is not a WAV with fmt and data)."""
    path = Path(path)
    try:
        with open(path, "rb") as stream:
            head = stream.read(HEADER_LIMIT)
            size = os.fstat(stream.fileno()).st_size
    except OSError as error:
        raise WavRepairError(f"{path}: cannot be read: {error.strerror}") from None
    return _parse(path, head, size)


def _parse(path: Path, head: bytes, size: int) -> WavState:
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise WavRepairError(f"{path}: not a RIFF/WAVE file")
    (riff_size,) = struct.unpack_from("<I", head, 4)
    fmt: tuple[int, int, int] | None = None      # channels, rate, block align
    fact_offset = None
    pos = 12
    while pos + 8 <= len(head):
        cid = head[pos:pos + 4]
        (chunk_size,) = struct.unpack_from("<I", head, pos + 4)
        body = pos + 8
        if cid == b"data":
            if fmt is None:
                raise WavRepairError(f"{path}: 'data' before any 'fmt ' chunk")
            channels, rate, align = fmt
            return WavState(channels, rate, align, body, chunk_size, riff_size, size,
                            fact_offset)
        if cid == b"fmt ":
            if chunk_size < 16 or body + 16 > len(head):
                raise WavRepairError(f"{path}: 'fmt ' chunk too short ({chunk_size} bytes)")
            _tag, channels, rate, _rate_bytes, align = struct.unpack_from("<HHIIH", head, body)
            if channels == 0 or align == 0 or align % channels:
                raise WavRepairError(f"{path}: 'fmt ' says {channels} channels, "
                                     f"{align} bytes a frame")
            fmt = (channels, rate, align)
        elif cid == b"fact" and chunk_size >= 4:
            fact_offset = body
        pos = body + chunk_size + (chunk_size & 1)
    raise WavRepairError(f"{path}: no 'data' chunk in the first {HEADER_LIMIT} bytes")


def repair_wav(path: Path | str, *, final: bool = True) -> Repair:
    """Rewrite the sizes of `path` from its length (see the module's text). A file whose
    header already matches it is left untouched (`changed` False)."""
    path = Path(path)
    state = inspect_wav(path)
    rate = state.rate
    before = state.declared_bytes // state.block_align
    if state.consistent:
        return Repair(path, before, before, rate, changed=False)
    frames = state.available_frames
    limit = (WAV_MAX - (state.data_offset - 8) - 1) // state.block_align
    if frames > limit:
        log.warning("%s: %d frames are more than a WAV can declare; its header declares the "
                    "first %d", path, frames, limit)
        frames = limit
    data_bytes = frames * state.block_align
    pad = data_bytes & 1
    end = state.data_offset + data_bytes
    try:
        with open(path, "r+b") as stream:
            if final:
                stream.truncate(end)
                if pad:
                    stream.seek(end)
                    stream.write(b"\0")
            stream.seek(4)
            stream.write(struct.pack("<I", end + pad - 8))
            stream.seek(state.data_offset - 4)
            stream.write(struct.pack("<I", data_bytes))
            if state.fact_offset is not None:
                stream.seek(state.fact_offset)
                stream.write(struct.pack("<I", frames))
    except OSError as error:
        raise WavRepairError(f"{path}: cannot be written: {error.strerror}") from None
    return Repair(path, frames, before, rate, changed=True)


def main(argv: list[str] | None = None) -> int:
    """Repair each file named; one line per file; exit 1 if any could not be repaired."""
    files = sys.argv[1:] if argv is None else argv
    if not files:
        print("usage: python -m performia.server.wav_repair FILE.wav...", file=sys.stderr)
        return 2
    status = 0
    for name in files:
        try:
            result = repair_wav(name)
        except WavRepairError as error:
            print(f"not repaired: {error}", file=sys.stderr)
            status = 1
            continue
        if result.changed:
            print(f"repaired {name}: {result.frames} frames ({result.seconds:.2f} s); the "
                  f"header said {result.frames_before}")
        else:
            print(f"{name}: already valid, {result.frames} frames ({result.seconds:.2f} s)")
    return status


if __name__ == "__main__":
    sys.exit(main())
