"""The beat tracker: tempo and phase on pluck trains, a tempo change, downbeats, causality."""

from __future__ import annotations

import math

import mir_eval
import numpy as np
import numpy.typing as npt
import pytest

from performia.listen.beat import BeatSettings, BeatState, BeatTracker
from performia.listen.frontend import ONSET_BANDS, frames
from performia.listen.onsets import OnsetDetector

RATE = 48000
Audio = npt.NDArray[np.float64]


def pluck(freq: float, seconds: float) -> Audio:
    t = np.arange(int(seconds * RATE)) / RATE
    tone = sum(np.sin(2 * np.pi * freq * h * t) / h ** 1.3 for h in range(1, 9))
    return np.asarray(tone * np.minimum(t / 0.002, 1.0) * np.exp(-t * 6.0), dtype=np.float64)


def beat_times(tempi: list[tuple[float, float]], seconds: float) -> list[float]:
    """Beats from 0.5 s on; `tempi` = [(from time, bpm), ...]."""
    beats = [0.5]
    while beats[-1] < seconds - 1.0:
        bpm = [b for start, b in tempi if start <= beats[-1]][-1]
        beats.append(beats[-1] + 60.0 / bpm)
    return beats


def train(beats: list[float], seconds: float, seed: int = 1, eighths: bool = False) -> Audio:
    """A pluck on every beat (the bar's first louder), jittered by ±5 ms, with hiss; with
    `eighths`, a soft pluck between the beats too."""
    rng = np.random.default_rng(seed)
    out = rng.normal(0.0, 1e-4, int(seconds * RATE))
    if eighths:
        for a, b in zip(beats, beats[1:], strict=False):
            note = 0.25 * pluck(247.0, 0.4)
            at = int(((a + b) / 2 + rng.normal(0.0, 0.005)) * RATE)
            out[at:at + note.size] += note[:max(out.size - at, 0)]
    for i, beat in enumerate(beats):
        note = pluck((196.0, 247.0, 294.0, 247.0)[i % 4], 0.8) * (1.0 if i % 4 == 0 else 0.5)
        at = int((beat + rng.normal(0.0, 0.005)) * RATE)
        out[at:at + note.size] += note[:max(out.size - at, 0)]
    return np.asarray(0.3 * out / np.max(np.abs(out)), dtype=np.float64)


def track(samples: Audio, tracker: BeatTracker | None = None,
          chord_changes: list[float] | None = None) -> tuple[BeatTracker, list[BeatState]]:
    detector = OnsetDetector()
    tracker = tracker or BeatTracker()
    changes = list(chord_changes or [])
    states = []
    for time, magnitudes in zip(*frames(samples, ONSET_BANDS, RATE), strict=True):
        strength, onset = detector.update(float(time), magnitudes)
        while changes and changes[0] + 0.3 <= time:
            tracker.note_chord_change(changes.pop(0))
        states.append(tracker.update(float(time), strength))
        if onset is not None:
            tracker.note_onset(onset.time, onset.rise)
    return tracker, states


@pytest.mark.parametrize(("bpm", "eighths"), [(70.0, False), (96.0, False), (150.0, True)])
def test_tempo_and_phase_lock_within_a_few_beats(bpm: float, eighths: bool) -> None:
    """(Plain quarter plucks at 150 BPM are heard at 75: the tracker takes the level whose
    subdivisions are played, and a guitarist at 150 plays eighths.)"""
    seconds = 20.0
    beats = beat_times([(0.0, bpm)], seconds)
    tracker, states = track(train(beats, seconds, eighths=eighths))
    locked_by = beats[0] + 6 * 60.0 / bpm + 2.0              # start_after + six beats
    late = [s for s in states if locked_by <= s.time <= beats[-1]]
    assert all(abs(s.bpm - bpm) <= 0.02 * bpm for s in late), {round(s.bpm, 1) for s in late}
    assert min(s.confidence for s in late) > 0.3
    heard = np.array([b for b in tracker.beats if locked_by <= b <= beats[-1] + 0.1])
    truth = np.array([b for b in beats if locked_by <= b])
    assert mir_eval.beat.f_measure(truth, heard) >= 0.95


