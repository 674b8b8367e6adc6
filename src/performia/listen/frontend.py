"""The ears' front end: what the analysis synth measures on the server, and the same
measurement in numpy for offline work (the render, the benchmarks, the tests).

Two magnitude spectra, both `FFT(LocalBuf(size), in, hop_fraction, Hann)` on the server,
their bins unpacked with `Unpack1FFT` and sent with `SendReply` as soon as a frame is ready:

    /spectrum  16,384-point FFT, a frame every 4,096 samples (85 ms at 48 kHz), bins 1..800
               (3 .. 2,344 Hz; not the DC bin, which SuperCollider keeps signed): fine
               enough to part the guitar's bass notes (2.9 Hz bins), for the chords.
    /bands     1,024-point FFT, a frame every 512 samples (10.7 ms), bins 1..128
               (47 .. 6,000 Hz): for the onsets and the beat.

The server's magnitudes equal numpy's `abs(rfft(window · frame))` with a periodic Hann
window and no normalisation (measured: correlation 0.99999, level ratio 1.000 on a take),
and its first frame ends `hop` samples after the synth starts (the frame is zero-padded
before the start). A frame's time is the time of its last sample: that is when the server can
first send it, so nothing in a frame comes from after its time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.fft

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Spectrum:
    """One FFT front end: its size, hop, and the bins it sends."""

    address: str
    size: int
    hop: int
    first_bin: int
    bins: int

    def bin_hz(self, sample_rate: float) -> float:
        return sample_rate / self.size

    def frequencies(self, sample_rate: float) -> FloatArray:
        """Centre frequency (Hz) of every bin sent."""
        bins = np.arange(self.bins, dtype=np.float64) + self.first_bin
        return np.asarray(bins * self.bin_hz(sample_rate), dtype=np.float64)

    def window(self) -> FloatArray:
        return np.asarray(np.hanning(self.size + 1)[:-1], dtype=np.float64)


CHORD_SPECTRUM = Spectrum("/spectrum", size=16384, hop=4096, first_bin=1, bins=800)
ONSET_BANDS = Spectrum("/bands", size=1024, hop=512, first_bin=1, bins=128)


def frames(samples: npt.ArrayLike, spectrum: Spectrum,
           sample_rate: float) -> tuple[FloatArray, FloatArray]:
    """(times, magnitudes frames × bins) of a mono take, exactly as the server would send
    them: frame k ends at sample (k + 1) · hop, the samples before the take are silence."""
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    count = len(x) // spectrum.hop
    if count == 0:
        return np.zeros(0), np.zeros((0, spectrum.bins))
    padded = np.concatenate([np.zeros(spectrum.size), x])
    window = spectrum.window()
    lo, hi = spectrum.first_bin, spectrum.first_bin + spectrum.bins
    ends = (np.arange(count) + 1) * spectrum.hop
    # frame k is padded[ends[k] : ends[k] + size]: a strided view, nothing copied
    windows = np.lib.stride_tricks.sliding_window_view(padded, spectrum.size)
    view = windows[spectrum.hop::spectrum.hop]
    out = np.empty((count, spectrum.bins))
    chunk = max(1, (1 << 20) // spectrum.size)   # frames per batch: small enough for the cache
    for start in range(0, count, chunk):
        block = view[start:min(start + chunk, count)] * window
        out[start:start + len(block)] = np.abs(scipy.fft.rfft(block, axis=1))[:, lo:hi]
    return ends / sample_rate, out
