"""Rehearsal takes: strummed-guitar recordings the project makes itself, with their truth.

`generate_take(TakeSpec(...))` strums a progression on a Karplus–Strong guitar (standard
tuning, real chord shapes, 10–30 ms strums, humanised timing and velocity, pick noise and a
little hiss) and returns the samples with the ground truth: the chord of every bar, the time
of every strum, key and tempo. `write_take` stores it as a 48 kHz mono float WAV with the
truth beside it as JSON. `read_take` validates any file the user hands to `--input` (mono or
stereo WAV/AIFF at a common rate) before anything starts; supernova reads the file itself.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from itertools import product
from pathlib import Path

import numpy as np
import numpy.typing as npt

from performia.config import PROJECT_ROOT
from performia.theory import Chord, Key

Samples = npt.NDArray[np.float32]

DEFAULT_TAKE = PROJECT_ROOT / "build" / "takes" / "rehearsal.wav"
TUNING = (40, 45, 50, 55, 59, 64)          # E2 A2 D3 G3 B3 E4 (MIDI)
COMMON_RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000,
                176400, 192000)
STRUM_STEPS = "DdUu.x"                      # D/d down (loud/soft), U/u up, . hold, x mute


class TakeError(ValueError):
    """A take file cannot be used: the message names the file and the problem."""


# ----------------------------------------------------------------------------- generation


@dataclass(frozen=True)
class TakeSpec:
    """What to strum. `pattern` is one bar of evenly spaced steps (see STRUM_STEPS)."""

    progression: tuple[str, ...]          # Harte labels, one per bar, looped
    key: str
    bpm: float
    bars: int = 8
    beats_per_bar: int = 4
    pattern: str = "D.DU.UDU"
    sample_rate: int = 48000
    seed: int = 1
    lead_in: float = 0.5                  # seconds of silence before the first downbeat
    tail: float = 2.0                     # seconds after the last bar (the last chord rings)
    level: float = 0.5                    # peak level of the written take

    def __post_init__(self) -> None:
        if not self.progression:
            raise ValueError("a take needs at least one chord")
        for label in self.progression:
            Chord.parse(label)
        Key.parse(self.key)
        if not 30.0 <= self.bpm <= 300.0:
            raise ValueError(f"bpm must be between 30 and 300, got {self.bpm}")
        if self.bars < 1 or self.beats_per_bar < 1:
            raise ValueError("bars and beats_per_bar must be at least 1")
        bad = set(self.pattern) - set(STRUM_STEPS)
        if not self.pattern or bad:
            raise ValueError(f"strum pattern {self.pattern!r}: use only {STRUM_STEPS!r}")


@dataclass(frozen=True)
class TakeTruth:
    """What a listener should hear in a take."""

    chords: tuple[str, ...]               # Harte label of every bar
    bar_times: tuple[float, ...]          # start of every bar, seconds from the file's start
    onsets: tuple[float, ...]             # start of every strum (its first string)
    bpm: float
    key: str
    beats_per_bar: int
    duration: float

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> TakeTruth:
        data = json.loads(text)
        return cls(chords=tuple(data["chords"]), bar_times=tuple(data["bar_times"]),
                   onsets=tuple(data["onsets"]), bpm=float(data["bpm"]), key=str(data["key"]),
                   beats_per_bar=int(data["beats_per_bar"]), duration=float(data["duration"]))


@dataclass(frozen=True)
class Take:
    samples: Samples                      # mono float32, peak = spec.level
    sample_rate: int
    truth: TakeTruth


@dataclass
class _Strum:
    time: float
    frets: tuple[int | None, ...]
    direction: str                        # "down" or "up"
    velocity: float
    strings: tuple[int, ...] = field(default_factory=tuple)


def generate_take(spec: TakeSpec) -> Take:
    """Strum `spec` on a Karplus–Strong guitar. Deterministic for a given seed."""
    rng = np.random.default_rng(spec.seed)
    bar_seconds = spec.beats_per_bar * 60.0 / spec.bpm
    duration = spec.lead_in + spec.bars * bar_seconds + spec.tail
    labels = tuple(spec.progression[b % len(spec.progression)] for b in range(spec.bars))
    bar_times = tuple(spec.lead_in + b * bar_seconds for b in range(spec.bars))
    strums = _plan_strums(spec, labels, bar_times, bar_seconds, rng)
    out = np.zeros(int(duration * spec.sample_rate) + 1, dtype=np.float64)
    _render(strums, out, spec.sample_rate, rng)
    out += rng.normal(0.0, 10 ** (-66 / 20), out.size)           # hiss at -66 dBFS
    out *= spec.level / max(float(np.max(np.abs(out))), 1e-9)
    truth = TakeTruth(chords=labels, bar_times=bar_times,
                      onsets=tuple(s.time for s in strums if s.velocity > 0),
                      bpm=float(spec.bpm), key=Key.parse(spec.key).label,
                      beats_per_bar=spec.beats_per_bar, duration=duration)
    return Take(out.astype(np.float32), spec.sample_rate, truth)


def _plan_strums(spec: TakeSpec, labels: tuple[str, ...], bar_times: tuple[float, ...],
                 bar_seconds: float, rng: np.random.Generator) -> list[_Strum]:
    step = bar_seconds / len(spec.pattern)
    strums: list[_Strum] = []
    for label, start in zip(labels, bar_times, strict=True):
        frets = voicing(Chord.parse(label))
        for i, symbol in enumerate(spec.pattern):
            if symbol == ".":
                continue
            time = start + i * step + float(rng.normal(0.0, 0.004))
            if symbol == "x":
                strums.append(_Strum(max(time, 0.0), frets, "mute", 0.0))
                continue
            loud = symbol.isupper()
            direction = "down" if symbol.lower() == "d" else "up"
            velocity = (0.9 if loud else 0.55) * float(rng.uniform(0.85, 1.0))
            if direction == "up":
                velocity *= 0.75
            strums.append(_Strum(max(time, 0.0), frets, direction, velocity))
    return strums


def _render(strums: list[_Strum], out: npt.NDArray[np.float64], rate: int,
            rng: np.random.Generator) -> None:
    """Each string sounds from its pluck until the next strum that touches it, or that mutes
    it: the fretting hand damps the strings the new chord shape does not use (a low E left
    ringing under a C shape would put an E in the bass)."""
    notes: list[tuple[int, float, float, int]] = []          # string, start, velocity, midi
    for strum in strums:
        notes += [(string, strum.time, 0.0, -1) for string, fret in enumerate(strum.frets)
                  if fret is None]
        played = _strings_of(strum, rng)
        spread = float(rng.uniform(0.010, 0.030))
        order = played if strum.direction != "up" else list(reversed(played))
        for n, string in enumerate(order):
            offset = spread * n / max(len(order) - 1, 1)
            fret = strum.frets[string]
            midi = TUNING[string] + fret if fret is not None else -1
            notes.append((string, strum.time + offset, strum.velocity, midi))
        if strum.velocity > 0:
            _add_pick_noise(out, int(strum.time * rate), strum.velocity, rate, rng)
    for i, (string, start, velocity, midi) in enumerate(notes):
        if velocity <= 0 or midi < 0:
            continue
        stop = next((s for (st, s, _, _) in notes[i + 1:] if st == string and s > start),
                    start + 6.0)
        _add_note(out, midi, start, stop, velocity, rate, rng)


def _strings_of(strum: _Strum, rng: np.random.Generator) -> list[int]:
    played = [s for s, fret in enumerate(strum.frets) if fret is not None]
    if strum.direction == "up":                 # up strums catch the top 3–5 strings
        keep = int(rng.integers(3, min(5, len(played)) + 1))
        played = played[-keep:]
    return played


def _add_pick_noise(out: npt.NDArray[np.float64], at: int, velocity: float, rate: int,
                    rng: np.random.Generator) -> None:
    length = int(0.004 * rate)
    if at + length > out.size:
        return
    burst = rng.normal(0.0, 1.0, length) * np.exp(-np.arange(length) / (0.001 * rate))
    out[at:at + length] += 0.03 * velocity * np.diff(burst, prepend=0.0)


def _add_note(out: npt.NDArray[np.float64], midi: int, start: float, stop: float,
              velocity: float, rate: int, rng: np.random.Generator) -> None:
    begin = int(start * rate)
    end = min(int(stop * rate), out.size)
    if end - begin < 16:
        return
    freq = 440.0 * 2 ** ((midi - 69 + float(rng.normal(0.0, 0.04))) / 12)   # ±4 cents
    tone = karplus_strong(freq, end - begin, rate, rng, decay=2.5 + 3.0 * (64 - midi) / 24)
    fade = min(int(0.012 * rate), tone.size)
    tone[-fade:] *= np.linspace(1.0, 0.0, fade)               # the next pluck damps it
    out[begin:end] += velocity * tone


def karplus_strong(freq: float, length: int, rate: int, rng: np.random.Generator,
                   decay: float = 3.0, brightness: float = 0.5) -> npt.NDArray[np.float64]:
    """A plucked string: one period of a pluck shape circulating in a damped delay loop.

    The first period holds harmonics h with amplitude sin(π·h·β)/h^(2 − brightness) (a string
    plucked at β of its length, seen by a pickup) with random phases, plus a little noise.
    The loop filter g·(½ + ½z⁻¹)·((1−d) + d·z⁻¹)·z⁻ᴸ damps the highs and tunes to fractional
    periods; as all its taps are at least L samples back, L samples are computed at once.
    """
    period = rate / freq
    lag = int(period - 0.5)
    frac = period - 0.5 - lag
    gain = 10 ** (-3.0 / (freq * decay))                       # T60 = decay seconds
    taps = gain * np.array([0.5 * (1 - frac), 0.5, 0.5 * frac])
    excitation = _pluck_shape(lag, float(rng.uniform(0.08, 0.2)), brightness, rng)
    pad = lag + 2
    y = np.zeros(length + pad)
    y[pad:pad + min(lag, length)] = excitation[:length]
    for s in range(pad, length + pad, lag):
        e = min(s + lag, length + pad)
        n = e - s
        y[s:e] += (taps[0] * y[s - lag:s - lag + n] + taps[1] * y[s - lag - 1:s - lag - 1 + n]
                   + taps[2] * y[s - lag - 2:s - lag - 2 + n])
    return y[pad:]


def _pluck_shape(lag: int, position: float, brightness: float,
                 rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """One period (`lag` samples) of a string plucked at `position` of its length, peak 0.6."""
    harmonics = np.arange(1, lag // 2)
    amplitude = np.abs(np.sin(np.pi * harmonics * position)) / harmonics ** (2.0 - brightness)
    phases = rng.uniform(0.0, 2 * np.pi, harmonics.size)
    n = np.arange(lag)[:, None]
    shape = (amplitude * np.cos(2 * np.pi * harmonics * n / lag + phases)).sum(axis=1)
    shape /= max(float(np.max(np.abs(shape))), 1e-9)
    shape += rng.normal(0.0, 0.02, lag)
    return np.asarray(0.6 * shape, dtype=np.float64)


@lru_cache(maxsize=256)
def voicing(chord: Chord) -> tuple[int | None, ...]:
    """A playable guitar shape: frets per string (low E first), None = not played.

    The root is in the bass; every chord tone sounds (the fifth may be left out); the fretted
    notes stay within four frets; open strings are welcome; lower positions win.
    """
    best: tuple[float, tuple[int | None, ...]] | None = None
    for bass in (0, 1, 2):
        for root_fret in range(0, 10):
            if (TUNING[bass] + root_fret) % 12 != chord.root:
                continue
            for shape in _shapes(chord, bass, root_fret):
                score = _shape_score(chord, shape, root_fret)
                if score is not None and (best is None or score > best[0]):
                    best = (score, shape)
    if best is None:
        raise ValueError(f"no guitar voicing found for {chord.label}")
    return best[1]


def _shapes(chord: Chord, bass: int, root_fret: int) -> list[tuple[int | None, ...]]:
    window = [0, *range(max(1, root_fret - 3), root_fret + 4)]   # the span check follows
    options: list[list[int | None]] = []
    for string in range(6):
        if string < bass:
            options.append([None])
        elif string == bass:
            options.append([root_fret])
        else:
            frets: list[int | None] = [f for f in window
                                       if (TUNING[string] + f) % 12 in chord.pitch_classes]
            options.append(frets or [None])
    return [tuple(shape) for shape in product(*options)]


def _shape_score(chord: Chord, shape: tuple[int | None, ...], root_fret: int) -> float | None:
    played = [(s, f) for s, f in enumerate(shape) if f is not None]
    if len(played) < 4 or any(f is None for f in shape[played[0][0]:]):
        return None                                # strings in a row, at least four
    fretted = [f for _, f in played if f > 0]
    if fretted and max(fretted) - min(fretted) > 3:
        return None
    classes = {(TUNING[s] + f) % 12 for s, f in played}
    required = set(chord.pitch_classes) - {chord.fifth}
    if not required <= classes:
        return None
    score = 0.4 * len(played) - 0.15 * root_fret
    score -= 0.5 * (chord.fifth not in classes)
    score -= 0.3 * (len(fretted) > 4)              # five fretted notes: a barre, harder
    score -= 0.05 * sum(fretted) / max(len(fretted), 1) + 0.1 * max(fretted, default=0)
    return score


# ------------------------------------------------------------------------------ files


@dataclass(frozen=True)
class TakeInfo:
    path: Path
    format: str                           # "WAV" or "AIFF"
    channels: int
    sample_rate: int
    frames: int
    sample_format: str                    # "pcm16", "pcm24", "float32", ...

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


def write_take(path: Path | str, take: Take) -> Path:
    """Write the take as a mono float WAV and its truth as JSON beside it (same stem)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_wav_float(target, take.samples, take.sample_rate)
    target.with_suffix(".json").write_text(take.truth.to_json())
    return target