def test_tempo_change_followed_within_two_bars() -> None:
    seconds = 24.0
    beats = beat_times([(0.0, 100.0), (12.0, 110.0)], seconds)
    change = next(b for b in beats if b >= 12.0)
    _, states = track(train(beats, seconds))
    after = change + 8 * 60.0 / 110.0
    late = [s for s in states if after <= s.time <= beats[-1]]
    assert all(abs(s.bpm - 110.0) <= 2.2 for s in late), {round(s.bpm, 1) for s in late}


@pytest.mark.parametrize("eighths", [False, True])
def test_a_tempo_change_is_heard_within_a_bar_and_a_half(eighths: bool) -> None:
    """100 → 110 BPM: the beats of the last bar before the change are 55 ms early against
    the new tempo, and the 8-second autocorrelation holds the old tempo for seconds; the
    short comb over the last four beats hears the new one, and the clock takes it."""
    seconds = 24.0
    beats = beat_times([(0.0, 100.0), (12.0, 110.0)], seconds)
    change = next(b for b in beats if b >= 12.0)
    tracker, states = track(train(beats, seconds, eighths=eighths))
    heard_by = change + 6 * 60.0 / 110.0
    late = [s for s in states if heard_by <= s.time <= beats[-1]]
    assert all(abs(s.bpm - 110.0) <= 0.02 * 110.0 for s in late), {round(s.bpm, 1) for s in late}
    after = [b for b in beats if heard_by + 60.0 / 110.0 <= b <= beats[-2]]
    misses = [min(abs(b - t) for t in tracker.beats) for b in after]
    assert max(misses) <= 0.025, [round(m, 3) for m in misses]


def strums(beats: list[float], seconds: float, off_beat: float, seed: int = 1) -> Audio:
    """Even eighths: a pluck on every beat and one `off_beat` as loud between them."""
    rng = np.random.default_rng(seed)
    out = rng.normal(0.0, 1e-4, int(seconds * RATE))
    period = beats[-1] - beats[-2]
    for i, (a, b) in enumerate(zip(beats, [*beats[1:], beats[-1] + period], strict=True)):
        for at_time, amp in ((a, 1.0), ((a + b) / 2, off_beat)):
            note = pluck((196.0, 247.0, 294.0, 247.0)[i % 4], 0.4) * amp
            at = int((at_time + rng.normal(0.0, 0.003)) * RATE)
            out[at:at + note.size] += note[:max(out.size - at, 0)]
    return np.asarray(0.3 * out / np.max(np.abs(out)), dtype=np.float64)


@pytest.mark.parametrize("full", [1, 4])
def test_after_a_tempo_change_one_late_chord_change_does_not_move_the_phase(full: int) -> None:
    """100 → 110 BPM in even eighths (off-beats 0.8 as loud), a chord change every bar, the
    one at the tempo change dated half a beat late (the new chord's strings ringing into the
    old one's). The tracker forgets what came before the new tempo; with that change the
    only one left, it alone moved the new phase to the off-beats (`changes_full` 1, the old
    weighing: a band following it played the next bars a quarter of a second off). Now the
    changes weigh in full only once 4 of them are heard at the new tempo."""
    seconds = 26.0
    beats = beat_times([(0.0, 100.0), (12.0, 110.0)], seconds)
    change = next(i for i, b in enumerate(beats) if b >= 12.0)
    dated = [d + (0.27 if d == beats[change] else 0.0) for d in beats[change % 4::4]]
    tracker, _ = track(strums(beats, seconds, off_beat=0.8),
                       BeatTracker(BeatSettings(changes_full=full)), chord_changes=dated)
    heard = tracker.tempo_changed
    assert heard is not None and heard < beats[change] + 8 * 60.0 / 110.0
    after = [b for b in beats if heard + 60.0 / 110.0 <= b <= heard + 8 * 60.0 / 110.0]
    misses = [min(abs(b - t) for t in tracker.beats) for b in after]
    if full == 1:       # measured: 0.21-0.27 s off, on the off-beats
        assert min(misses) > 0.15, [round(m, 3) for m in misses]
    else:               # measured: within 23 ms
        assert max(misses) <= 0.04, [round(m, 3) for m in misses]


