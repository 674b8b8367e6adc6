"""The beat of the guitar, causally: tempo, phase and downbeat from the onset strength.

`BeatTracker.update(time, strength, bass)` takes the strength `OnsetDetector.update` gives for
every /bands frame (in time order) and its `bass_strength` (the same flux weighted towards the
lowest bins), and returns a `BeatState`. Inside:

* **Tempo.** Every `analysis_frames` frames, the last `window` s of strength (each stream
  divided by its mean over the window; recent seconds weighted more, half weight `memory` s
  back) is autocorrelated (FFT). Each candidate tempo `low`..`high` BPM scores the
  autocorrelation at half a period (`half_weight`: the level whose subdivisions are played),
  at 1 and 2 beats (`beat_weights`) and at a bar (`beats_per_bar` beats, `bar_weight`: the
  pattern repeats every bar, which keeps a syncopated comp — the Charleston, 3+3+2 — from
  being heard at 3:2 or 4:3 of its tempo), times a log-normal preference around `preferred`
  BPM (σ `spread` octaves), times the **harmonic rhythm** (`change_tempo`): how well the
  candidate's bar fits the intervals between the chord changes heard (chords change on bar
  lines: every bar weighs most, then every 2, 3, 4 bars or half a bar, `change_bars`); it
  tells 176 quarter strums from 88, and 62 BPM arpeggios from 124, where the onsets cannot.
  In the first seconds a candidate's longer lags (a bar of 84 BPM is 2.9 s) have barely
  been heard: a lag beyond `heard_span` of the seconds played counts `unheard_share` of
  the candidate's mean over its heard lags, so a slow tempo is not outscored by its double
  for want of seconds (a fingerpicked 84 was taken for 168, and the band came in on it).
  Parabolic refinement gives a fraction of a BPM.
* **Staying on a tempo.** Once locked, the best candidate within ±`tempo_window` of the tempo
  held is taken unless a tempo outside has won `tempo_relock` estimates in a row; when that
  tempo is a metrical relative of the one held (×2, ×½, ×3/2, ×2/3) it must win
  `metrical_relock` in a row (~4 s) once `free_levels` s have been played: a bar played
  sparser does not halve the tempo, but the first seconds may still settle the level.
  A clock that has kept its tempo `veto_after` s moves to a new tempo up to 2 × `drift_most`
  away only if the short comb (below) fits the last `drift_beats` beats at least
  `veto_gain` times as well at the new period as at its own: the 8-s autocorrelation can
  prefer a tempo the guitarist is not playing (a fingerpicking pattern at 84 BPM heard at
  96, its 8/7), and a band following that rushes by 14 % and comes back a beat off. Only
  such a move of a steady clock is a change of tempo (`tempo_changed`); a first estimate
  put right is not.
* **A change of tempo** (`drift_*`). The 8 s autocorrelation holds the old tempo for
  seconds after the guitarist moves from 100 to 110 BPM. So, once the clock has kept its
  tempo for `drift_after` s and the confidence has fallen to `drift_doubt` of its peak
  there (and the guitarist still plays), a short unweighted comb over the last
  `drift_beats` beats tries every period `drift_least`..`drift_most` away from the clock's.
  One that fits `drift_gain` times better than the clock's for `drift_analyses` analyses
  in a row (the same period each time) is a new tempo: the clock takes it at once, and the
  strength and chord changes heard before those beats are forgotten, so the
  autocorrelation sees the new tempo alone. Until it has half a window of it, the tempo is
  refined within `drift_least` by the same short comb.
* **Phase.** A comb of beat-spaced teeth (recent beats weighted more, each tooth fading over
  ±`phase_tolerance` s) slid over the last beat period of the accents — `bass_phase` of the
  bass strength, the rest of the full strength — tells where the beats of that tempo fall
  best, plus `change_phase` × the share of the recent chord changes on its beats (a change
  falls on a beat: in an arpeggio of even eighths, or a swung comp with the accent on the
  "and", that tells which notes are the beats); that predicts the next beat. The bass
  carries the beat where the off-beats are brighter (Travis picking: the thumb on the beats,
  treble notes between; down strums, which reach the low strings, against up strums, which
  do not). When the guitarist swings (the gaps between the last onsets fall on thirds of
  the beat, not halves: `swing_*`), each offset also gains the fit two thirds of a beat
  after its teeth less the fit one third after them: a swung "and" comes late in its beat,
  so a syncopated shuffle (the 1, the "and" of 2 and of 3) is not heard a third early.
* **Beat clock** (a phase-locked loop): the band follows a clock (`next_beat`, `period`) that
  moves towards the prediction by `phase_gain` of the phase error and `period_gain` of the
  tempo difference at every analysis. The comb looks at several beats, so one pushed strum
  moves the clock by little. A beat is reported when the clock passes it: `.beats` never
  changes the past.
* **Attack latency.** The strength peaks some time after the note began: `latency` for a
  typical attack, more for a guitar whose attacks rise over more frames (`Onset.rise`,
  `rise_latency`) and whose attacks go on swelling over the strings still ringing
  (`OnsetDetector.swell`, `swell_latency`: an overdriven strum over the last one peaks
  ~30 ms late), each the running mean of this guitar's last `rise_onsets` onsets. Fitted
  by least squares on the dev and tuning takes: the per-take spread of the beats against
  the guitarist's fell from 7.2 to 5.8 ms (docs/LISTENING.md, "The overdriven strum's
  late peak").
* **Confidence** 0..1: how periodic the strength is at the beat period (normalised
  autocorrelation), 0 after `silence` s without attacks while the guitar does not sound
  either (`update`'s `sounding`: an overdriven guitar's strums can all look weak next to its
  first one from silence, for as long as the attack level takes to fall).
* **Downbeat.** Each beat of the bar (`beats_per_bar`) collects votes: its accent (the
  strongest attack within a quarter beat of it, against the bar's mean), the chord changes
  that fall on it (`note_chord_change`), and, kept as one fresh change's worth
  (`start_weight`), the guitarist's first onset (`note_onset`): a guitarist starting alone
  starts on the one, which settles a song of two chords a bar and even strums, where the
  changes and the accents cannot tell 1 from 3. The beat with the most votes is 1;
  `.downbeats` are the beats that were 1 when they were passed.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from performia.listen.onsets import FRAME_SECONDS

FloatArray = npt.NDArray[np.float64]

METRICAL = (2.0, 0.5, 1.5, 2.0 / 3.0)     # tempo ratios between metrical levels
CHANGE_BARS = (1.0, 2.0, 3.0, 4.0, 0.5)    # bars between two chord changes (`change_bars`)


@dataclass(frozen=True)
class BeatSettings:
    low: float = 60.0                 # BPM
    high: float = 180.0               # BPM
    preferred: float = 105.0          # BPM, centre of the tempo preference
    spread: float = 1.2               # octaves, width (σ) of the tempo preference
    half_weight: float = 0.8          # weight of the half-period term
    beat_weights: tuple[float, float] = (1.0, 0.8)   # the autocorrelation at 1 and 2 beats
    bar_weight: float = 1.2           # ... and at a bar (beats_per_bar beats)
    window: float = 8.0               # s of strength analysed
    heard_span: float = 0.75          # a lag beyond this share of the seconds played so far
    unheard_share: float = 0.75       # ... counts this share of the candidate's heard lags'
                                      # mean (`_with_unheard_lags`)
    memory: float = 3.0               # s back where the strength counts half
    analysis_frames: int = 8          # frames between analyses (85 ms)
    tempo_every: int = 3              # analyses between two tempo estimates
    tempo_window: float = 0.06        # the tempo held is followed within ±6 % ...
    tempo_relock: int = 6             # ... unless a tempo outside won this many estimates
    free_levels: float = 6.0          # s of playing in which the metrical level moves freely
    metrical_relock: int = 16         # (its double, half, 3/2 or 2/3, once `free_levels` s were
                                      # played: this many, ~4 s)
    comb_beats: int = 8               # beats the phase comb looks back
    comb_decay: float = 0.8           # weight of each older tooth
    track_window: float = 0.2         # share of a beat the phase is looked for around the clock
    relock: float = 1.5               # a fit this much better elsewhere ...
    relock_analyses: int = 12         # ... for this many analyses in a row moves the clock there
    latency: float = 0.015            # s from an attack to the peak of its strength, for an
                                      # attack of the typical rise (below)
    rise_latency: float = 0.0126      # s more per frame of the guitar's rise above the typical
    typical_rise: float = 0.63        # frames (`Onset.rise`, the mean of the dev takes)
    swell_latency: float = 0.008      # s more per unit of masked swell above the typical
    typical_swell: float = 1.24       # (`onsets.masked_swell`, the mean of the dev takes)
    rise_onsets: int = 32             # onsets the guitar's rise and swell are the means of
    rise_prior: int = 4               # ... counting the typical ones as this many onsets
    latency_range: tuple[float, float] = (0.0, 0.05)   # s, the latency stays in
    phase_gain: float = 0.25          # share of the phase error corrected per analysis
    period_gain: float = 0.25         # share of the tempo difference taken per analysis
    min_confidence: float = 0.15      # below this no beats are reported
    start_after: float = 2.0          # s of attacks before the first beat is reported
    silence: float = 2.5              # s without attacks: confidence 0, no beats reported
    attack: float = 0.1               # strength that counts as an attack
    sound_plays: bool = True          # a frame the guitar sounds in counts as playing too
                                      # (`sounding`: its strums may all look weak next to a
                                      # first one from silence, on an overdriven guitar)
    noise_before: float = 0.1         # s: "attacks" this long before the first onset were
                                      # not the guitarist (a rig's hiss): forgotten at it
    accent_share: float = 0.15        # how fast the downbeat votes follow (per bar)
    chord_weight: float = 2.5         # votes of a chord change against accents
    phase_tolerance: float = 0.045     # s, the phase comb's teeth fade over ± this
    bass_phase: float = 0.75          # share of the bass strength in the phase comb
    bass_tempo: float = 0.0           # weight of the bass strength in the tempo analysis
    changes_kept: int = 8             # chord changes remembered for the harmonic rhythm
    change_window: float = 24.0       # s: changes older than this are forgotten
    change_spread: float = 0.08       # s: how far a change may fall from a bar line / beat
    change_tempo: float = 1.0         # weight of the harmonic rhythm in the tempo choice
    change_bars: tuple[float, ...] = (1.0, 0.8, 0.5, 0.5, 0.3)   # an interval of 1, 2, 3, 4
                                      # bars; half a bar (its last value)
    change_floor: float = 0.1         # an interval that fits no bar line
    change_prior: float = 2.0         # intervals, fitting every tempo, added to those heard:
                                      # two or three changes, one of them dated wrong, must
                                      # not overrule the onsets
    change_phase: float = 0.6         # weight of the changes in the phase fit ...
    changes_full: int = 4             # ... after a tempo change, in full once this many
                                      # changes are heard at the new tempo (one change dated
                                      # late must not move the new phase on its own)
    change_denies: float = 0.5        # share of the changes more on a phase than on the
                                      # clock's that lets it move the clock as soon as it
                                      # fits better (not `relock` times), once two are heard:
                                      # an arpeggio's even eighths, locked on the wrong ones
    start_weight: float = 1.0         # votes of the guitarist's first onset for its beat as
                                      # the 1 (as one fresh chord change, kept: a guitarist
                                      # starting alone starts on the one; a tie-breaker)
    change_grid: float = 0.3          # share of a beat a change may fall from the beat it
                                      # votes for as the bar's 1
    drift_beats: int = 4              # beats of the short comb that hears a tempo change
                                      # (0: off)
    drift_least: float = 0.03         # a tempo this much away from the clock's ...
    drift_most: float = 0.12          # ... and no further
    drift_gain: float = 1.2           # ... fits the last beats this much better ...
    drift_gain_swung: float = 1.3     # (this much when the guitarist swings: a syncopated
                                      # comp puts few strums on the beats the comb counts)
    drift_analyses: int = 3           # ... for this many analyses in a row: the guitarist
                                      # changed tempo
    drift_agree: float = 0.01         # (the same period each time, within this share)
    drift_after: float = 6.0          # s the clock has kept its tempo before a change is heard
    drift_doubt: float = 0.75         # ... and only once the confidence fell to this share of
                                      # its peak in those seconds
    veto_gain: float = 1.0            # a steady clock moves to the autocorrelation's new
                                      # tempo only if that fits its last `drift_beats` beats
                                      # this many times as well as the clock's (0: always)
    veto_after: float = 3.0           # ... once it has kept its tempo this many s
    swing_phase: float = 1.0          # weight of the swing test in the phase fit: a swung
                                      # off-beat falls two thirds into the beat, never one
    swing_onsets: int = 16            # onsets whose gaps tell swung from straight ...
    swing_least: int = 6              # ... at least this many
    swing_near: float = 0.05          # share of a beat a gap may miss a third or a half by
    swing_share: float = 0.5          # share of the gaps on thirds (less those on halves)
                                      # that is full swing (none below half of it)

    def __post_init__(self) -> None:
        if not 0 < self.low < self.high:
            raise ValueError(f"BeatSettings: need 0 < low < high, got {self.low}, {self.high}")
        if self.window < 4 * 60.0 / self.low:
            raise ValueError("BeatSettings.window must hold four beats of the lowest tempo")
        if self.analysis_frames < 1:
            raise ValueError("BeatSettings.analysis_frames must be ≥ 1")
        if self.changes_full < 1 or self.rise_onsets < 1 or self.rise_prior < 0:
            raise ValueError("BeatSettings: changes_full and rise_onsets must be ≥ 1, "
                             "rise_prior ≥ 0")
        lo, hi = self.latency_range
        if not 0.0 <= lo <= self.latency <= hi:
            raise ValueError(f"BeatSettings: need 0 ≤ latency_range[0] ≤ latency ≤ "
                             f"latency_range[1], got {self.latency_range}, {self.latency}")
        if not 2 <= self.swing_least <= self.swing_onsets or self.swing_share <= 0:
            raise ValueError("BeatSettings: need 2 ≤ swing_least ≤ swing_onsets and "
                             "swing_share > 0")
        if self.heard_span <= 0 or not 0.0 <= self.unheard_share <= 1.0:
            raise ValueError(f"BeatSettings: need heard_span > 0 and 0 ≤ unheard_share ≤ 1, "
                             f"got {self.heard_span}, {self.unheard_share}")
        if self.change_prior < 0:
            raise ValueError(f"BeatSettings.change_prior must be ≥ 0, got {self.change_prior}")
        if len(self.change_bars) != len(CHANGE_BARS):
            raise ValueError(f"BeatSettings.change_bars needs a weight for each of "
                             f"{CHANGE_BARS} bars, got {self.change_bars}")


@dataclass(frozen=True)
class BeatState:
    """What the tracker believes after a frame.

    `bpm`/`period`: the beat clock's tempo (0 until locked); `next_beat`: when the coming beat
    falls (clock seconds); `confidence` 0..1; `beat`: a beat was passed in this frame, at
    `beat_time`; `beat_in_bar` 0..beats_per_bar−1 (0 = the downbeat) of the last beat passed;
    `downbeat`: that beat was a 1; `downbeat_confidence` 0..1.
    """

    time: float = 0.0
    bpm: float = 0.0
    period: float = 0.0
    next_beat: float = math.inf
    confidence: float = 0.0
    beat: bool = False
    beat_time: float | None = None
    beat_in_bar: int = 0
    downbeat: bool = False
    downbeat_confidence: float = 0.0

    def phase(self, time: float) -> float:
        """Share of the beat elapsed at `time` (0 on a beat, → 1 just before the next)."""
        if self.period <= 0 or not math.isfinite(self.next_beat):
            return 0.0
        return (1.0 - (self.next_beat - time) / self.period) % 1.0

    def bar_phase(self, time: float, beats_per_bar: int) -> float:
        """Beats since the last downbeat at `time` (0 ≤ bar_phase < beats_per_bar)."""
        return (self.beat_in_bar + self.phase(time)) % beats_per_bar


class BeatTracker:
    """Feed `update(time, strength)` once per /bands frame; read `.state`, `.beats`,
    `.downbeats`. Call `note_chord_change(time)` when the heard chord changes."""

    def __init__(self, settings: BeatSettings | None = None, beats_per_bar: int = 4,
                 frame_seconds: float = FRAME_SECONDS) -> None:
        if beats_per_bar < 1:
            raise ValueError("beats_per_bar must be ≥ 1")
        self.settings = settings or BeatSettings()
        self.beats_per_bar = beats_per_bar
        self.frame_seconds = frame_seconds
        s = self.settings
        self._size = int(round(s.window / frame_seconds))
        self._strength = np.zeros(self._size)
        self._bass = np.zeros(self._size)
        self._count = 0                                   # frames seen
        ages = np.arange(self._size)[::-1] * frame_seconds
        self._recency = 0.5 ** (ages / s.memory)
        self._fft_size = 1 << int(math.ceil(math.log2(2 * self._size)))
        self._bpm_step = 0.5
        self._bpms = np.arange(s.low, s.high + self._bpm_step / 2, self._bpm_step)
        self._lag_axis = np.arange(self._size, dtype=np.float64)
        self._tempo_elsewhere = 0
        self._analyses = 0
        self._heard: tuple[float, float] = (0.0, 0.0)     # last tempo estimate, confidence
        self._prior = np.exp(-0.5 * (np.log2(self._bpms / s.preferred) / s.spread) ** 2)
        lags = 60.0 / (self._bpms * frame_seconds)          # frames per beat
        bar = beats_per_bar if beats_per_bar > 2 else 2 * beats_per_bar
        multiples = np.array((0.5, 1.0, 2.0, float(bar)))
        self._lags = lags[:, None] * multiples[None, :]
        self._lag_weights = np.array((s.half_weight, *s.beat_weights, s.bar_weight))
        self._comb_weights = s.comb_decay ** np.arange(s.comb_beats)
        width = max(int(round(s.phase_tolerance / frame_seconds)), 0)
        self._tolerance = 1.0 - np.abs(np.arange(-width, width + 1)) / (width + 1)
        self._elsewhere = 0
        self._combs: dict[int, npt.NDArray[np.intp]] = {}
        self._first_attack: float | None = None
        self._first_onset: float | None = None
        self._rises: deque[int] = deque(maxlen=s.rise_onsets)
        self._swells: deque[float] = deque(maxlen=s.rise_onsets)
        self._onsets: deque[float] = deque(maxlen=s.swing_onsets)
        self.latency = s.latency                          # s, from the guitar's attacks
        self._last_attack = -math.inf
        self._beat_index = -1
        self._votes_accent = np.ones(beats_per_bar)
        self._pending_accents: list[tuple[float, int]] = []
        self._downbeat = 0
        self._downbeat_margin = 0.0
        self._changes: deque[float] = deque(maxlen=s.changes_kept)
        self._drift_ratios = np.concatenate(((1.0,), np.exp(np.arange(
            math.log(1.0 - s.drift_most), math.log(1.0 + s.drift_most) + 1e-9, 0.005))))
        self._drift_seen: list[float] = []
        self._forgot_at: int | None = None                # frame count at the last change
        self._tempo_changed: float | None = None          # ... and its time
        self._clock_set = 0                               # ... at the clock's last jump
        self._confidences: deque[float] = deque(
            maxlen=max(int(round(s.drift_after / (s.analysis_frames * frame_seconds))), 1))
        self.state = BeatState()
        self.beats: list[float] = []
        self.downbeats: list[float] = []

    # ------------------------------------------------------------------ per frame

    def update(self, time: float, strength: float, bass: float | None = None,
               sounding: bool = False) -> BeatState:
        """One frame's onset strength (and bass-band strength, `OnsetDetector.bass_strength`;
        None: the strength stands for it); the state after it."""
        s = self.settings
        self._strength[self._count % self._size] = strength
        self._bass[self._count % self._size] = strength if bass is None else bass
        self._count += 1
        if strength >= s.attack or (sounding and s.sound_plays):
            self._last_attack = time
            if self._first_attack is None:
                self._first_attack = time
        state = self.state
        if state.beat:
            state = replace(state, beat=False, downbeat=False)
        if self._count % s.analysis_frames == 0:
            state = self._analyse(time, state)
        if self._pending_accents and time >= self._pending_accents[0][0]:
            self._vote_accent(time)
        if time >= state.next_beat:
            state = self._pass_beat(time, state)
        elif state.time != time and (state is not self.state or state.beat):
            state = replace(state, time=time)
        self.state = state
        return state

    def expect(self, bpm: float, spread: float) -> None:
        """Prefer tempi near `bpm` (σ `spread` octaves) from now on: the band counted the
        guitarist in at that tempo, so its double, half or 4:3 is not what is played."""
        if not (math.isfinite(bpm) and bpm > 0.0 and math.isfinite(spread) and spread > 0.0):
            raise ValueError(f"an expected tempo needs a positive BPM and spread, got {bpm}, "
                             f"{spread}")
        self._prior = np.exp(-0.5 * (np.log2(self._bpms / bpm) / spread) ** 2)

    def note_onset(self, time: float, rise: int | None = None) -> None:
        """An onset was picked at `time` (`OnsetDetector`); the first one is where the
        guitarist started, the song's 1 most likely (`start_weight`). Its `rise`
        (`Onset.rise`) tells how late after the note the strength peaks on this guitar."""
        if self._first_onset is None and math.isfinite(time):
            self._first_onset = time
            self._start_at_first_note(time)
        if math.isfinite(time):
            self._onsets.append(time)
        if rise is not None:
            self._rises.append(rise)
            self.latency = self._attack_latency()

    def note_swell(self, swell: float) -> None:
        """An onset's `masked_swell` (`OnsetDetector.swell`, measured ~0.1 s after it)."""
        if math.isfinite(swell):
            self._swells.append(swell)
            self.latency = self._attack_latency()

    def _start_at_first_note(self, time: float) -> None:
        """The guitarist starts at their first note: what sounded before it (a rig's hiss
        and hum, which can look like attacks while the strength's level has seen none) was
        not playing, and what the tracker made of it is forgotten."""
        first = self._first_attack
        if first is None or time - first <= self.settings.noise_before:
            return
        self._first_attack = time
        self._heard = (0.0, 0.0)
        self._confidences.clear()
        self._clock_set = self._count
        self.state = replace(BeatState(), time=self.state.time)

    def _attack_latency(self) -> float:
        """The latency for this guitar's attacks: a slow attack (an overdriven sample, a
        soft pluck) peaks later after the note began than a bright pick's, and later still
        when it has to outgrow the strings still ringing (its masked swell)."""
        s = self.settings
        rise = _with_prior(self._rises, s.typical_rise, s.rise_prior)
        swell = _with_prior(self._swells, s.typical_swell, s.rise_prior)
        latency = (s.latency + s.rise_latency * (rise - s.typical_rise)
                   + s.swell_latency * (swell - s.typical_swell))
        return min(max(latency, s.latency_range[0]), s.latency_range[1])

    def note_chord_change(self, time: float) -> None:
        """The harmony changed; `time` is when the new chord began (the strum that brought
        it: `ChangeTimer.began`, as `Rhythm` passes it once `HarmonicRhythm` confirmed it).
        It tells the harmonic rhythm and votes for the beat nearest to it as the bar's 1."""
        if math.isfinite(time):
            self._changes.append(time)
            self._choose_downbeat()

    @property
    def tempo_changed(self) -> float | None:
        """When the tracker last heard the guitarist change tempo (None: never)."""
        return self._tempo_changed

    @property
    def first_onset(self) -> float | None:
        """When the first onset was picked (`note_onset`; None before one): where the
        guitarist started. (An attack, above, can be the room's hiss before the first note.)"""
        return self._first_onset

    @property
    def first_attack(self) -> float | None:
        """When the first attack was heard (None before one)."""
        return self._first_attack

    @property
    def chord_changes(self) -> tuple[float, ...]:
        """The chord changes remembered (their start times, oldest first)."""
        return tuple(self._changes)

    @property
    def bar_phase(self) -> float:
        """Beats since the last downbeat, at the last frame's time."""
        return self.state.bar_phase(self.state.time, self.beats_per_bar)

    # ------------------------------------------------------------------ analysis

    def _ordered_strength(self) -> FloatArray:
        return self._ordered(self._strength)

    def _ordered(self, ring: FloatArray) -> FloatArray:
        i = self._count % self._size
        return np.concatenate((ring[i:], ring[:i]))

    def _analyse(self, time: float, state: BeatState) -> BeatState:
        s = self.settings
        if self._first_attack is None or time - self._last_attack > s.silence:
            self._clock_set = self._count
            self._confidences.clear()
            return replace(state, time=time, confidence=0.0, next_beat=math.inf)
        strength, bass = self._ordered_strength(), self._ordered(self._bass)
        heard = self._size if self._forgot_at is None else min(
            self._count - self._forgot_at, self._size)           # frames since a change
        strength = strength / max(float(strength[-heard:].mean()), 1e-9)
        bass = bass / max(float(bass[-heard:].mean()), 1e-9)
        envelope = (strength + s.bass_tempo * bass) * self._recency
        accents = ((1.0 - s.bass_phase) * strength + s.bass_phase * bass) * self._recency
        settling = heard < self._size // 2 and self._heard[0] > 0   # just after a change
        if settling:
            if self._analyses % s.tempo_every == 0:
                self._refine_tempo(accents)
        elif self._analyses % s.tempo_every == 0 or self._heard[0] <= 0:
            periodicity = self._periodicity(envelope[-heard:])
            if periodicity is None:
                return state
            settled = time - self._first_attack >= s.free_levels
            played = min(heard, (time - self._first_attack) / self.frame_seconds)
            self._heard = self._tempo(periodicity, state.bpm, settled, played)
            self._heard = self._still_held(self._heard, state, accents)
        self._analyses += 1
        bpm, confidence = self._heard
        period = 60.0 / bpm
        jump = state.period <= 0 or abs(math.log(period / state.period)) > s.tempo_window
        clock = period if jump else state.period + s.period_gain * (period - state.period)
        if jump:
            state = replace(state, next_beat=math.inf)          # find the phase afresh
            held = self._kept_tempo_for(s.veto_after)      # (not a first estimate put right)
            self._clock_set = self._count
            if state.period > 0 and held and self._a_change_of_tempo(period / state.period):
                self._tempo_changed = time
        if self._confidences and not jump:                 # the clock had the beat
            self._confidences.append(confidence)
            changed = self._heard_a_change(time, state, accents, confidence)
            if changed is not None:
                period = clock = state.period * changed
                confidence = max(confidence, s.min_confidence)
                self._heard = (60.0 / period, confidence)
                state = replace(state, next_beat=math.inf)
        ready = time - self._first_attack >= s.start_after and confidence >= s.min_confidence
        if not ready:
            if not self._confidences:
                self._clock_set = self._count
            return replace(state, time=time, bpm=60.0 / clock, period=clock,
                           next_beat=math.inf, confidence=confidence)
        if not self._confidences:
            self._confidences.append(confidence)
        predicted = self._predict_beat(accents, period / self.frame_seconds, time, state,
                                       clock)
        if math.isfinite(state.next_beat):
            error = (predicted - state.next_beat + clock / 2) % clock - clock / 2
            next_beat = state.next_beat + s.phase_gain * error
        else:
            next_beat = predicted
        last = self.beats[-1] if self.beats else -math.inf
        next_beat = max(next_beat, last + 0.5 * clock)
        return replace(state, time=time, bpm=60.0 / clock, period=clock, next_beat=next_beat,
                       confidence=confidence)

    def _periodicity(self, envelope: FloatArray) -> FloatArray | None:
        """The normalised autocorrelation of `envelope` (the newest frames), at lags
        0 .. the window's size (0 beyond the envelope)."""
        size = envelope.size
        centred = envelope - envelope.mean()
        spectrum = np.fft.rfft(centred, self._fft_size)
        correlation = np.fft.irfft(spectrum.real ** 2 + spectrum.imag ** 2, self._fft_size)
        if correlation[0] <= 1e-12:
            return None
        overlap = size - np.arange(size)
        periodicity = np.zeros(self._size)
        periodicity[:size] = (correlation[:size] / correlation[0] * size
                              / np.maximum(overlap, size // 4))
        return periodicity

    def _tempo(self, periodicity: FloatArray, held: float,
               settled: bool = True, played: float = math.inf) -> tuple[float, float]:
        """(BPM, confidence): the best candidate near the tempo held, unless a tempo outside
        `tempo_window` has scored best for `tempo_relock` analyses in a row."""
        s = self.settings
        at = np.interp(self._lags, self._lag_axis, periodicity)
        np.clip(at, 0.0, None, out=at)
        scores = (self._with_unheard_lags(at, played) @ self._lag_weights) * self._prior
        if s.change_tempo > 0:
            scores = scores * self._harmonic_rhythm() ** s.change_tempo
        best = int(np.argmax(scores))
        if held > 0:
            near = np.abs(np.log(self._bpms / held)) <= s.tempo_window
            if near[best]:
                self._tempo_elsewhere = 0
            else:
                self._tempo_elsewhere += 1
                ratio = float(self._bpms[best]) / held
                related = min(abs(math.log(ratio / r)) for r in METRICAL) <= s.tempo_window
                needed = s.metrical_relock if related and settled else s.tempo_relock
                if self._tempo_elsewhere < needed and near.any():
                    best = int(np.argmax(np.where(near, scores, -np.inf)))
                else:
                    self._tempo_elsewhere = 0
        bpm = float(self._bpms[best]) + _vertex(scores, best) * self._bpm_step
        confidence = float(np.clip(at[best, 1:].max(), 0.0, 1.0))
        return bpm, confidence

    def _with_unheard_lags(self, at: FloatArray, played: float) -> FloatArray:
        """The autocorrelation at each candidate's lags, a lag longer than `heard_span` of
        the `played` frames (none of its periods heard yet: a bar of 84 BPM in the first
        three seconds) taking `unheard_share` of the candidate's mean over its heard lags,
        instead of the little overlap there is: the slow candidates are not outscored by
        their double for want of seconds heard."""
        s = self.settings
        heard = self._lags <= s.heard_span * played
        if heard.all():
            return at
        weights = heard * self._lag_weights
        mean = (at * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return np.asarray(np.where(heard, at, s.unheard_share * mean[:, None]),
                          dtype=np.float64)

    def _recent_changes(self) -> list[float]:
        now = self.state.time
        return [c for c in self._changes if now - c <= self.settings.change_window]

    def _harmonic_rhythm(self) -> FloatArray:
        """How well each candidate tempo's bars fit the intervals between the chord changes
        heard (1 for every candidate when fewer than two intervals are known): chords
        change on bar lines, mostly every bar, sometimes every two or four, or half a bar."""
        s = self.settings
        changes = self._recent_changes()
        if len(changes) < 3:
            return np.ones(self._bpms.size)
        intervals = np.diff(np.asarray(changes))
        bars = self.beats_per_bar * 60.0 / self._bpms
        multiples = np.array(CHANGE_BARS)
        weights = np.asarray(s.change_bars)
        expected = bars[:, None, None] * multiples[None, None, :]
        miss = (intervals[None, :, None] - expected) / s.change_spread
        fit = np.maximum((np.exp(-0.5 * miss ** 2) * weights).max(axis=2), s.change_floor)
        prior = s.change_prior       # intervals that fit every candidate: a few changes heard
        return np.asarray((fit.sum(axis=1) + prior) / (intervals.size + prior),
                          dtype=np.float64)

    def _change_fit(self, lag: float, time: float, size: int) -> FloatArray:
        """Share of the recent chord changes on a beat of a comb `lag` frames apart ending
        `offset` frames ago, for offsets 0 .. lag−1."""
        changes = self._recent_changes()
        if not changes:
            return np.zeros(size)
        ages = (time - np.asarray(changes)) / self.frame_seconds
        offsets = np.arange(size, dtype=np.float64)
        miss = (ages[None, :] - offsets[:, None] + lag / 2) % lag - lag / 2
        spread = self.settings.change_spread / self.frame_seconds
        votes = np.exp(-0.5 * (miss / spread) ** 2).sum(axis=1)
        full = self.settings.changes_full if self._forgot_at is not None else 1
        return np.asarray(votes / max(len(changes), full), dtype=np.float64)

    def _predict_beat(self, envelope: FloatArray, lag: float, time: float,
                      state: BeatState, clock: float) -> float:
        """When the next beat falls: where beats `lag` frames apart fit the strength best,
        near the clock's own beats unless somewhere else has fitted much better for a while."""
        s = self.settings
        fit = self._phase_fit(envelope, lag)
        swung = self._swung(lag * self.frame_seconds) if s.swing_phase > 0 else 0.0
        if swung > 0:
            fit = fit + s.swing_phase * swung * self._swing_fit(fit, lag)
        changes = np.zeros(fit.size)
        if s.change_phase > 0:
            changes = self._change_fit(lag, time, fit.size)
            fit = fit + s.change_phase * float(fit.max()) * changes
        best = int(np.argmax(fit))
        chosen = best
        if math.isfinite(state.next_beat):
            since = ((time - (state.next_beat - clock)) / self.frame_seconds) % lag
            offsets = np.arange(fit.size)
            distance = np.abs((offsets - since + lag / 2) % lag - lag / 2)
            local = int(np.argmax(np.where(distance <= s.track_window * lag, fit, -np.inf)))
            denied = (len(self._changes) >= 2
                      and changes[best] - changes[local] >= s.change_denies)
            relock = 1.0 if denied else s.relock
            self._elsewhere = self._elsewhere + 1 if fit[best] > relock * fit[local] else 0
            chosen = best if self._elsewhere >= s.relock_analyses else local
        offset = float(chosen) + _vertex(fit, chosen)
        last_beat = time - offset * self.frame_seconds
        return last_beat + lag * self.frame_seconds - self.latency

    @staticmethod
    def _swing_fit(fit: FloatArray, lag: float) -> FloatArray:
        """For each comb offset: the fit two thirds of a beat after its teeth less the fit
        a third after them (a swung "and" comes late in its beat)."""
        offsets = np.arange(fit.size, dtype=np.float64)
        late = np.rint((offsets - 2.0 * lag / 3.0) % lag).astype(np.intp) % fit.size
        early = np.rint((offsets - lag / 3.0) % lag).astype(np.intp) % fit.size
        return np.asarray(fit[late] - fit[early], dtype=np.float64)

    def _swung(self, period: float) -> float:
        """0..1: how much the recent onsets swing. The gaps between onsets, modulo a beat,
        fall on a third or two of the beat when swung, on its half when straight: full
        swing when the gaps on thirds outnumber those on halves by `swing_share` of all."""
        s = self.settings
        if len(self._onsets) < s.swing_least:
            return 0.0
        gaps = np.diff(np.asarray(self._onsets)) / period % 1.0
        thirds = np.minimum(np.abs(gaps - 1.0 / 3.0), np.abs(gaps - 2.0 / 3.0))
        third = int(np.count_nonzero(thirds <= s.swing_near))
        half = int(np.count_nonzero(np.abs(gaps - 0.5) <= s.swing_near))
        share = (third - half) / gaps.size
        return float(np.clip(2.0 * share / s.swing_share - 1.0, 0.0, 1.0))

    def _kept_tempo_for(self, seconds: float) -> bool:
        """Has the clock kept its tempo for `seconds` (since it last jumped)?"""
        return self._count - self._clock_set >= seconds / self.frame_seconds

    def _a_change_of_tempo(self, ratio: float) -> bool:
        """Is a move of the clock's period by `ratio` (either way) small enough to be the
        guitarist changing tempo (up to 2 × `drift_most`), not a metrical level?"""
        return abs(math.log(ratio)) <= 2 * self.settings.drift_most

    def _still_held(self, heard: tuple[float, float], state: BeatState,
                    accents: FloatArray) -> tuple[float, float]:
        """The autocorrelation's new tempo, unless it would move a clock that has kept its
        tempo for `veto_after` s to a tempo up to 2 × `drift_most` away (a change of
        tempo, not of metrical level) while the last `drift_beats` beats still fit the
        clock's period better than the new one: the guitarist has not moved, the 8-s
        autocorrelation has (a fingerpicking pattern heard at 8/7 of its tempo). Then the
        clock's tempo is kept, with the new estimate's confidence."""
        s = self.settings
        bpm, confidence = heard
        if state.period <= 0 or not s.drift_beats or s.veto_gain <= 0:
            return heard
        ratio = state.period * bpm / 60.0                  # clock period / new period
        moved = abs(math.log(ratio)) > s.tempo_window and self._a_change_of_tempo(ratio)
        if not (moved and self._kept_tempo_for(s.veto_after)):
            return heard
        lag = state.period / self.frame_seconds
        held, new = self._short_fits(accents, lag, np.array((1.0, 1.0 / ratio)))
        if new >= s.veto_gain * held:
            return heard
        self._tempo_elsewhere = 0
        return state.bpm, confidence

    def _heard_a_change(self, time: float, state: BeatState, accents: FloatArray,
                        confidence: float) -> float | None:
        """The ratio of the guitarist's new beat period to the clock's, once the clock has
        kept its tempo `drift_after` s, the guitarist still plays and the confidence fell to
        `drift_doubt` of its peak there (`_tempo_change` says if it is one); else None."""
        s = self.settings
        steady = self._kept_tempo_for(s.drift_after)
        doubt = (confidence <= s.drift_doubt * max(self._confidences)
                 and time - self._last_attack < state.period)      # and still playing
        if not (s.drift_beats and state.period > 0 and steady and doubt):
            return None
        changed = self._tempo_change(accents, state.period / self.frame_seconds)
        if changed is not None:
            self._forget_before(s.drift_beats * state.period * changed)
            self._tempo_changed = time
            self._clock_set = self._count
            self._tempo_elsewhere = 0
        return changed

    def _tempo_change(self, envelope: FloatArray, lag: float) -> float | None:
        """The ratio of a new beat period to the clock's (`lag` frames), when a short comb
        over the last `drift_beats` beats has fitted a period `drift_least`..`drift_most`
        away `drift_gain` times better than the clock's for `drift_analyses` analyses in a
        row (the same period each time, within `drift_agree`); else None."""
        s = self.settings
        fits = self._short_fits(envelope, lag)
        held, fits = fits[0], fits[1:]
        best = int(np.argmax(fits))
        ratio = float(self._drift_ratios[best + 1])
        gain = s.drift_gain + self._swung(lag * self.frame_seconds) * (s.drift_gain_swung
                                                                      - s.drift_gain)
        heard = (0 < best < fits.size - 1                 # (not beyond the ratios looked at)
                 and abs(math.log(ratio)) >= s.drift_least and fits[best] >= gain * held)
        if not heard:
            self._drift_seen = []
            return None
        if self._drift_seen and abs(math.log(ratio / self._drift_seen[-1])) > s.drift_agree:
            self._drift_seen = []
        self._drift_seen.append(ratio)
        if len(self._drift_seen) < s.drift_analyses:
            return None
        seen, self._drift_seen = self._drift_seen, []
        return float(np.mean(seen))

    def _refine_tempo(self, envelope: FloatArray) -> None:
        """Just after a tempo change (too little heard for the autocorrelation): the tempo
        within `drift_least` of the one held whose short comb fits the last beats best."""
        bpm, confidence = self._heard
        fits = self._short_fits(envelope, 60.0 / bpm / self.frame_seconds)
        near = np.abs(np.log(self._drift_ratios)) <= self.settings.drift_least
        best = int(np.argmax(np.where(near, fits, -np.inf)))
        self._heard = (bpm / float(self._drift_ratios[best]), confidence)

    def _short_fits(self, envelope: FloatArray, lag: float,
                    ratios: FloatArray | None = None) -> FloatArray:
        """For each of `ratios` (`_drift_ratios` if None), the best fit of an unweighted
        comb of `drift_beats` teeth `lag` × ratio frames apart over the newest strength (its
        last tooth at any offset within one period), within the phase tolerance."""
        lags = lag * (self._drift_ratios if ratios is None else ratios)
        periods = np.ceil(lags).astype(np.intp)              # offsets of one period, per ratio
        width = self._tolerance.size // 2
        wide = np.arange(-width, int(periods.max()) + width)
        offsets = wide[None, :] % periods[:, None]            # wrapped within each period
        teeth = np.arange(self.settings.drift_beats)
        back = np.rint(offsets[:, :, None] + lags[:, None, None] * teeth[None, None, :])
        index = self._size - 1 - np.minimum(back.astype(np.intp), self._size - 1)
        within = np.arange(int(periods.max()))[None, :] < periods[:, None]
        fit = envelope[index].mean(axis=2)
        smoothed = sliding_window_view(fit, self._tolerance.size, axis=1) @ self._tolerance
        return np.asarray(np.where(within, smoothed, -np.inf).max(axis=1), dtype=np.float64)

    def _forget_before(self, seconds: float) -> None:
        """Clear the strength older than `seconds` (a tempo change: what came before it
        is another tempo)."""
        keep = int(round(seconds / self.frame_seconds))
        if keep >= self._size:
            return
        newest = (self._count - 1) % self._size
        age = (newest - np.arange(self._size)) % self._size
        self._strength[age >= keep] = 0.0
        self._bass[age >= keep] = 0.0
        self._forgot_at = self._count - keep
        since = self.state.time - seconds
        while self._changes and self._changes[0] < since:
            self._changes.popleft()

    def _phase_fit(self, envelope: FloatArray, lag: float) -> FloatArray:
        """Fit of a beat comb ending `offset` frames ago, for offsets 0 .. lag−1."""
        return self._comb_fit(envelope, lag)

    def _comb_fit(self, envelope: FloatArray, lag: float) -> FloatArray:
        """Mean strength on the teeth of a comb `lag` frames apart ending `offset` frames ago
        (older teeth weigh less), for offsets 0 .. lag−1, within a few frames' tolerance."""
        index = self._comb_index(lag)
        weights = self._comb_weights[:index.shape[1]]
        fit = envelope[index] @ (weights / weights.sum())
        width = self._tolerance.size // 2
        wrapped = np.concatenate((fit[-width:], fit, fit[:width])) if width else fit
        return np.asarray(np.convolve(wrapped, self._tolerance, mode="valid")[:fit.size],
                          dtype=np.float64)

    def _comb_index(self, lag: float) -> npt.NDArray[np.intp]:
        """Frames of the comb's teeth (cached per quarter frame of lag)."""
        key = round(lag * 4)
        cached = self._combs.get(key)
        if cached is None:
            s = self.settings
            lag = key / 4
            teeth = min(s.comb_beats, int((self._size - 1) / lag))
            offsets = np.arange(int(math.ceil(lag)))
            back = np.rint(offsets[:, None] + lag * np.arange(teeth)[None, :]).astype(np.intp)
            cached = self._size - 1 - back
            if len(self._combs) > 256:
                self._combs.clear()
            self._combs[key] = cached
        return cached

    # ------------------------------------------------------------------ beats and bars

    def _pass_beat(self, time: float, state: BeatState) -> BeatState:
        beat_time = state.next_beat
        self._beat_index += 1
        self.beats.append(beat_time)
        self._pending_accents.append((beat_time + state.period / 4, self._beat_index))
        self._choose_downbeat()
        position = self._beat_index % self.beats_per_bar
        in_bar = (position - self._downbeat) % self.beats_per_bar
        if in_bar == 0:
            self.downbeats.append(beat_time)
        return replace(state, time=time, beat=True, beat_time=beat_time, beat_in_bar=in_bar,
                       downbeat=in_bar == 0, next_beat=beat_time + state.period,
                       downbeat_confidence=self._downbeat_confidence())

    def _vote_accent(self, time: float) -> None:
        s = self.settings
        due, index = self._pending_accents.pop(0)
        frames = int(round((time - due) / self.frame_seconds))
        span = max(int(round(self.state.period / 2 / self.frame_seconds)), 1)
        recent = self._ordered_strength()[-(span + frames + 1):]
        accent = float(recent[:span + 1].max()) if recent.size else 0.0
        position = index % self.beats_per_bar
        share = s.accent_share
        self._votes_accent[position] += share * (accent - self._votes_accent[position])
        self._choose_downbeat()

    def _chord_votes(self) -> FloatArray:
        """Where the chord changes remembered fall on the beat grid as it stands now (counted
        from the last beat with the current period, so that a phase found late, or found
        again, places them all anew): each change within `change_grid` of a beat votes for
        that beat's place in the bar, the older the less (fading like the accents); the
        guitarist's first onset votes as a fresh change, `start_weight` times, unfaded."""
        votes = np.zeros(self.beats_per_bar)
        if not self.beats or self.state.period <= 0:
            return votes
        s = self.settings
        fade = 1.0 - s.accent_share
        for change in self._changes:
            beats_ago = self._beats_before_last(change)
            if beats_ago is not None:
                votes[(self._beat_index - beats_ago) % self.beats_per_bar] += (
                    s.accent_share * fade ** (max(beats_ago, 0) / self.beats_per_bar))
        start = None if self._first_onset is None else self._beats_before_last(self._first_onset)
        if s.start_weight > 0 and start is not None:
            votes[(self._beat_index - start) % self.beats_per_bar] += (
                s.start_weight * s.accent_share)
        return votes

    def _beats_before_last(self, time: float) -> int | None:
        """How many beats before the last one `time` falls, on the grid as it stands now
        (None: further than `change_grid` from every beat)."""
        beats = (self.beats[-1] - time) / self.state.period
        nearest = round(beats)
        return nearest if abs(beats - nearest) <= self.settings.change_grid else None

    def _downbeat_scores(self) -> FloatArray:
        accents = self._votes_accent / max(float(self._votes_accent.mean()), 1e-9) - 1.0
        return accents + self.settings.chord_weight * self._chord_votes()

    def _choose_downbeat(self) -> None:
        """The bar's 1 from the votes now; their margin kept for `_downbeat_confidence`."""
        scores = self._downbeat_scores()
        self._downbeat = int(np.argmax(scores))
        top = np.sort(scores)[-2:]
        self._downbeat_margin = float(top[-1] - top[0]) if top.size == 2 else 1.0

    def _downbeat_confidence(self) -> float:
        """How much the 1 chosen last leads the next best place (1 with one beat a bar)."""
        if self.beats_per_bar < 2:
            return 1.0
        return float(np.clip(self._downbeat_margin, 0.0, 1.0))


def _with_prior(values: deque[int] | deque[float], typical: float, prior: int) -> float:
    """The mean of `values`, counting `typical` as `prior` more of them."""
    return (typical * prior + sum(values)) / (prior + len(values))


def _vertex(values: FloatArray, index: int) -> float:
    """Offset (−0.5..0.5) of the top of a parabola through values[index−1 .. index+1]."""
    if not 0 < index < values.size - 1:
        return 0.0
    left, mid, right = float(values[index - 1]), float(values[index]), float(values[index + 1])
    curvature = left - 2 * mid + right
    if curvature >= 0:
        return 0.0
    return max(-0.5, min(0.5, 0.5 * (left - right) / curvature))