# Raised whenever the generator's sound changes, so takes made before are made again
# (2: the strings a chord shape does not use are damped).
GENERATOR_VERSION = 2


def ensure_take(spec: TakeSpec, path: Path | str = DEFAULT_TAKE) -> Path:
    """The take of `spec` at `path`: generated the first time, reused while the spec is the
    same (the spec is stored beside it as `<stem>.spec`)."""
    target = Path(path)
    stamp = target.with_suffix(".spec")
    wanted = f"generator {GENERATOR_VERSION}: {spec!r}"
    if target.exists() and stamp.exists() and stamp.read_text() == wanted:
        return target
    write_take(target, generate_take(spec))
    stamp.write_text(wanted)
    return target


def write_wav_float(path: Path, samples: npt.NDArray[np.floating], rate: int) -> None:
    """A mono or multi-channel (frames × channels) 32-bit float WAV."""
    data = np.asarray(samples, dtype="<f4")
    channels = 1 if data.ndim == 1 else data.shape[1]
    payload = data.tobytes()
    fmt = struct.pack("<HHIIHHH", 3, channels, rate, rate * channels * 4, channels * 4, 32, 0)
    fact = struct.pack("<I", data.shape[0])
    body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
            + b"fact" + struct.pack("<I", 4) + fact
            + b"data" + struct.pack("<I", len(payload)) + payload)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def read_take(path: Path | str) -> TakeInfo:
    """Check that `path` is a mono or stereo WAV/AIFF at a common rate; TakeError if not."""
    info, _ = _parse(Path(path))
    return info