def test_one_pushed_strum_does_not_drag_the_beat() -> None:
    seconds = 16.0
    beats = beat_times([(0.0, 100.0)], seconds)
    pushed = list(beats)
    pushed[20] -= 0.08                                        # 80 ms early
    tracker, _ = track(train(pushed, seconds))
    heard = np.array(tracker.beats)
    for beat in beats[21:26]:                                 # the beats after the push
        assert np.min(np.abs(heard - beat)) <= 0.03


def test_downbeat_from_accents_and_chord_changes() -> None:
    seconds = 24.0
    beats = beat_times([(0.0, 120.0)], seconds)
    bars = beats[::4]
    tracker, states = track(train(beats, seconds), chord_changes=bars[1:])
    late = np.array([d for d in tracker.downbeats if d >= 10.0])
    assert late.size >= 5
    assert mir_eval.beat.f_measure(np.array([b for b in bars if b >= 10.0]), late) >= 0.9
    assert states[-1].downbeat_confidence > 0.3


def even_train(beats: list[float], seconds: float, seed: int = 3) -> Audio:
    """The same pluck on every beat: no accent tells the bar's 1."""
    rng = np.random.default_rng(seed)
    out = rng.normal(0.0, 1e-4, int(seconds * RATE))
    note = pluck(220.0, 0.8)
    for beat in beats:
        at = int((beat + rng.normal(0.0, 0.005)) * RATE)
        out[at:at + note.size] += note[:max(out.size - at, 0)]
    return np.asarray(0.3 * out / np.max(np.abs(out)), dtype=np.float64)


def test_two_chords_a_bar_the_one_is_where_the_guitarist_started() -> None:
    """Even strums and a chord on beats 1 and 3 of every bar: the changes cannot tell 1 from
    3, and no accent does. A guitarist starting alone starts on the one, so the beat of the
    first onset is the 1. Without that vote the 1 follows the last change, back and forth
    every two beats, and no downbeat is ever reached."""
    seconds = 16.0
    beats = beat_times([(0.0, 104.0)], seconds)
    halves = beats[::2]
    bars = np.array(beats[::4])
    tracker, _ = track(even_train(beats, seconds), chord_changes=halves[1:])
    heard = np.array([d for d in tracker.downbeats if d >= 5.0])
    assert heard.size >= 4
    assert mir_eval.beat.f_measure(bars[bars >= 5.0], heard) >= 0.9
    blind, _ = track(even_train(beats, seconds), BeatTracker(BeatSettings(start_weight=0.0)),
                     chord_changes=halves[1:])
    assert len([d for d in blind.downbeats if d >= 5.0]) <= 1


def test_the_guitarist_started_at_the_first_note_not_at_the_hiss_before_it() -> None:
    """Hiss before the first pluck (0.5 s) can make an "attack" (the strength is relative to
    a level that has seen no attack yet); the first picked onset is the first note. The
    tracker's clocks (`start_after`, `free_levels`) and the band's deadline to come in
    (`GuitarBeat.started`) count from it."""
    seconds = 6.0
    beats = beat_times([(0.0, 100.0)], seconds)
    tracker, _ = track(train(beats, seconds))
    assert tracker.first_onset is not None and abs(tracker.first_onset - beats[0]) < 0.03
    assert tracker.first_attack == tracker.first_onset


class _Locked(BeatTracker):
    """A tracker whose 8-s autocorrelation says 137.5 BPM, confidently, whatever it hears
    (what it made of a rig's hiss on the dev takes before the guitarist played)."""

    def _tempo(self, periodicity: npt.NDArray[np.float64], held: float,
               settled: bool = True, played: float = math.inf) -> tuple[float, float]:
        return (137.5, 0.6) if self.first_onset is None else super()._tempo(
            periodicity, held, settled, played)


