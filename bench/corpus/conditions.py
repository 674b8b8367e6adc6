"""What a real rig does to a clean take. Each condition: (samples, sample_rate, seed) → samples,
deterministic, the same length, so the take's truth (times, chords, beats) still holds.

* `quiet`   — the whole take at a peak of −30 dBFS (a guitar with the interface gain low).
* `detune`  — ±40 cents (+ for an even seed, − for an odd one): a guitar tuned to itself but
              not to A440. Pitch-shifted without moving anything in time: a phase vocoder
              stretches time by the pitch ratio, then resampling by the inverse ratio restores
              the duration (plain resampling would shift a 60 s take by 1.4 s against its truth).
* `hum`     — mains hum (50 Hz + 5 harmonics, RMS −40 dBFS) and white hiss (RMS −60 dBFS).
* `clipped` — driven ×4, then hard-clipped at ±0.5 (an overloaded input stage).
* `bright`  — +9 dB above 2 kHz (a second-order high shelf: a bridge pickup, a mic close to the
              strings), peak restored.
* `dark`    — a second-order low-pass at 1.2 kHz (the tone knob rolled off, a neck pickup),
              peak restored.
`bright` and `dark` stand in for a guitar of another timbre: the development takes come from
two soundfonts only.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import numpy as np
from scipy.signal import butter, resample_poly, sosfilt

DETUNE_CENTS = 40.0
N_FFT, HOP = 2048, 512


def dbfs(level: float) -> float:
    return float(10 ** (level / 20))


def quiet(samples: np.ndarray, sample_rate: int, seed: int) -> np.ndarray:
    peak = float(np.max(np.abs(samples))) or 1.0
    return (samples * (dbfs(-30.0) / peak)).astype(np.float32)


def _stft(x: np.ndarray) -> np.ndarray:
    padded = np.pad(x, (N_FFT, N_FFT))
    count = 1 + (padded.size - N_FFT) // HOP
    index = np.arange(N_FFT)[None, :] + HOP * np.arange(count)[:, None]
    return np.fft.rfft(padded[index] * np.hanning(N_FFT), axis=1)


def _istft(frames: np.ndarray, length: int) -> np.ndarray:
    window = np.hanning(N_FFT)
    out = np.zeros(N_FFT + HOP * (len(frames) - 1))
    norm = np.zeros_like(out)
    for i, spectrum in enumerate(np.fft.irfft(frames, n=N_FFT, axis=1)):
        out[i * HOP:i * HOP + N_FFT] += spectrum * window
        norm[i * HOP:i * HOP + N_FFT] += window ** 2
    out /= np.maximum(norm, 1e-8)
    return out[N_FFT:N_FFT + length]


def stretch(x: np.ndarray, factor: float) -> np.ndarray:
    """Phase vocoder: `factor` times longer, same pitch."""
    spectra = _stft(x)
    positions = np.arange(0, len(spectra) - 1, 1.0 / factor)
    expected = 2 * np.pi * HOP * np.arange(N_FFT // 2 + 1) / N_FFT
    phase = np.angle(spectra[0])
    out = np.empty((len(positions), spectra.shape[1]), dtype=complex)
    for i, pos in enumerate(positions):
        k = int(pos)
        a, b = spectra[k], spectra[k + 1]
        mag = (1 - (pos - k)) * np.abs(a) + (pos - k) * np.abs(b)
        out[i] = mag * np.exp(1j * phase)
        delta = np.angle(b) - np.angle(a) - expected
        delta -= 2 * np.pi * np.round(delta / (2 * np.pi))
        phase = phase + expected + delta
    return _istft(out, int(round(x.size * factor)))


def detune(samples: np.ndarray, sample_rate: int, seed: int) -> np.ndarray:
    cents = DETUNE_CENTS if seed % 2 == 0 else -DETUNE_CENTS
    ratio = 2 ** (cents / 1200)
    longer = stretch(samples.astype(np.float64), ratio)
    step = Fraction(1 / ratio).limit_denominator(400)
    shifted = resample_poly(longer, step.numerator, step.denominator)
    shifted = np.pad(shifted, (0, max(samples.size - shifted.size, 0)))[:samples.size]
    return shifted.astype(np.float32)


def hum(samples: np.ndarray, sample_rate: int, seed: int) -> np.ndarray:
    t = np.arange(samples.size) / sample_rate
    mains = np.zeros_like(t)
    for harmonic, amplitude in enumerate((1.0, 0.5, 0.3, 0.2, 0.1, 0.05), start=1):
        mains += amplitude * np.sin(2 * np.pi * 50.0 * harmonic * t + harmonic)
    mains *= dbfs(-40.0) / np.sqrt(np.mean(mains ** 2))
    hiss = np.random.default_rng(seed).normal(0.0, dbfs(-60.0), samples.size)
    return (samples + mains + hiss).astype(np.float32)


def clipped(samples: np.ndarray, sample_rate: int, seed: int) -> np.ndarray:
    return np.clip(samples * 4.0, -0.5, 0.5).astype(np.float32)


def _same_peak(shaped: np.ndarray, samples: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(shaped))) or 1.0
    return (shaped * (float(np.max(np.abs(samples))) / peak)).astype(np.float32)


def bright(samples: np.ndarray, sample_rate: int, seed: int) -> np.ndarray:
    high = sosfilt(butter(2, 2000.0, "highpass", fs=sample_rate, output="sos"),
                   samples.astype(np.float64))
    return _same_peak(samples + (dbfs(9.0) - 1.0) * high, samples)


def dark(samples: np.ndarray, sample_rate: int, seed: int) -> np.ndarray:
    low = sosfilt(butter(2, 1200.0, "lowpass", fs=sample_rate, output="sos"),
                  samples.astype(np.float64))
    return _same_peak(low, samples)


CONDITIONS: dict[str, Callable[[np.ndarray, int, int], np.ndarray]] = {
    "quiet": quiet, "detune": detune, "hum": hum, "clipped": clipped,
    "bright": bright, "dark": dark,
}