def load_samples(path: Path | str) -> tuple[npt.NDArray[np.float32], TakeInfo]:
    """The take's samples as float32 frames × channels in −1..1 (tests, offline analysis)."""
    info, (data, dtype, scale) = _parse(Path(path))
    raw = _pcm24(data, dtype[-1]) if dtype.startswith("pcm24") else np.frombuffer(data, dtype)
    samples = (raw.astype(np.float64) * scale).astype(np.float32)
    usable = samples.size - samples.size % info.channels
    return samples[:usable].reshape(-1, info.channels), info


def _parse(path: Path) -> tuple[TakeInfo, tuple[bytes, str, float]]:
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        raise TakeError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise TakeError(f"{path}: is a directory, not an audio file") from None
    except OSError as error:
        raise TakeError(f"{path}: cannot be read: {error.strerror}") from None
    if len(blob) < 12:
        raise TakeError(f"{path}: too short to be a WAV or AIFF file ({len(blob)} bytes)")
    if blob[:4] == b"RIFF" and blob[8:12] == b"WAVE":
        info, payload = _parse_wav(path, blob)
    elif blob[:4] == b"FORM" and blob[8:12] in (b"AIFF", b"AIFC"):
        info, payload = _parse_aiff(path, blob)
    else:
        raise TakeError(f"{path}: not a WAV or AIFF file (it starts with {blob[:4]!r})")
    _check_info(info)
    return info, payload