def test_what_the_tracker_made_of_the_hiss_before_the_first_note_is_forgotten() -> None:
    """Three seconds of hiss whose "attacks" the tracker locked on (137.5 BPM, confident),
    then plucks at 100 BPM: at the first note it starts afresh (its tempo, confidence and
    clocks forgotten), and the tempo it holds from there is the guitarist's."""
    seconds, start = 14.0, 3.0
    beats = [b + start - 0.5 for b in beat_times([(0.0, 100.0)], seconds - start + 0.5)]
    samples = train(beats, seconds)
    samples += np.random.default_rng(4).normal(0.0, 10 ** (-65 / 20), samples.size)
    tracker, states = track(samples, _Locked())
    assert any(s.bpm == 137.5 and s.confidence > 0 for s in states if s.time < beats[0])
    assert tracker.first_attack == tracker.first_onset
    assert tracker.first_onset is not None and abs(tracker.first_onset - beats[0]) < 0.03
    after = [s for s in states if beats[0] + 0.1 <= s.time < beats[0] + 2.0]
    assert all(s.confidence == 0.0 or s.bpm != 137.5 for s in after)
    late = [s for s in states if s.time >= beats[0] + 6.0]
    assert all(abs(s.bpm - 100.0) <= 2.0 for s in late), {round(s.bpm, 1) for s in late}


def test_nothing_reported_before_a_time_depends_on_what_follows() -> None:
    seconds, cut = 16.0, 9.0
    beats = beat_times([(0.0, 96.0)], seconds)
    first = train(beats, seconds)
    second = first.copy()
    rng = np.random.default_rng(9)
    second[int(cut * RATE):] = rng.normal(0.0, 0.05, second.size - int(cut * RATE))
    a, states_a = track(first)
    b, states_b = track(second)
    upto = [i for i, s in enumerate(states_a) if s.time <= cut]
    assert [states_a[i] for i in upto] == [states_b[i] for i in upto]
    assert [x for x in a.beats if x <= cut] == [x for x in b.beats if x <= cut]
    assert [x for x in a.downbeats if x <= cut] == [x for x in b.downbeats if x <= cut]


def test_the_latency_follows_how_slowly_the_guitar_speaks() -> None:
    """A guitar whose attacks rise over frames (an overdriven sample) peaks later after the
    note than a picked one: the tracker places its beats that much earlier, within bounds,
    and starts from the typical latency."""
    s = BeatSettings()
    slow, picked, unknown = BeatTracker(), BeatTracker(), BeatTracker()
    assert slow.latency == picked.latency == s.latency
    for k in range(s.rise_onsets):
        slow.note_onset(0.5 * k, 2)
        picked.note_onset(0.5 * k, 0)
        unknown.note_onset(0.5 * k)
    assert picked.latency < s.latency < slow.latency <= s.latency_range[1]
    assert slow.latency - s.latency == pytest.approx(
        s.rise_latency * (2 - s.typical_rise) * s.rise_onsets / (s.rise_onsets + s.rise_prior))
    assert picked.latency >= s.latency_range[0]
    assert unknown.latency == s.latency


def test_the_latency_follows_how_long_an_attack_swells_over_ringing_strings() -> None:
    """An attack that must outgrow the strings still ringing (`OnsetDetector.swell`) peaks
    later after the note: the tracker's latency grows by `swell_latency` a unit of swell
    above the typical, the typical counted as `rise_prior` onsets; a swell that is not a
    number changes nothing."""
    s = BeatSettings()
    swelling, plain = BeatTracker(), BeatTracker()
    for _ in range(s.rise_onsets):
        swelling.note_swell(4.0)
        plain.note_swell(s.typical_swell)
    swelling.note_swell(math.nan)
    assert plain.latency == pytest.approx(s.latency)
    assert swelling.latency - s.latency == pytest.approx(
        s.swell_latency * (4.0 - s.typical_swell) * s.rise_onsets
        / (s.rise_onsets + s.rise_prior))


