"""The analysis pass: what the live server would report on a take, with the time each
reading would reach the conductor (its frame's last sample + `PIPELINE_DELAY`).

* /spectrum and /bands: `listen.offline.readings_of`, the numpy copy of the analysis synth's
  two FFT front ends (equal to supernova's frames: tests/test_listening_frontend.py).
* /pitch: derived from the /spectrum frames (Pitch.kr itself is not copied): the strongest
  harmonic sum between 70 and 1400 Hz, "no pitch" below Pitch.kr's amplitude threshold,
  one reading with each spectrum frame (live: 30 a second). Only the melody reads it, when
  it opens a phrase answering the guitar.
* /accent: Amplitude.kr(in, 0.0005, 0.05) > accentThreshold (0.45), Trig1 0.1 s, evaluated
  at every control block's end, as the analysis synth does.
* /take_end: the block in which PlayBuf reaches the take's end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from performia.listen.frontend import CHORD_SPECTRUM
from performia.listen.offline import PIPELINE_DELAY, readings_of
from performia.listen.readings import PitchReading, Reading, SpectrumReading, TakeEndReading

FloatArray = npt.NDArray[np.float64]

PITCH_LOW, PITCH_HIGH = 70.0, 1400.0   # Pitch.kr(minFreq: 70, maxFreq: 1400)
PITCH_AMP_THRESHOLD = 0.01             # Pitch.kr ampThreshold
HARMONICS = 5
ACCENT_THRESHOLD = 0.45                # \accentThreshold default
ACCENT_GAP = 0.1                       # \accentGap default (Trig1 duration)
ACCENT_ATTACK, ACCENT_RELEASE = 0.0005, 0.05


@dataclass(frozen=True)
class Accent:
    time: float      # when /accent reaches the conductor
    amp: float


@dataclass(frozen=True)
class Hearing:
    readings: list[Reading]     # in arrival order
    accents: list[Accent]
    seconds: float              # length of the take at the server's rate


def server_signal(frames: npt.ArrayLike, take_rate: int, server_rate: int) -> FloatArray:
    """What the analysis synth hears: the channels averaged (listen_take2), played at the
    server's rate (PlayBuf with BufRateScale; resampled linearly here)."""
    x = np.asarray(frames, dtype=np.float64)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if take_rate == server_rate or x.size == 0:
        return x
    count = int(math.floor(x.size * server_rate / take_rate))
    positions = np.arange(count) * (take_rate / server_rate)
    return np.asarray(np.interp(positions, np.arange(x.size), x), dtype=np.float64)


def hear(signal: FloatArray, sample_rate: int, block_size: int,
         delay: float = PIPELINE_DELAY) -> Hearing:
    readings = readings_of(signal, sample_rate, delay)
    pitched: list[Reading] = []
    for reading in readings:
        if isinstance(reading, SpectrumReading):
            pitched.append(pitch_of(reading, sample_rate))
        pitched.append(reading)
    end_block = math.ceil(signal.size / block_size)
    pitched.append(TakeEndReading(end_block * block_size / sample_rate + delay, 0, 0))
    return Hearing(pitched, accents(signal, sample_rate, block_size, delay),
                   signal.size / sample_rate)


_SPECTRUM_ENERGY = float(np.sum(CHORD_SPECTRUM.window() ** 2))


def pitch_of(reading: SpectrumReading, sample_rate: int) -> PitchReading:
    """A /pitch reading from a spectrum frame (see the module's note)."""
    mags = reading.magnitudes
    # RMS of the windowed frame from its spectrum (Parseval; bins sent cover the guitar)
    rms = math.sqrt(2.0 * float(np.dot(mags, mags)) / (CHORD_SPECTRUM.size * _SPECTRUM_ENERGY))
    amp = rms * math.sqrt(2.0)
    if amp < PITCH_AMP_THRESHOLD:
        return PitchReading(reading.time, 0, 0, 0.0, False, amp)
    hz = CHORD_SPECTRUM.bin_hz(sample_rate)
    first = CHORD_SPECTRUM.first_bin
    low, high = math.ceil(PITCH_LOW / hz), math.floor(PITCH_HIGH / hz)
    candidates = np.arange(low, high + 1)
    score = np.zeros(candidates.size)
    for h in range(1, HARMONICS + 1):
        index = candidates * h - first
        inside = index < mags.size
        score[inside] += mags[index[inside]] / h
    best = int(candidates[int(np.argmax(score))])
    return PitchReading(reading.time, 0, 0, best * hz, True, amp)


def accents(signal: FloatArray, sample_rate: int, block_size: int,
            delay: float = PIPELINE_DELAY) -> list[Accent]:
    """The /accent replies: the follower can only pass the threshold where the input does,
    so it is run sample by sample only around those places (from 0.1 s before)."""
    loud = np.nonzero(np.abs(signal) > ACCENT_THRESHOLD)[0]
    if loud.size == 0:
        return []
    attack = math.exp(math.log(0.1) / (ACCENT_ATTACK * sample_rate))
    release = math.exp(math.log(0.1) / (ACCENT_RELEASE * sample_rate))
    lead = int(0.1 * sample_rate)
    hold_blocks = max(1, int(ACCENT_GAP * sample_rate / block_size + 0.5))
    found: list[Accent] = []
    blocked_until = -1                      # Trig1: no new accent before this block
    previous_above = False
    start = 0
    while start < loud.size:
        stop = start
        while stop + 1 < loud.size and loud[stop + 1] - loud[stop] < lead:
            stop += 1
        first = max(int(loud[start]) - lead, 0)
        first -= first % block_size
        last = min(int(loud[stop]) + lead, signal.size)
        level = 0.0
        previous_above = False
        values = np.abs(signal[first:last]).tolist()
        for i, value in enumerate(values):
            coefficient = attack if value > level else release
            level = value + (level - value) * coefficient
            n = first + i
            if (n + 1) % block_size:
                continue
            block = n // block_size
            above = level > ACCENT_THRESHOLD
            if above and not previous_above and block >= blocked_until:
                found.append(Accent((block + 1) * block_size / sample_rate + delay, level))
                blocked_until = block + hold_blocks
            previous_above = above
        start = stop + 1
    return found
