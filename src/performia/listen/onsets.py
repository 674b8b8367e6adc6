"""Onsets of the guitar from the server's /bands frames: log spectral flux, picked causally.

Fed one frame at a time (`frontend.ONSET_BANDS`: magnitudes of bins 1..128 of a 1,024-point
Hann FFT every 512 samples, the frame's time being that of its last sample):

* **Noise floor.** The lowest (lightly smoothed) mean magnitude of a frame over the last
  `floor_seconds` s (minimum statistics) is the room's hiss and hum level.
* **Compression.** Each bin becomes log(1 + |X| / (headroom · floor)): the hiss sits in the
  (small) linear part, anything louder in the log part, where a guitar at −30 dBFS gives the
  same differences as one at −6.
* **Flux.** The rise of every bin over the largest of its neighbours in the previous frame
  (a max-filter across three bins, so a bend or vibrato moving one bin is not a new note),
  half-wave rectified, averaged over the bins.
* **Strength.** The flux above its own tracked floor (what hiss and ringing strings make on
  their own), divided by a running level of the guitar's attacks (a peak follower that falls
  by half in `level_half_life` s): 0..1, the loudest recent attack 1, whatever the gain.
  This is what `BeatTracker.update` takes.
* **Bass strength** (`bass_strength`, after each `update`): the same rise weighted by
  k^−`bass_tilt` (bin k; mostly bins 1–3, 47–140 Hz: the bass strings), above its own floor
  and divided by its own attack level. The beat tracker's phase leans on it: it marks the
  thumb's notes, not the brighter treble notes between them.
* **Peak picking**, one frame late: frame n is an onset when its strength is the largest of
  the last `peak_frames` frames and of frame n+1, exceeds the mean of the past
  `mean_frames` frames by `delta` (of the level), exceeds `gate` × the flux floor, is
  `level_gate` × louder than the noise floor, and comes `min_gap` s after the last onset
  (one strum of six strings is one onset).
* **Masked swell** (`swell`, `SWELL_AFTER` frames after each picked onset): how long the
  attack kept growing after its flux peaked, times how loud the strings ringing under it
  were. A slow attack over ringing strings (an overdriven strum over the last one) peaks in
  the log flux only once it outgrows them, ~30 ms after the strum began; the beat tracker
  dates the guitar's attacks that much earlier (`BeatSettings.swell_latency`).
* **The first note out of digital silence** (a file's lead-in, a muted input, the dummy
  driver before the take): the first frames that sound set both floors, so that note is
  measured against itself and fails the gates; within `FIRST_NOTE_FRAMES` frames of the
  silence the first peak of the raw flux is taken as an onset (strength 1, rise unmeasured).
  The strength stream is left as it is (the beat tracker was tuned on it).

Nothing in a frame's result depends on a later frame, except the peak test, which waits for
exactly one frame: an onset is reported at most two frames after its attack (its swell,
measured from frames after it, `SWELL_AFTER` frames after its peak).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from performia.listen.frontend import ONSET_BANDS

FloatArray = npt.NDArray[np.float64]

FRAME_SECONDS = ONSET_BANDS.hop / 48000.0       # /bands hop at 48 kHz
FIRST_NOTE_FRAMES = 4    # frames after digital silence in which its first note is looked for
SWELL_BEFORE = 3         # frames before an onset's peak whose level is the sound under it
SWELL_AFTER = 9          # frames after the peak in which its level may still grow


@dataclass(frozen=True)
class Onset:
    """A note or strum attack: `time` estimated from the frame that peaked (seconds, the
    caller's clock), `heard_at` the time of the frame that confirmed it, `strength` the
    onset strength of the peak (about 1 for a typical strum)."""

    time: float
    heard_at: float
    strength: float
    rise: int | None = 0  # frames before the peak already above `rise_share` of it: how
                         # slowly the attack speaks (a slow one peaks later after the note
                         # began); None for a first note out of digital silence (unmeasured)


def masked_swell(levels: list[float]) -> float:
    """How late a slow attack over strings still ringing peaks: `levels` are the frame
    levels from `SWELL_BEFORE` frames before an onset's peak to `SWELL_AFTER` after it. The
    frames from the peak to the loudest one after it (the attack still swelling), times the
    share of that loudest level already sounding before the attack (the ringing strings it
    had to rise above): 0 for an attack out of silence or a quick one, ~4 for an overdriven
    strum over the last one still ringing, whose flux peaks only once the new strum
    outgrows the old (~30 ms after the strum began on the dev takes)."""
    after = levels[SWELL_BEFORE:]
    loudest = max(after)
    if loudest <= 0.0:
        return 0.0
    grows = after.index(loudest)
    return grows * min(levels[0] / loudest, 1.0)


@dataclass(frozen=True)
class OnsetSettings:
    headroom: float = 1.0           # compression starts this many × the noise floor
    min_floor: float = 1e-4         # magnitude units (−100 dBFS-ish hiss)
    floor_seconds: float = 6.0      # the noise floor is the quietest moment of this long
    floor_blocks: int = 12          # ... kept as the minima of this many blocks
    level_gate: float = 1.5         # a peak's frame must be this many × the noise floor
    flux_floor_rise: float = 1.0    # per second (relative) the flux floor may climb
    level_half_life: float = 4.0    # s, the attack level's fall
    min_level: float = 0.02         # flux units, below this the level does not fall
    peak_frames: int = 3            # a peak is the largest of this many past frames
    mean_frames: int = 8            # past frames whose mean the peak must exceed
    delta: float = 0.08             # ... by this share of the attack level
    gate: float = 2.5               # × the flux floor a peak must exceed
    tilt: float = 0.0               # bin k weighs k^−tilt in the flux (low strings count more)
    min_gap: float = 0.06           # s between onsets
    bass_tilt: float = 2.0          # the bass strength's flux weighs bin k by k^−bass_tilt
    time_offset: float = 1.5        # frames: attack time = peak frame time − this × hop
    rise_share: float = 0.15        # an onset's rise: the frames before its peak above this
    rise_frames: int = 4            # ... share of the peak, in a row, at most this many
    flux_lag: int = 1               # frames: a bin's rise for the strength is over the
                                    # largest of its last this many frames (SuperFlux); with
                                    # 2, the gate still reads the rise over the last frame
                                    # alone, and the beat tracker's attack latency wants
                                    # `typical_rise` 0.55, `rise_latency` 0.0275 (measured;
                                    # not kept: docs/LISTENING.md, fifteenth session)

    def __post_init__(self) -> None:
        if self.headroom <= 0 or self.min_floor <= 0 or self.min_level <= 0:
            raise ValueError("OnsetSettings: headroom, min_floor and min_level must be > 0")
        if self.peak_frames < 1 or self.mean_frames < 1 or self.flux_lag < 1:
            raise ValueError("OnsetSettings: peak_frames, mean_frames and flux_lag must be ≥ 1")
        if self.floor_seconds <= 0 or self.floor_blocks < 1:
            raise ValueError("OnsetSettings: floor_seconds and floor_blocks must be > 0")


class OnsetDetector:
    """`update(time, magnitudes)` once per /bands frame, in time order."""

    def __init__(self, settings: OnsetSettings | None = None,
                 frame_seconds: float = FRAME_SECONDS) -> None:
        self.settings = settings or OnsetSettings()
        s = self.settings
        self.frame_seconds = frame_seconds
        self._block_frames = max(1, round(s.floor_seconds / s.floor_blocks / frame_seconds))
        self._blocks: deque[float] = deque(maxlen=s.floor_blocks)
        self._block_min = math.inf
        self._block_count = 0
        self._smoothed = 0.0
        self._mean = 0.0
        self._flux_rise = 1.0 + s.flux_floor_rise * frame_seconds
        self._level_fall = 0.5 ** (frame_seconds / s.level_half_life)
        self._floor = math.inf
        self._flux_floor = 0.0
        self._level = s.min_level
        self._previous: FloatArray | None = None      # max-filtered compressed last frame
        self._earlier: deque[FloatArray] = deque(maxlen=max(s.flux_lag - 1, 1))
        self._gate_flux = 0.0                          # the one-frame rise (for the gate)
        self._gate_floor = 0.0
        self._recent: deque[float] = deque(maxlen=s.mean_frames + 1)
        self._candidate: tuple[float, float] | None = None   # (time, strength) of frame n−1
        tilt = np.arange(1, ONSET_BANDS.bins + 1, dtype=np.float64) ** -s.tilt
        self._weights = tilt / tilt.sum()
        bass = np.arange(1, ONSET_BANDS.bins + 1, dtype=np.float64) ** -s.bass_tilt
        self._bass_weights = bass / bass.sum()
        self._candidate_flux = 0.0
        self._candidate_mean = 0.0
        self._last_onset = -np.inf
        self._bass = _Normaliser(self._flux_rise, self._level_fall, s.min_level)
        self._bass_flux = 0.0
        self.bass_strength = 0.0
        self._out_of_silence = 0                       # frames left to find a first note in
        self._started = False                          # the stream's first frame was seen
        self._levels: deque[float] = deque(maxlen=SWELL_BEFORE + SWELL_AFTER + 2)
        self._swelling: list[int] = []                 # frames until an onset's swell is known
        self.swell: float | None = None                # the swell measured this frame, if any
        self._first_candidate: tuple[float, float] | None = None   # (time, flux) last frame

    @property
    def sounding(self) -> bool:
        """The last frame was louder than `level_gate` × the noise floor: the guitar sounds."""
        return self._mean > self.settings.level_gate * self._floor

    @property
    def noise_floor(self) -> float:
        """The tracked mean magnitude of the hiss (bins 1..128 of the /bands FFT)."""
        return self._floor

    def update(self, time: float, magnitudes: npt.ArrayLike) -> tuple[float, Onset | None]:
        """One frame: (its onset strength, the onset confirmed by it or None)."""
        x = np.asarray(magnitudes, dtype=np.float64)
        flux = self._flux(x)
        strength = self._strength(flux)
        self.bass_strength = self._bass.update(self._bass_flux)
        onset = self._pick(time, strength, flux)
        first = self._first_note(time, flux)   # (never the peak `_pick` took: min_gap)
        self._measure_swell(onset)
        return strength, onset or first

    def _measure_swell(self, onset: Onset | None) -> None:
        """`swell` is set on the frame `SWELL_AFTER` frames after a picked onset's peak (its
        `masked_swell`), None on every other frame."""
        self._levels.append(self._mean)
        self.swell = None
        self._swelling = [left - 1 for left in self._swelling]
        if self._swelling and self._swelling[0] <= 0:
            self._swelling.pop(0)
            levels = list(self._levels)[-(SWELL_BEFORE + SWELL_AFTER + 1):]
            if len(levels) == SWELL_BEFORE + SWELL_AFTER + 1:
                self.swell = masked_swell(levels)
        if onset is not None and onset.rise is not None:
            self._swelling.append(SWELL_AFTER - 1)     # its peak was the frame before this

    def _flux(self, x: FloatArray) -> float:
        s = self.settings
        self._mean = mean = float(x.mean())
        self._track_floor(mean)
        compressed = np.log1p(x * (1.0 / (s.headroom * self._floor)))
        previous = self._previous
        spread = compressed.copy()                       # max over neighbouring bins
        np.maximum(spread[1:], compressed[:-1], out=spread[1:])
        np.maximum(spread[:-1], compressed[1:], out=spread[:-1])
        self._previous = spread
        if previous is None:
            self._bass_flux = 0.0
            return 0.0
        rise = np.maximum(compressed - previous, 0.0)
        self._bass_flux = float(np.dot(rise, self._bass_weights))
        flux = float(np.dot(rise, self._weights))
        if s.flux_lag > 1:
            self._gate_flux = flux
            before = previous
            for frame in self._earlier:
                before = np.maximum(before, frame)
            self._earlier.append(previous)
            flux = float(np.dot(np.maximum(compressed - before, 0.0), self._weights))
        return flux

    def _first_note(self, time: float, flux: float) -> Onset | None:
        """Out of digital silence (a take's lead-in, a muted input) the first frames that
        sound set the noise and flux floors themselves, so the first note never stands above
        them and `_pick` misses it: within `FIRST_NOTE_FRAMES` frames of the silence the
        first peak of the raw flux is that note."""
        s = self.settings
        if self._mean <= 0.0:                # magnitudes: a zero mean is a silent frame
            self._out_of_silence = FIRST_NOTE_FRAMES + 1
            self._first_candidate = None
            return None
        if self._out_of_silence <= 0:
            return None
        self._out_of_silence -= 1
        candidate, self._first_candidate = self._first_candidate, (time, flux)
        if candidate is None or candidate[1] <= 0.0 or flux > candidate[1]:
            return None
        peak_time = candidate[0]
        self._out_of_silence = 0
        if peak_time - self._last_onset < s.min_gap:
            return None
        self._last_onset = peak_time
        return Onset(peak_time - s.time_offset * self.frame_seconds, time, 1.0, None)

    def _track_floor(self, mean: float) -> None:
        """Minimum statistics: the floor is the lowest smoothed frame level of the last
        `floor_seconds` (block minima), available from the first frame that has sound. The
        stream's first frame is left out: the server's FFT starts on a window half zeros,
        so a rig's hiss would read there at ~0.6 of its level and sound above its own floor
        for `floor_seconds`."""
        s = self.settings
        if not self._started:
            self._started = True
            return
        self._smoothed = mean if self._smoothed == 0.0 else 0.6 * self._smoothed + 0.4 * mean
        if self._smoothed <= 0.0:
            return
        self._block_min = min(self._block_min, self._smoothed)
        self._block_count += 1
        if self._block_count >= self._block_frames:
            self._blocks.append(self._block_min)
            self._block_min = math.inf
            self._block_count = 0
            self._floor = max(min(self._blocks), s.min_floor)
        elif self._smoothed < self._floor or not math.isfinite(self._floor):
            self._floor = max(self._smoothed, s.min_floor)

    def _strength(self, flux: float) -> float:
        s = self.settings
        self._flux_floor = follow_floor(self._flux_floor, flux, self._flux_rise)
        if s.flux_lag > 1:
            self._gate_floor = follow_floor(self._gate_floor, self._gate_flux, self._flux_rise)
        excess = max(flux - self._flux_floor, 0.0)
        self._level = max(self._level * self._level_fall, excess, s.min_level)
        return excess / self._level

    def _pick(self, time: float, strength: float, flux: float) -> Onset | None:
        s = self.settings
        onset = None
        candidate = self._candidate
        recent = self._recent
        if candidate is not None and strength <= candidate[1] and len(recent) > s.peak_frames:
            peak_time, peak = candidate
            past = list(recent)[:-1]
            window = past[-s.peak_frames:]
            mean = sum(past[-s.mean_frames:]) / min(len(past), s.mean_frames)
            if (peak >= max(window) and peak >= mean + s.delta
                    and self._candidate_flux > s.gate * (
                        self._gate_floor if s.flux_lag > 1 else self._flux_floor)
                    and self._candidate_mean > s.level_gate * self._floor
                    and peak_time - self._last_onset >= s.min_gap):
                onset = Onset(peak_time - s.time_offset * self.frame_seconds, time, peak,
                              _rise(past, peak * s.rise_share, s.rise_frames))
                self._last_onset = peak_time
        recent.append(strength)
        self._candidate = (time, strength)
        self._candidate_flux = self._gate_flux if s.flux_lag > 1 else flux
        self._candidate_mean = self._mean
        return onset


def _rise(before: list[float], above: float, most: int) -> int:
    """How many of the frames just before a peak (`before`, oldest first) were above
    `above`, counted back from the peak until one is not (at most `most`)."""
    count = 0
    for strength in reversed(before[-most:]):
        if strength <= above:
            break
        count += 1
    return count


def follow_floor(floor: float, flux: float, rise: float) -> float:
    """A flux stream's tracked minimum, one frame on: set by the first frame, a fifth of the
    way down to a lower one, × `rise` (slowly up) otherwise."""
    if floor == 0.0:
        return flux
    if flux < floor:
        return floor + 0.2 * (flux - floor)
    return floor * rise


class _Normaliser:
    """A flux stream's strength: its excess over a tracked floor, divided by a falling peak
    level (the same rules as `OnsetDetector`'s own strength)."""

    def __init__(self, rise: float, fall: float, min_level: float) -> None:
        self._rise, self._fall, self._min_level = rise, fall, min_level
        self._floor = 0.0
        self._level = min_level

    def update(self, flux: float) -> float:
        self._floor = follow_floor(self._floor, flux, self._rise)
        excess = max(flux - self._floor, 0.0)
        self._level = max(self._level * self._fall, excess, self._min_level)
        return excess / self._level