def test_silence_gives_no_beats_and_no_confidence() -> None:
    tracker = BeatTracker()
    frame = ONSET_BANDS.hop / RATE
    state = BeatState()
    for i in range(1000):
        state = tracker.update(i * frame, 0.0)
    assert tracker.beats == [] and state.confidence == 0.0 and math.isinf(state.next_beat)


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        BeatSettings(low=120.0, high=60.0)
    with pytest.raises(ValueError):
        BeatTracker(beats_per_bar=0)
    with pytest.raises(ValueError, match="change_bars"):
        BeatSettings(change_bars=(1.0, 0.5))
    with pytest.raises(ValueError, match="changes_full"):
        BeatSettings(changes_full=0)
    with pytest.raises(ValueError, match="latency_range"):
        BeatSettings(latency=0.1)
    with pytest.raises(ValueError, match="swing_least"):
        BeatSettings(swing_least=20)
    with pytest.raises(ValueError, match="change_prior"):
        BeatSettings(change_prior=-1.0)


def track_with_bass(samples: Audio, tracker: BeatTracker) -> BeatTracker:
    detector = OnsetDetector()
    for time, magnitudes in zip(*frames(samples, ONSET_BANDS, RATE), strict=True):
        strength, _ = detector.update(float(time), magnitudes)
        tracker.update(float(time), strength, detector.bass_strength)
    return tracker


def test_travis_picking_locks_to_the_bass_not_the_brighter_off_beats() -> None:
    """Alternating bass on the beats, louder, brighter treble notes between them: the
    full-band flux peaks on the off-beats, the bass strength puts the beat on the thumb."""
    seconds, bpm = 20.0, 92.0
    beats = beat_times([(0.0, bpm)], seconds)
    rng = np.random.default_rng(5)
    out = rng.normal(0.0, 1e-4, int(seconds * RATE))
    for i, (a, b) in enumerate(zip(beats, beats[1:], strict=False)):
        for start, freq, gain in ((a, (98.0, 147.0)[i % 2], 0.35), ((a + b) / 2, 659.0, 1.0)):
            note = pluck(freq, 0.6) * gain
            at = int((start + rng.normal(0.0, 0.005)) * RATE)
            out[at:at + note.size] += note[:max(out.size - at, 0)]
    tracker = track_with_bass(np.asarray(0.3 * out / np.max(np.abs(out))), BeatTracker())
    truth = np.array([b for b in beats if b >= 8.0])
    heard = np.array([b for b in tracker.beats if 8.0 <= b <= beats[-1] + 0.1])
    assert abs(tracker.state.bpm - bpm) <= 0.02 * bpm
    assert mir_eval.beat.f_measure(truth, heard) >= 0.9


def test_a_sparser_bar_does_not_halve_the_tempo() -> None:
    """A pluck on every beat, then a bar of half notes, then every beat again: once settled,
    the tempo stays (a metrical jump needs `metrical_relock` estimates in a row)."""
    seconds, bpm = 26.0, 100.0
    beats = beat_times([(0.0, bpm)], seconds)
    kept = [b for i, b in enumerate(beats) if not (32 <= i < 40 and i % 2)]   # bars 9–10
    tracker, states = track(train(kept, seconds))
    late = [s for s in states if 10.0 <= s.time <= beats[-1]]
    assert all(abs(s.bpm - bpm) <= 0.02 * bpm for s in late), {round(s.bpm, 1) for s in late}


class _EstimateFrom(BeatTracker):
    """A tracker whose 8-s autocorrelation says `bpm` from `start` until `end` (what it
    heard on a fingerpicking pattern at 84 BPM: 96, its 8/7), whatever the strength."""

    def __init__(self, start: float, bpm: float, settings: BeatSettings | None = None,
                 end: float = math.inf) -> None:
        super().__init__(settings)
        self.forced = (start, end, bpm)

    def _tempo(self, periodicity: npt.NDArray[np.float64], held: float,
               settled: bool = True, played: float = math.inf) -> tuple[float, float]:
        heard = super()._tempo(periodicity, held, settled, played)
        start, end, bpm = self.forced
        return (bpm, 0.3) if start <= self.state.time < end else heard


