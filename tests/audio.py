"""Reading recordings and finding onsets in them, sample by sample."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy.io import wavfile


def read_wav(path: Path | str) -> tuple[int, NDArray[np.float64]]:
    """(rate, frames × channels) as float; supernova's float WAVs carry a PEAK chunk."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", wavfile.WavFileWarning)
        rate, data = wavfile.read(str(path))
    audio = np.asarray(data, dtype=np.float64)
    if audio.ndim == 1:
        audio = audio[:, None]
    return int(rate), audio


def onsets(signal: NDArray[np.float64], threshold: float = 0.05,
           min_gap: int = 2000) -> NDArray[np.int64]:
    """Sample indices where |signal| first exceeds `threshold` after `min_gap` quiet samples."""
    above = np.nonzero(np.abs(signal) > threshold)[0]
    if above.size == 0:
        return np.array([], dtype=np.int64)
    starts = [int(above[0])]
    for previous, index in zip(above[:-1], above[1:], strict=True):
        if index - previous > min_gap:
            starts.append(int(index))
    return np.array(starts, dtype=np.int64)


# How long after a dropout supernova's report of it is read (measured: 0–100 ms).
REPORT_DELAY = 0.15
# How long before a note its report may come. After a resync the server's clock is off the
# system clock by that callback's wake-up delay, so a bundle can count as late (and print
# "late:") before its note's time on our clock: measured up to 0.6 ms before; a resync can
# be off by as much as the longest stall seen here (24 ms).
REPORT_LEAD = 0.03


def undisturbed(times: NDArray[np.float64] | list[float], reports: list[float]
                ) -> NDArray[np.bool_]:
    """For each interval between neighbouring `times` (seconds on one clock), whether no
    xrun or late-bundle report (same clock) falls inside it, from REPORT_LEAD before it to
    REPORT_DELAY after it. An xrun makes supernova resync its clock to the system clock: the
    spacing across it is the dropout's, not ours; a late bundle sounds at once, off its
    sample, which moves both intervals around its note. Every other interval must be exact."""
    t = np.asarray(times, dtype=float)
    r = np.sort(np.asarray(reports, dtype=float))
    if r.size == 0 or t.size < 2:
        return np.ones(max(t.size - 1, 0), dtype=bool)
    first = np.searchsorted(r, t[:-1] - REPORT_LEAD, side="left")
    last = np.searchsorted(r, t[1:] + REPORT_DELAY, side="right")
    return np.asarray(last == first)


def merge_split_hits(marks: NDArray[np.int64], within: int = 64) -> NDArray[np.int64]:
    """Marks closer than `within` samples (one block) taken as one hit, at the first. Two
    drums meant for one sample leave one mark; if one of their bundles came late, it sounds
    at the start of the block it arrived in and leaves a second mark nearby."""
    m = np.asarray(marks, dtype=np.int64)
    if m.size == 0:
        return m
    keep = np.concatenate(([True], np.diff(m) >= within))
    return m[keep]


def rounding_allowance(times: NDArray[np.float64] | list[float], reports: list[float]
                       ) -> NDArray[np.int64]:
    """For each interval between neighbouring `times`: the spacing error the server's clock
    allows. 0 until the first xrun report; 1 sample after it, because a resync sets the clock
    to the system time at an arbitrary fraction of a sample, and a note whose exact place
    then falls near half a sample can round either way."""
    t = np.asarray(times, dtype=float)
    if not reports:
        return np.zeros(max(t.size - 1, 0), dtype=np.int64)
    return (t[1:] > min(reports)).astype(np.int64)
