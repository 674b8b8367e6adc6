"""The render's files: the master (stereo) and the stems (15 channels, the live layout of
docs/EVENTS.md) cut from supernova's output, and the `--events` lines. Each is written under
a temporary name beside its destination and renamed when complete: a failed render leaves
no file that looks finished.

supernova's own WAV carries a PEAK chunk with the time it was written, so its bytes differ
from run to run; the files written here hold only `fmt `, `fact` and `data` (32-bit float).
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from performia.server.recorder import STEM_CHANNELS
from performia.server.tree import INSTRUMENT_BUSES

CHUNK_FRAMES = 1 << 18
MARKS_BUS = 31           # the drums' `mark` bus (one impulse on each hit's first sample)


def stem_sources() -> list[int]:
    """For each of the 15 stem channels, the output bus it comes from."""
    layout = [0] * 15
    for name, first in STEM_CHANNELS.items():
        if name == "drum_marks":
            layout[first] = MARKS_BUS
        elif name == "master":
            layout[first:first + 2] = [0, 1]
        else:
            bus = INSTRUMENT_BUSES[name]
            layout[first:first + 2] = [bus, bus + 1]
    return layout


@dataclass(frozen=True)
class RawWav:
    """supernova's float output, mapped (frames × channels)."""

    samples: npt.NDArray[np.float32]
    sample_rate: int

    @classmethod
    def open(cls, path: Path) -> RawWav:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                raise ValueError(f"{path}: not a WAV file")
            channels = rate = bits = fmt = 0
            while True:
                header = f.read(8)
                if len(header) < 8:
                    raise ValueError(f"{path}: no data chunk")
                kind, size = header[:4], struct.unpack("<I", header[4:])[0]
                if kind == b"fmt ":
                    body = f.read(size + size % 2)
                    fmt, channels, rate = struct.unpack("<HHI", body[:8])
                    bits = struct.unpack("<H", body[14:16])[0]
                elif kind == b"data":
                    offset = f.tell()
                    break
                else:
                    f.seek(size + size % 2, os.SEEK_CUR)
        if bits != 32 or fmt not in (3, 0xFFFE) or channels < 1:
            raise ValueError(f"{path}: expected 32-bit float samples")
        available = (path.stat().st_size - offset) // (4 * channels)
        frames = min(size // (4 * channels), available)
        data = np.memmap(path, dtype="<f4", mode="r", offset=offset, shape=(frames, channels))
        return cls(np.asarray(data), rate)


def write_wav(path: Path, raw: RawWav, channels: Sequence[int], first: int,
              frames: int) -> float:
    """Write `frames` frames of `channels` from frame `first` as a float WAV (through a
    temporary name). Returns the peak level."""
    count = len(channels)
    available = max(min(frames, raw.samples.shape[0] - first), 0)
    payload = frames * count * 4
    fmt = struct.pack("<HHIIHHH", 3, count, raw.sample_rate, raw.sample_rate * count * 4,
                      count * 4, 32, 0)
    header = (b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 12 + 8 + payload) + b"WAVE"
              + b"fmt " + struct.pack("<I", len(fmt)) + fmt
              + b"fact" + struct.pack("<I", 4) + struct.pack("<I", frames)
              + b"data" + struct.pack("<I", payload))
    peak = 0.0
    index = list(channels)

    def body(out: BinaryIO) -> None:
        nonlocal peak
        out.write(header)
        for start in range(0, available, CHUNK_FRAMES):
            stop = min(start + CHUNK_FRAMES, available)
            block = np.ascontiguousarray(raw.samples[first + start:first + stop][:, index],
                                         dtype="<f4")
            if block.size:
                peak = max(peak, float(np.max(np.abs(block))))
            out.write(block.tobytes())
        missing = frames - available
        if missing > 0:
            out.write(bytes(missing * count * 4))

    write_atomically(path, body)
    return peak


def write_events(path: Path, lines: Iterable[dict[str, Any]]) -> None:
    text = "".join(json.dumps(line) + "\n" for line in lines).encode()
    write_atomically(path, lambda out: out.write(text))


def temporary_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.partial")


def write_atomically(path: Path, body: Any) -> None:
    """`body(file)` writes the file's content; it appears at `path` only when complete."""
    partial = temporary_name(path)
    try:
        with open(partial, "wb") as out:
            body(out)
        os.replace(partial, path)
    except BaseException:
        with suppress(FileNotFoundError):
            partial.unlink()
        raise


def check_writable(path: Path) -> None:
    """OSError (with the reason) if `path` cannot be written: checked before rendering."""
    if path.is_dir():
        raise IsADirectoryError(errno_message(path, "is a directory"))
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise FileNotFoundError(errno_message(path, f"no directory {directory}"))
    probe = temporary_name(path)
    with open(probe, "wb"):
        pass
    probe.unlink()


def errno_message(path: Path, reason: str) -> str:
    return f"{path}: {reason}"