@pytest.mark.parametrize("veto", [True, False])
def test_a_steady_clock_keeps_its_tempo_when_the_last_beats_deny_a_new_estimate(
        veto: bool) -> None:
    """The guitarist stays at 84; from 12 s the autocorrelation says 96. The last four
    beats still fit 84 far better, so the clock keeps 84 and no tempo change is heard (a
    band following it would rush by 14 % and come back a beat off). Without the check
    (`veto_gain` 0) the clock jumps: the test can tell."""
    seconds, bpm = 22.0, 84.0
    beats = beat_times([(0.0, bpm)], seconds)
    settings = BeatSettings() if veto else BeatSettings(veto_gain=0.0)
    tracker, states = track(train(beats, seconds), _EstimateFrom(12.0, 96.0, settings))
    late = [s for s in states if 12.0 <= s.time <= beats[-1]]
    kept = all(abs(s.bpm - bpm) <= 0.02 * bpm for s in late)
    assert kept is veto, {round(s.bpm, 1) for s in late}
    changed = tracker.tempo_changed
    assert (changed is None or changed < 12.0) is veto


def test_a_first_estimate_put_right_is_not_a_change_of_tempo() -> None:
    """The first estimate (120 for a guitarist at 100) is put right a second later: the
    clock jumps, but the guitarist changed nothing, so no tempo change is reported (a band
    counted in would otherwise chase it with its catch-up gains)."""
    seconds = 14.0
    beats = beat_times([(0.0, 100.0)], seconds)
    tracker, states = track(train(beats, seconds), _EstimateFrom(0.0, 120.0, end=3.5))
    assert any(abs(s.bpm - 120.0) < 1.0 for s in states if s.time < 3.5)
    late = [s for s in states if 6.0 <= s.time <= beats[-1]]
    assert all(abs(s.bpm - 100.0) <= 2.0 for s in late), {round(s.bpm, 1) for s in late}
    assert tracker.tempo_changed is None


def test_a_real_change_to_the_new_estimate_is_taken() -> None:
    """The guitarist does go from 84 to 96 at 12 s (beyond what the short comb looks for),
    and the autocorrelation says 96 from 14 s: the last beats fit 96, the clock takes it."""
    seconds = 22.0
    beats = beat_times([(0.0, 84.0), (12.0, 96.0)], seconds)
    tracker, states = track(train(beats, seconds), _EstimateFrom(14.0, 96.0))
    late = [s for s in states if 15.0 <= s.time <= beats[-1]]
    assert all(abs(s.bpm - 96.0) <= 0.02 * 96.0 for s in late), {round(s.bpm, 1) for s in late}
    assert tracker.tempo_changed is not None and tracker.tempo_changed >= 12.0


def test_chords_changing_every_bar_tell_the_tempo_level() -> None:
    """Equal quarter plucks at 150 BPM alone are heard at 75 (see above); with the chord
    changing on every bar line, a bar of 75 would hold two changes, so the tracker hears
    150: chords change on bar lines, mostly once a bar."""
    seconds, bpm = 24.0, 150.0
    beats = beat_times([(0.0, bpm)], seconds)
    bars = beats[::4]
    alone, _ = track(train(beats, seconds))
    tracker, states = track(train(beats, seconds), chord_changes=bars[1:])
    assert abs(alone.state.bpm - bpm / 2) <= 0.02 * bpm / 2
    late = [s for s in states if 12.0 <= s.time <= beats[-1]]
    assert all(abs(s.bpm - bpm) <= 0.02 * bpm for s in late), {round(s.bpm, 1) for s in late}