def _chunks(blob: bytes, endian: str) -> dict[bytes, bytes]:
    chunks: dict[bytes, bytes] = {}
    pos = 12
    while pos + 8 <= len(blob):
        cid = blob[pos:pos + 4]
        (size,) = struct.unpack(endian + "I", blob[pos + 4:pos + 8])
        chunks.setdefault(cid, blob[pos + 8:pos + 8 + size])   # a streamed size is cut short
        pos += 8 + size + (size & 1)
    return chunks


_WAV_SUBTYPES = {(1, 8): ("u1", "pcm8"), (1, 16): ("<i2", "pcm16"), (1, 24): ("pcm24<", "pcm24"),
                 (1, 32): ("<i4", "pcm32"), (3, 32): ("<f4", "float32"),
                 (3, 64): ("<f8", "float64")}


def _parse_wav(path: Path, blob: bytes) -> tuple[TakeInfo, tuple[bytes, str, float]]:
    chunks = _chunks(blob, "<")
    fmt, data = chunks.get(b"fmt "), chunks.get(b"data")
    if fmt is None or len(fmt) < 16:
        raise TakeError(f"{path}: WAV file without a valid 'fmt ' chunk")
    if data is None:
        raise TakeError(f"{path}: WAV file without a 'data' chunk (no audio)")
    tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == 0xFFFE and len(fmt) >= 26:                        # WAVE_FORMAT_EXTENSIBLE
        (tag,) = struct.unpack("<H", fmt[24:26])
    if (tag, bits) not in _WAV_SUBTYPES:
        raise TakeError(f"{path}: unsupported WAV encoding (format tag {tag}, {bits} bits): "
                        "use 16/24/32-bit PCM or 32/64-bit float")
    dtype, name = _WAV_SUBTYPES[(tag, bits)]
    frames = len(data) // max(channels * bits // 8, 1)
    scale = 1.0 if tag == 3 else 1.0 / 2 ** (bits - 1)
    if name == "pcm8":
        scale, data = 1.0 / 128, bytes(b ^ 0x80 for b in data)  # unsigned → signed
        dtype = "i1"
    return TakeInfo(path, "WAV", channels, rate, frames, name), (data, dtype, scale)


