"""Which notes sound: an NNLS chroma (after Mauch & Dixon, ISMIR 2010) from the server's
16,384-point magnitude spectrum (`frontend.CHORD_SPECTRUM`), one frame at a time, causally.

    magnitudes (800 linear bins, 2.9 Hz apart)
      → log-frequency spectrum, 3 bins per semitone, C2 .. B6 (180 bins)
      → tuning: the phase of the spectrum's 3-bin periodicity, averaged over the loud frames
        heard so far; the spectrum is shifted by it (a guitar 40 cents flat reads as in tune)
      → whitening: minus the local mean, over the local spread (one octave around each bin);
        what is left of a note is its peaks, whatever the guitar's tone
      → note activations: non-negative least squares against one profile per note (its
        harmonics, each 0.7 of the one below), so the third harmonic of G (a D) is credited
        to G and not heard as a D in the chord
      → a treble chroma (every note, 12 pitch classes) and a bass chroma (the low notes)

Nothing here looks ahead: a frame's chroma depends on that frame and on the tuning learnt
from the frames before it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import nnls
from scipy.sparse import csr_array

from performia.listen.frontend import CHORD_SPECTRUM, Spectrum

FloatArray = npt.NDArray[np.float64]

LOWEST_NOTE = 36          # C2: below the guitar's low E (E2 = 40) and a drop D
NOTES = 60                # C2 .. B6
BINS_PER_SEMITONE = 3


@dataclass(frozen=True)
class ChromaSettings:
    harmonics: int = 20            # partials in a note's profile
    partial_decays: tuple[float, ...] = (0.7,)  # each partial this much of the one below; with
                                   # several, every note gets one profile per decay (a dark
                                   # and a bright timbre) and its activation is their sum
    whitening_octaves: float = 1.0  # width of the local mean/spread window
    tuning_memory: float = 0.98    # per loud frame: how much of the tuning estimate is kept
    bass_top: int = 59             # B3: no note above this is a bass note
    bass_halving: float = 4.0      # semitones above the lowest note over which a note's
                                   # weight in the bass chroma halves
    lowest_share: float = 0.3      # the lowest note: the lowest at this share of the loudest
    treble_full: int = 76          # E5: notes up to here count fully in the treble chroma;
    treble_top: int = 88           # E6: above it, fading to nothing here (stray partials)
    spectrum_share: float = 0.3    # share of the treble chroma taken from the whitened
                                   # spectrum itself (every partial): a note whose partials
                                   # the profiles misread keeps some of its weight


@dataclass(frozen=True)
class NoteFrame:
    """One frame's result: what the chord decoder reads."""

    treble: FloatArray     # 12 pitch classes, C first
    bass: FloatArray       # 12 pitch classes of the low notes
    notes: FloatArray      # activation of each note LOWEST_NOTE .. LOWEST_NOTE + NOTES − 1
    energy: float          # the frame's spectral energy (sum of squared magnitudes)


def log_frequencies() -> FloatArray:
    """Centre frequency of every log bin: bin 3·k + 1 is note LOWEST_NOTE + k in tune."""
    steps = np.arange(NOTES * BINS_PER_SEMITONE) - 1
    midi = LOWEST_NOTE + steps / BINS_PER_SEMITONE
    return np.asarray(440.0 * 2.0 ** ((midi - 69.0) / 12.0), dtype=np.float64)


def log_mapping(spectrum: Spectrum, sample_rate: float) -> FloatArray:
    """Matrix (log bins × linear bins): each log bin a triangle over the linear bins, as wide
    as the larger of the two spacings, rows summing to 1."""
    linear = spectrum.frequencies(sample_rate)
    centres = log_frequencies()
    step = 2.0 ** (1.0 / (12 * BINS_PER_SEMITONE)) - 1.0
    width = np.maximum(spectrum.bin_hz(sample_rate), centres * step)
    distance = np.abs(linear[None, :] - centres[:, None]) / width[:, None]
    weights = np.clip(1.0 - distance, 0.0, None)
    return np.asarray(weights / weights.sum(axis=1, keepdims=True), dtype=np.float64)


def note_profiles(settings: ChromaSettings) -> FloatArray:
    """Matrix (log bins × notes·decays): each note's harmonics at their log-bin positions,
    once per partial decay (column note + k·NOTES for the k-th decay)."""
    size = NOTES * BINS_PER_SEMITONE
    out = np.zeros((size, NOTES * len(settings.partial_decays)))
    for k, decay in enumerate(settings.partial_decays):
        for note in range(NOTES):
            column = note + k * NOTES
            for h in range(1, settings.harmonics + 1):
                position = BINS_PER_SEMITONE * (note + 12 * np.log2(h)) + 1
                low = int(np.floor(position))
                if low + 1 >= size:
                    break
                frac = position - low
                amp = decay ** (h - 1)
                out[low, column] += amp * (1 - frac)
                out[low + 1, column] += amp * frac
    return np.asarray(out / np.linalg.norm(out, axis=0, keepdims=True), dtype=np.float64)