def even_eighths(beats: list[float], bpm: float, seconds: float) -> Audio:
    """An arpeggio: even eighth notes, all alike, on `beats` and between them (±4 ms)."""
    eighths = sorted(beats + [b + 30.0 / bpm for b in beats])
    rng = np.random.default_rng(3)
    out = rng.normal(0.0, 1e-4, int(seconds * RATE))
    for i, start in enumerate(eighths):
        note = pluck((196.0, 247.0, 294.0, 392.0)[i % 4], 0.5)
        at = int((start + rng.normal(0.0, 0.004)) * RATE)
        out[at:at + note.size] += note[:max(out.size - at, 0)]
    return np.asarray(0.3 * out / np.max(np.abs(out)), dtype=np.float64)


def test_chord_changes_put_the_beat_on_the_right_eighths() -> None:
    """Even eighth notes, all alike (an arpeggio): which eighths are the beats is a coin
    toss from the onsets; the chords change on the bar lines, and the beats follow them."""
    seconds, bpm = 24.0, 84.0
    beats = beat_times([(0.0, bpm)], seconds)
    samples = even_eighths(beats, bpm, seconds)
    bars = beats[::4]
    for offset in (0.0, 30.0 / bpm):                 # the changes on either set of eighths
        tracker, _ = track(samples, chord_changes=[b + offset for b in bars[1:]])
        truth = np.array([b + offset for b in beats if b >= 10.0])
        heard = np.array([b for b in tracker.beats if 10.0 <= b <= beats[-1] + 0.1])
        assert mir_eval.beat.f_measure(truth, heard) >= 0.9, offset


@pytest.mark.parametrize("offset", [0, 1])
def test_every_downbeat_reported_is_where_the_chords_change(offset: int) -> None:
    """Even eighths (an arpeggio, the phase a coin toss at first) with the chord changing on
    the bar lines from the first note: the changes heard before the tracker found the beat
    are placed anew on its grid when it does, so from the third bar on every downbeat it
    reports is a bar line (on either set of eighths)."""
    seconds, bpm = 24.0, 84.0
    beats = beat_times([(0.0, bpm)], seconds)
    samples = even_eighths(beats, bpm, seconds)
    bars = np.array(beats[::4]) + offset * 30.0 / bpm
    tracker, _ = track(samples, chord_changes=list(bars))
    reported = [d for d in tracker.downbeats if d >= bars[2] - 0.1]
    assert len(reported) >= 6
    assert all(np.min(np.abs(bars - d)) <= 0.05 for d in reported), reported


def swung_comp(beats: list[float], bpm: float, seconds: float) -> Audio:
    """A swung comp, all strums alike: on the 1, the "and" of 2 and the "and" of 3 of
    each bar, the "and"s two thirds into their beats (±4 ms)."""
    beat = 60.0 / bpm
    starts = [bar + share * beat for bar in beats[::4] for share in (0.0, 1 + 2 / 3, 2 + 2 / 3)]
    rng = np.random.default_rng(5)
    out = rng.normal(0.0, 1e-4, int(seconds * RATE))
    for i, start in enumerate(starts):
        note = pluck((196.0, 247.0, 294.0)[i % 3], 1.2)
        at = int((start + rng.normal(0.0, 0.004)) * RATE)
        out[at:at + note.size] += note[:max(out.size - at, 0)]
    return np.asarray(0.3 * out / np.max(np.abs(out)), dtype=np.float64)


@pytest.mark.parametrize("swing", [0.0, 1.0])
def test_a_swung_comp_is_heard_on_its_beats_not_a_third_early(swing: float) -> None:
    """Two of the three strums of a bar fall on swung "and"s: a grid a third of a beat
    early puts two strums on its beats against one, so without the swing test the tracker
    played a third of a beat early (a band following it rushed 140 ms at 144 BPM). A swung
    off-beat falls two thirds into the beat, never one: with it, the beats are the bar's.
    (Measured: F 0.0 without, 1.0 with.)"""
    seconds, bpm = 20.0, 96.0
    beats = beat_times([(0.0, bpm)], seconds)
    tracker, _ = track(swung_comp(beats, bpm, seconds),
                       BeatTracker(BeatSettings(swing_phase=swing)))
    truth = np.array([b for b in beats if b >= 8.0])
    heard = np.array([b for b in tracker.beats if 8.0 <= b <= beats[-1] + 0.1])
    score = mir_eval.beat.f_measure(truth, heard)
    if swing == 0.0:
        assert score < 0.5, score
    else:
        assert score >= 0.9, score