_AIFC_FLOAT = {b"fl32": ("float32", ">f4", 32), b"FL32": ("float32", ">f4", 32),
               b"fl64": ("float64", ">f8", 64), b"FL64": ("float64", ">f8", 64)}


def _parse_aiff(path: Path, blob: bytes) -> tuple[TakeInfo, tuple[bytes, str, float]]:
    chunks = _chunks(blob, ">")
    comm, ssnd = chunks.get(b"COMM"), chunks.get(b"SSND")
    if comm is None or len(comm) < 18:
        raise TakeError(f"{path}: AIFF file without a valid COMM chunk")
    if ssnd is None or len(ssnd) < 8:
        raise TakeError(f"{path}: AIFF file without a sound data (SSND) chunk")
    channels, frames, bits = struct.unpack(">hIh", comm[:8])
    rate = _extended(comm[8:18])
    compression = comm[18:22] if blob[8:12] == b"AIFC" and len(comm) >= 22 else b"NONE"
    (offset,) = struct.unpack(">I", ssnd[:4])
    data = ssnd[8 + offset:]
    if compression in _AIFC_FLOAT:
        name, dtype, bits = _AIFC_FLOAT[compression]
        scale = 1.0
    elif compression in (b"NONE", b"twos", b"sowt") and bits in (8, 16, 24, 32):
        endian = "<" if compression == b"sowt" else ">"
        name = f"pcm{bits}"
        dtype = {8: "i1", 16: endian + "i2", 24: "pcm24" + endian, 32: endian + "i4"}[bits]
        scale = 1.0 / 2 ** (bits - 1)
    else:
        raise TakeError(f"{path}: unsupported AIFF encoding ({compression.decode('latin-1')}, "
                        f"{bits} bits): use 16/24/32-bit PCM or 32-bit float")
    frames = min(frames, len(data) // max(channels * bits // 8, 1))
    return (TakeInfo(path, "AIFF", channels, int(round(rate)), frames, name),
            (data, dtype, scale))


def _extended(raw: bytes) -> float:
    """An IEEE 754 80-bit extended float (AIFF's sample rate)."""
    exponent, mantissa = struct.unpack(">HQ", raw)
    sign = -1.0 if exponent & 0x8000 else 1.0
    exponent &= 0x7FFF
    if exponent == 0 and mantissa == 0:
        return 0.0
    return sign * float(mantissa) * 2.0 ** (int(exponent) - 16383 - 63)


def _pcm24(data: bytes, endian: str) -> npt.NDArray[np.int32]:
    raw = np.frombuffer(data[:len(data) - len(data) % 3], dtype=np.uint8).reshape(-1, 3)
    b = raw.astype(np.int32)
    if endian == ">":
        value = b[:, 0] << 16 | b[:, 1] << 8 | b[:, 2]
    else:
        value = b[:, 2] << 16 | b[:, 1] << 8 | b[:, 0]
    return np.where(value >= 1 << 23, value - (1 << 24), value).astype(np.int32)


def _check_info(info: TakeInfo) -> None:
    if info.channels not in (1, 2):
        raise TakeError(f"{info.path}: {info.channels} channels; a take must be mono or stereo")
    if info.sample_rate not in COMMON_RATES:
        raise TakeError(f"{info.path}: sample rate {info.sample_rate} Hz is not a common rate "
                        f"({', '.join(str(r) for r in COMMON_RATES)})")
    if info.frames == 0:
        raise TakeError(f"{info.path}: contains no audio (0 frames)")


def main(argv: list[str] | None = None) -> int:
    """`python -m performia.listen.rehearsal OUT.wav --progression G:maj E:min7 ...`"""
    parser = argparse.ArgumentParser(prog="python -m performia.listen.rehearsal",
                                     description="Strum a rehearsal take (WAV + truth JSON).")
    parser.add_argument("out", type=Path)
    parser.add_argument("--progression", nargs="+", default=["E:min", "C:maj", "G:maj", "D:maj"])
    parser.add_argument("--key", default="E:min")
    parser.add_argument("--bpm", type=float, default=96.0)
    parser.add_argument("--bars", type=int, default=8)
    parser.add_argument("--beats-per-bar", type=int, default=4)
    parser.add_argument("--pattern", default="D.DU.UDU", help=f"one bar of {STRUM_STEPS}")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    try:
        spec = TakeSpec(tuple(args.progression), args.key, args.bpm, bars=args.bars,
                        beats_per_bar=args.beats_per_bar, pattern=args.pattern, seed=args.seed)
    except ValueError as error:
        parser.error(str(error))
    path = write_take(args.out, generate_take(spec))
    print(f"{path}: {' '.join(spec.progression)} in {spec.key} at {spec.bpm:g} BPM, "
          f"{spec.bars} bars (truth: {path.with_suffix('.json')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
