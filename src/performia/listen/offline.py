"""The ears offline: a take's samples through the very chain that runs live.

The server's front end is computed in numpy (frontend.frames: the same magnitudes), each
frame becomes the reading the server would send, stamped with the time it would arrive
(its last sample + `PIPELINE_DELAY`), and the readings go through a `Follower` in time
order, exactly as the conductor's receive thread hands them over live. What the follower
reports (chords, key, tempo, beats) is collected with the time it was reported.
"""

from __future__ import annotations

import heapq
import time as wallclock
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from performia.band.agent import HarmonicContext, Listening
from performia.listen.follower import Follower, FollowerSettings
from performia.listen.frontend import CHORD_SPECTRUM, ONSET_BANDS, Spectrum, frames
from performia.listen.key import KeyEstimator
from performia.listen.readings import BandsReading, Reading, SpectrumReading

# From a frame's last sample to the follower: the server sends it in the next control block
# (64 samples, 1.3 ms), the UDP hop and the receive thread (~0.2 ms measured on loopback).
PIPELINE_DELAY = 0.0015


@dataclass(frozen=True)
class Heard:
    chords: list[tuple[float, str]]      # (time reported, Harte label or "N"), changes only
    beats: list[float]                   # beat times reported by the beat tracker
    tempos: list[tuple[float, float]]    # (time reported, bpm)
    keys: list[tuple[float, str]]        # (time reported, "G:maj")
    downbeats: list[float]
    cpu_seconds: float                   # process time of the follower (the live chain)


def readings_of(samples: npt.ArrayLike, sample_rate: int,
                delay: float = PIPELINE_DELAY) -> list[Reading]:
    """Every frame the server would send for this take, in arrival order."""
    streams: list[list[Reading]] = []
    for spectrum, kind in ((CHORD_SPECTRUM, SpectrumReading), (ONSET_BANDS, BandsReading)):
        times, mags = frames(samples, spectrum, sample_rate)
        streams.append([kind(float(t) + delay, 0, 0, _frozen(m)) for t, m in zip(times, mags,
                                                                              strict=True)])
    return list(heapq.merge(*streams, key=lambda r: r.time))


def hear_take(samples: npt.ArrayLike, sample_rate: int, key: str | None = None,
              settings: FollowerSettings | None = None, beats_per_bar: int = 4) -> Heard:
    """The chords, key, beats and tempo the live chain would report for this take. `key`:
    the configured key the follower starts from (None: none, the key must be heard);
    `beats_per_bar`: the band's meter (used when `settings` is None)."""
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim == 2:
        x = x.mean(axis=1)
    stream = readings_of(x, sample_rate)
    harmony = HarmonicContext.from_labels(key or "C:maj", [key or "C:maj"])
    follower = Follower(harmony, Listening(), bar_at=lambda t: t / 2.0,
                        settings=settings or FollowerSettings.in_meter(beats_per_bar))
    if key is None:
        follower.keys = KeyEstimator(follower.settings.key)     # nothing to start from
    chords: list[tuple[float, str]] = []
    keys: list[tuple[float, str]] = []
    tempos: list[tuple[float, float]] = []
    started = wallclock.process_time()
    for reading in stream:
        for event in follower.handle(reading):
            kind = event["kind"]
            if kind == "chord":
                chords.append((event["t"], event["chord"]))
            elif kind == "key":
                keys.append((event["t"], event["key"]))
            elif kind == "tempo":
                tempos.append((event["t"], event["bpm"]))
    cpu = wallclock.process_time() - started
    rhythm = follower.rhythm
    return Heard(chords, list(rhythm.beats), tempos, keys, list(rhythm.downbeats), cpu)


def _frozen(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    out = np.array(values, dtype=np.float64)
    out.flags.writeable = False
    return out


__all__ = ["Heard", "PIPELINE_DELAY", "Spectrum", "hear_take", "readings_of"]