def _fold(weights: FloatArray) -> FloatArray:
    """Matrix (notes × 12): each note's weight on its pitch class."""
    out = np.zeros((NOTES, 12))
    for note in range(NOTES):
        out[note, (LOWEST_NOTE + note) % 12] = weights[note]
    return out


def _unit_sum(values: FloatArray) -> FloatArray:
    total = float(values.sum())
    return values / total if total > 0 else values


class NnlsChroma:
    """Spectrum frames in, note activations and chromas out; remembers only the tuning."""

    def __init__(self, settings: ChromaSettings | None = None,
                 spectrum: Spectrum = CHORD_SPECTRUM, sample_rate: float = 48000.0) -> None:
        self.settings = s = settings or ChromaSettings()
        # sparse: 1,383 weights of 144,000 (a dense matrix is 1.15 MB to fetch per frame)
        self.mapping = csr_array(log_mapping(spectrum, sample_rate))
        self.profiles = note_profiles(s)
        self.midi = LOWEST_NOTE + np.arange(NOTES)
        treble = np.clip((s.treble_top - self.midi) / max(1, s.treble_top - s.treble_full),
                         0.0, 1.0)
        self.treble_fold = _fold(treble)
        self.pitch_class = np.zeros((NOTES, 12))
        self.pitch_class[np.arange(NOTES), self.midi % 12] = 1.0
        self._tuning_sum = 0j
        phases = np.exp(-2j * np.pi * (np.arange(NOTES * BINS_PER_SEMITONE) - 1) / 3)
        self._phases = phases
        self._half = int(round(6 * BINS_PER_SEMITONE * s.whitening_octaves))
        self._positions = np.arange(NOTES * BINS_PER_SEMITONE, dtype=np.float64)

    @property
    def tuning(self) -> float:
        """The tuning heard so far, in semitones from A = 440 Hz (+0.2 = 20 cents sharp)."""
        if self._tuning_sum == 0:
            return 0.0
        return float(-np.angle(self._tuning_sum) / (2 * np.pi))

    def frame(self, magnitudes: npt.ArrayLike, loud: bool = True) -> NoteFrame:
        mags = np.asarray(magnitudes, dtype=np.float64)
        energy = float(np.dot(mags, mags))
        spectrum = np.asarray(self.mapping @ mags, dtype=np.float64)
        if loud:
            self._learn_tuning(spectrum)
        tuned = self._retune(spectrum)
        white = self._whiten(tuned)
        notes = self._activations(white)
        treble = notes @ self.treble_fold
        share = self.settings.spectrum_share
        if share > 0:
            heard = white[1::BINS_PER_SEMITONE] @ self.treble_fold    # each note's centre bin
            treble = (1 - share) * _unit_sum(treble) + share * _unit_sum(heard)
        return NoteFrame(treble, self._bass(notes), notes, energy)

    def _bass(self, notes: FloatArray) -> FloatArray:
        """The low notes, weighted by how close they are to the lowest one sounding."""
        s = self.settings
        loudest = float(notes.max())
        if loudest <= 0:
            return np.zeros(12)
        sounding = np.flatnonzero(notes >= s.lowest_share * loudest)
        lowest = int(self.midi[sounding[0]])
        above = self.midi - lowest
        weights = np.where((above >= 0) & (self.midi <= s.bass_top),
                           0.5 ** (np.maximum(above, 0) / s.bass_halving), 0.0)
        return np.asarray((notes * weights) @ self.pitch_class, dtype=np.float64)

    def _learn_tuning(self, spectrum: FloatArray) -> None:
        keep = self.settings.tuning_memory
        self._tuning_sum = keep * self._tuning_sum + np.dot(spectrum, self._phases)

    def _retune(self, spectrum: FloatArray) -> FloatArray:
        """Shift the spectrum so that notes played at the heard tuning sit on their bins."""
        shift = self.tuning * BINS_PER_SEMITONE
        if abs(shift) < 1e-3:
            return spectrum
        positions = self._positions
        return np.interp(positions + shift, positions, spectrum, left=0.0, right=0.0)

    def _whiten(self, spectrum: FloatArray) -> FloatArray:
        """(x − local mean) / local spread, negatives dropped."""
        half = self._half
        padded = np.pad(spectrum, half, mode="edge")
        window = 2 * half + 1
        c1 = np.concatenate([[0.0], np.cumsum(padded)])
        c2 = np.concatenate([[0.0], np.cumsum(padded * padded)])
        mean = (c1[window:] - c1[:-window]) / window
        var = (c2[window:] - c2[:-window]) / window - mean * mean
        spread = np.sqrt(np.maximum(var, 0.0)) + 1e-12
        return np.asarray(np.maximum(spectrum - mean, 0.0) / spread, dtype=np.float64)

    def _activations(self, white: FloatArray) -> FloatArray:
        if not np.any(white > 0):
            return np.zeros(NOTES)
        weights, _ = nnls(self.profiles, white, maxiter=10 * self.profiles.shape[1])
        return np.asarray(weights.reshape(-1, NOTES).sum(axis=0), dtype=np.float64)