def test_straight_eighths_are_not_heard_as_swung() -> None:
    """The swing test keeps out of straight playing: even eighths give no swing."""
    seconds, bpm = 16.0, 96.0
    beats = beat_times([(0.0, bpm)], seconds)
    tracker, _ = track(even_eighths(beats, bpm, seconds))
    assert tracker._swung(60.0 / bpm) == 0.0
    swung, _ = track(swung_comp(beats, bpm, seconds))
    assert swung._swung(60.0 / bpm) > 0.5


@pytest.mark.parametrize("swung_gain", [1.2, 1.3])
def test_a_steady_swung_comp_is_not_heard_as_a_change_of_tempo(swung_gain: float) -> None:
    """A syncopated swung comp puts one strum of three on the beats: the short comb that
    hears a change of tempo fits another period by chance more often, so a swung guitarist
    must fit it better (`drift_gain_swung`) than a straight one (`drift_gain`, 1.2).
    (Measured at 96 BPM: a false change heard at 12.5 s with 1.2; none with 1.3.)"""
    seconds, bpm = 20.0, 96.0
    beats = beat_times([(0.0, bpm)], seconds)
    tracker, _ = track(swung_comp(beats, bpm, seconds),
                       BeatTracker(BeatSettings(drift_gain_swung=swung_gain)))
    if swung_gain == 1.2:
        assert tracker.tempo_changed is not None
    else:
        assert tracker.tempo_changed is None


@pytest.mark.parametrize("sounding", [True, False])
def test_strums_weaker_than_the_first_still_keep_the_beat(sounding: bool) -> None:
    """An overdriven guitar: its first strum from silence is ten times the strength of every
    strum after it (all below `attack`). The guitar sounds all along, so the tracker keeps
    listening and finds the beat; told nothing of the sound, it takes the weak strums for
    silence and reports nothing after the first."""
    tracker = BeatTracker()
    frame = ONSET_BANDS.hop / RATE
    beats = np.arange(0.5, 12.0, 0.5)                    # 120 BPM
    strums = {int(round(b / frame)) for b in beats}
    for i in range(int(12.0 / frame)):
        strength = (1.0 if i == min(strums) else 0.06) if i in strums else 0.0
        tracker.update(i * frame, strength, sounding=sounding and i >= min(strums))
    heard = [b for b in tracker.beats if b > 6.0]
    if sounding:                                         # on the strums, at 120 or 60
        assert len(heard) >= 5
        assert all(abs((b - 0.5) / 0.5 - round((b - 0.5) / 0.5)) < 0.06 for b in heard)
        assert min(abs(tracker.state.bpm - 120.0), abs(tracker.state.bpm - 60.0)) < 2.0
    else:
        assert heard == []


@pytest.mark.parametrize("prior", [2.0, 0.0])
def test_three_chord_changes_one_dated_late_do_not_overrule_the_onsets(prior: float) -> None:
    """Plucks at 100 BPM; chords change on the first three bar lines, the second dated half
    a second late (a change the ears heard late). Two intervals, 2.9 and 1.9 s, fit the bars
    of 133 BPM better than those of 100: with the prior of two intervals that fit every
    tempo (`change_prior`) the tracker keeps the onsets' 100; without it, it goes to 133."""
    beats = beat_times([(0.0, 100.0)], 14.0)
    bar = 2.4
    changes = [0.5, 0.5 + bar + 0.5, 0.5 + 2 * bar]
    tracker = BeatTracker(BeatSettings(change_prior=prior))
    _, states = track(train(beats, 14.0, eighths=True), tracker, chord_changes=changes)
    late = [s.bpm for s in states[-200:]]
    if prior:
        assert all(abs(bpm - 100.0) < 2.0 for bpm in late)
    else:
        assert any(abs(bpm - 133.3) < 3.0 for bpm in late)
