"""What the recogniser reports (`Heard`), and a naive baseline told the bar lines.

The baseline is a reference, not a contender: it reads the truth's bar lines (which a live
recogniser never has), takes one 12-bin chroma of each bar (STFT 8192, Hann, hop 2048, sum of
magnitudes 60–2000 Hz folded to pitch classes), and picks the best of 60 binary templates
(maj, min, 7, maj7, min7 on 12 roots) by cosine; a bar below 2 % of the loudest bar's energy
is "N". Its key is Krumhansl–Kessler on the whole take's chroma, reported at 0 s. It reports no
beats and no tempo.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
QUALITIES = {"maj": (0, 4, 7), "min": (0, 3, 7), "7": (0, 4, 7, 10), "maj7": (0, 4, 7, 11),
             "min7": (0, 3, 7, 10)}
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
N_FFT, HOP = 8192, 2048


@dataclass(frozen=True)
class Heard:
    """The recogniser's contract (mirrors performia.listen.offline.Heard)."""

    chords: list[tuple[float, str]]
    beats: list[float]
    tempos: list[tuple[float, float]]
    keys: list[tuple[float, str]]
    downbeats: list[float]
    cpu_seconds: float


def _templates() -> tuple[list[str], np.ndarray]:
    labels, rows = [], []
    for root in range(12):
        for quality, steps in QUALITIES.items():
            row = np.zeros(12)
            row[[(root + s) % 12 for s in steps]] = 1.0
            labels.append(f"{NAMES[root]}:{quality}")
            rows.append(row / np.linalg.norm(row))
    return labels, np.array(rows)


LABELS, TEMPLATES = _templates()


def _fold_matrix(sample_rate: int) -> np.ndarray:
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / sample_rate)
    fold = np.zeros((12, freqs.size))
    band = (freqs >= 60.0) & (freqs <= 2000.0)
    pcs = np.round(12 * np.log2(freqs[band] / 440.0) + 69).astype(int) % 12
    fold[pcs, np.flatnonzero(band)] = 1.0
    return fold


def chroma(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """12 × frames chroma (magnitudes folded to pitch classes), frame k centred at k·HOP."""
    padded = np.pad(samples.astype(np.float64), (N_FFT // 2, N_FFT // 2))
    count = 1 + (padded.size - N_FFT) // HOP
    window = np.hanning(N_FFT)
    index = np.arange(N_FFT)[None, :] + HOP * np.arange(count)[:, None]
    spectra = np.abs(np.fft.rfft(padded[index] * window, axis=1))
    return np.asarray(_fold_matrix(sample_rate) @ spectra.T)


def best_chord(vector: np.ndarray) -> str:
    norm = np.linalg.norm(vector)
    if norm == 0:
        return "N"
    return LABELS[int(np.argmax(TEMPLATES @ (vector / norm)))]


def best_key(vector: np.ndarray) -> str:
    scores = []
    for profile, mode in ((KK_MAJOR, "maj"), (KK_MINOR, "min")):
        for tonic in range(12):
            scores.append((np.corrcoef(vector, np.roll(profile, tonic))[0, 1], tonic, mode))
    _, tonic, mode = max(scores)
    return f"{NAMES[tonic]}:{mode}"


def hear_with_bar_lines(samples: np.ndarray, sample_rate: int,
                        truth: dict[str, Any]) -> Heard:
    started = time.process_time()
    frames = chroma(samples, sample_rate)
    times = np.arange(frames.shape[1]) * HOP / sample_rate
    energies, vectors = [], []
    for start, end in truth["bars"]:
        inside = (times >= start) & (times < end)
        vectors.append(frames[:, inside].sum(axis=1))
        energies.append(float(np.sum(samples[int(start * sample_rate):int(end * sample_rate)]
                                     .astype(np.float64) ** 2)))
    loudest = max(energies) or 1.0
    chords: list[tuple[float, str]] = []
    for (start, _), vector, energy in zip(truth["bars"], vectors, energies, strict=True):
        chords.append((start, best_chord(vector) if energy >= 0.02 * loudest else "N"))
    chords.append((truth["bars"][-1][1], "N"))
    key = best_key(frames.sum(axis=1))
    return Heard(chords=chords, beats=[], tempos=[], keys=[(0.0, key)], downbeats=[],
                 cpu_seconds=time.process_time() - started)
