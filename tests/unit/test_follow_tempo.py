"""Tempo following and coming in (conductor/follow_tempo.py) on the offline clock, with a
guitarist's beat clock given directly (the tracker's belief, as `StateBook.hear_beat` gets it):
re-anchors only at beats, nothing doubled or missed, drums exact between re-anchors, the band
aims at the guitarist's beats, comes in on a downbeat, counts in one bar."""

from __future__ import annotations

import dataclasses
import math

import pytest

from performia.band.band import make_band
from performia.conductor.band_loop import BandLoop
from performia.conductor.playalong import NoteTape
from performia.config import ConfigError, config_from_dict
from performia.events.note import NoteEvent
from performia.state.book import StateBook
from performia.state.context import HarmonicContext, Listening
from performia.state.tempo import FollowSettings, GuitarBeat
from performia.theory import Chord
from performia.timing.clock import OfflineClock
from performia.timing.tempo import TempoMap

KIT = {0, 1, 2, 3}                     # kick, snare, hat, openhat (events/note.VOICES)


class Guitarist:
    """A steady guitarist: beats at `first + k·60/bpm`, from `bpm2` after `change` s; their
    downbeats on the first beat and every fourth after it, or on the beat at `one`."""

    def __init__(self, bpm: float, first: float = 0.37, change: float = math.inf,
                 bpm2: float | None = None, one: float | None = None) -> None:
        self.bpm, self.first, self.change, self.bpm2 = bpm, first, change, bpm2 or bpm
        self.one = first if one is None else one

    def beats(self, until: float) -> list[float]:
        times, t = [], self.first
        while t <= until:
            times.append(t)
            t += 60.0 / (self.bpm if t < self.change else self.bpm2)
        return times

    def beat_in_bar(self, passed: list[float]) -> int:
        ones = [k for k, t in enumerate(passed) if abs(t - self.one) < 1e-9]
        return (len(passed) - 1 - (ones[0] if ones else 0)) % 4

    def state(self, now: float) -> GuitarBeat | None:
        passed = self.beats(now)
        if len(passed) < 4:
            return None
        period = 60.0 / (self.bpm if passed[-1] < self.change else self.bpm2)
        return GuitarBeat(time=now, period=period, next_beat=passed[-1] + period,
                          confidence=0.8, last_beat=passed[-1],
                          beat_in_bar=self.beat_in_bar(passed), beats=len(passed),
                          downbeat_confidence=0.5)


class Band:
    """The band loop on the offline clock with a state book, its notes on tapes, its events
    and its beats (beat, time) as played."""

    def __init__(self, settings: FollowSettings, bpm: float = 120.0, key: str = "E:min",
                 progression: tuple[str, ...] = ("E:min", "C:maj", "G:maj", "D:maj"),
                 following: bool = False) -> None:
        self.clock = clock = OfflineClock(TempoMap(bpm=bpm, t0=0.0), lookahead=0.003)
        self.harmony = HarmonicContext.from_labels(key, list(progression))
        self.harmony.following = following
        self.book = StateBook(self.harmony.key, beat_at=lambda t: clock.tempo.beat_at(t),
                              bpm=bpm)
        self.book.follow = settings
        self.tapes = {name: NoteTape() for name in ("drums", "bass", "harmony", "melody")}
        self.events: list[dict[str, object]] = []
        self.loop = BandLoop(agents=make_band("rock", 1), writers=dict(self.tapes),
                             clock=clock, harmony=self.harmony,
                             listening=Listening(playing=True, mode="follow"), seed=1,
                             book=self.book, on_event=self.events.append)
        self.beats: list[tuple[float, float]] = []
        self.loop.before_step = lambda b: self.beats.append((b, clock.tempo.time_at(b))) \
            if b == int(b) else None
        self.loop.begin(0.0)


def play(settings: FollowSettings, guitarist: Guitarist, seconds: float = 24.0,
         bpm: float = 120.0) -> tuple[BandLoop, dict[str, NoteTape], list[dict[str, object]],
                                      list[tuple[float, float]]]:
    band = Band(settings, bpm=bpm)
    loop, clock, book, tapes, events, beats = (band.loop, band.clock, band.book, band.tapes,
                                               band.events, band.beats)
    t = 0.0
    while t < seconds:
        t += 0.02
        clock.advance_to(t)
        state = guitarist.state(t)
        if state is not None:
            book.hear_beat(state)
    return loop, tapes, events, beats


def errors_after(beats: list[tuple[float, float]], guitarist: Guitarist, start: float,
                 end: float) -> list[float]:
    theirs = guitarist.beats(end + 1)
    return [min(abs(t - g) for g in theirs) for _, t in beats if start <= t <= end]


def test_the_band_comes_in_on_the_guitarists_downbeat_and_stays_on_its_beats() -> None:
    guitarist = Guitarist(96.0)
    loop, tapes, events, beats = play(FollowSettings(offset=0.0), guitarist)
    come_in = [e for e in events if e["kind"] == "come_in"]
    assert len(come_in) == 1
    entry = float(come_in[0]["t"])                         # type: ignore[arg-type]
    downbeats = guitarist.beats(30)[::4]
    assert min(abs(entry - d) for d in downbeats) < 0.002  # on one of the guitarist's 1s
    assert entry < downbeats[5]                            # within four bars of the beat found
    notes = tapes["drums"].notes + tapes["bass"].notes
    assert notes and min(n.time for n in notes) >= entry - 1e-6   # silent until then
    assert max(errors_after(beats, guitarist, entry, 23.0)) < 0.002
    assert abs(loop.clock.tempo.bpm - 96.0) < 0.2


def test_a_tempo_change_is_followed_by_reanchors_at_beats_without_doubled_hits() -> None:
    guitarist = Guitarist(100.0, change=12.0, bpm2=110.0)
    loop, tapes, _, beats = play(FollowSettings(come_in="now", offset=0.0), guitarist,
                                 seconds=30.0, bpm=100.0)
    # back within ±20 ms two bars after the change
    assert max(errors_after(beats, guitarist, 12.0 + 8 * 60 / 110, 29.0)) < 0.020
    assert abs(loop.clock.tempo.bpm - 110.0) < 0.5
    # the kick and snare: never two at once, none missing: one per step position at most
    kit: list[NoteEvent] = [n for n in tapes["drums"].notes if n.voice in KIT]
    times = sorted(n.time for n in kit if n.voice == 0)
    assert all(b - a > 0.1 for a, b in zip(times, times[1:], strict=False))
    # between two re-anchors (one per beat at most) every sixteenth is exactly a quarter beat
    for (b0, t0), (b1, t1) in zip(beats, beats[1:], strict=False):
        steps = [n.time for n in kit if t0 - 1e-9 <= n.time < t1 - 1e-9]
        grid = [t0 + k * (t1 - t0) / 4 for k in range(4)]
        assert all(min(abs(s - g) for g in grid) < 1e-9 for s in steps)
        assert b1 - b0 == 1.0


def test_a_pushed_strum_does_not_drag_the_band() -> None:
    guitarist = Guitarist(120.0)
    loop, _, _, beats = play(FollowSettings(come_in="now", offset=0.0), guitarist)
    before = loop.clock.tempo.bpm
    assert abs(before - 120.0) < 0.2
    # the tracker's PLL moves its next beat by a quarter of a 40 ms push: the band by less
    pushed = guitarist.state(24.0)
    assert pushed is not None
    assert loop.book is not None
    loop.book.hear_beat(dataclasses.replace(pushed, next_beat=pushed.next_beat - 0.010))
    loop.clock.advance_to(25.0)
    assert abs(loop.clock.tempo.bpm - 120.0) < 3.0


def test_follow_zero_leads_and_count_in_clicks_one_bar() -> None:
    guitarist = Guitarist(96.0)
    loop, tapes, _, beats = play(FollowSettings(follow=0.0, come_in="count_in"), guitarist)
    assert loop.clock.tempo.bpm == 120.0 and beats[8][1] == pytest.approx(4.0)
    first_bar = [n for n in tapes["drums"].notes if n.time < 2.0 - 1e-9]
    assert [round(n.time, 6) for n in first_bar] == [0.0, 0.5, 1.0, 1.5]
    assert not [n for n in tapes["bass"].notes if n.time < 2.0 - 1e-9]
    assert min(n.time for n in tapes["bass"].notes) == pytest.approx(2.0)


def test_the_config_validates_follow_and_come_in() -> None:
    assert config_from_dict({"timing": {"follow": 0.5, "come_in": "now"}}).timing.follow == 0.5
    with pytest.raises(ConfigError, match="follow"):
        config_from_dict({"timing": {"follow": 1.5}})
    with pytest.raises(ConfigError, match="come_in"):
        config_from_dict({"timing": {"come_in": "later"}})


def test_a_band_half_a_bar_off_turns_around_onto_the_guitarists_one() -> None:
    """The band came in on the guitarist's beat 3 (beats right, bar lines wrong): the
    chord changes keep falling on the band's beat 2, so it drops two beats once and plays
    on the guitarist's one from there; the time grid does not move (no kick doubled)."""
    guitarist = Guitarist(120.0, first=0.0, one=1.0)
    band = Band(FollowSettings(come_in="now", offset=0.0), key="G:maj",
                progression=("G:maj",), following=True)
    clock, harmony, book, tapes, events, beats = (band.clock, band.harmony, band.book,
                                                  band.tapes, band.events, band.beats)
    form = [Chord.parse(x) for x in ("G", "D", "E:min", "C")]
    downbeats = [1.0 + 2.0 * k for k in range(16)]          # the guitarist's ones
    t = 0.0
    while t < 30.0:
        t += 0.02
        for k, down in enumerate(downbeats):
            if down + 0.3 <= t < down + 0.32:                # heard 0.3 s after the strum
                book.hear_chord(form[k % 4], down + 0.3, since=down)
                harmony.heard_chord = form[k % 4]
        clock.advance_to(t)
        state = guitarist.state(t)
        if state is not None:
            book.hear_beat(state)
    turns = [e for e in events if e["kind"] == "turn_around"]
    assert len(turns) == 1 and turns[0]["dropped"] == 2
    turned = float(turns[0]["t"])                           # type: ignore[arg-type]
    assert turned in downbeats
    ones = [t for b, t in beats if t >= turned and round(b) % 4 == 0]
    assert ones and all(min(abs(o - d) for d in downbeats) < 1e-6 for o in ones)
    # the band's time grid never moved: every drum note on the same sixteenth grid
    kit = [n.time for n in tapes["drums"].notes if n.voice in KIT]
    assert all(abs(x * 8 - round(x * 8)) < 1e-6 for x in kit)
    kicks = sorted(n.time for n in tapes["drums"].notes if n.voice == 0)
    assert all(b - a > 0.1 for a, b in zip(kicks, kicks[1:], strict=False))
    # from two bars after turning around, the keys' chord on every one is the guitarist's
    later = [d for d in downbeats if turned + 4.0 <= d <= 28.0]
    for down in later:
        k = downbeats.index(down)
        on = {n.pitch % 12 for n in tapes["harmony"].notes if abs(n.time - down) < 0.02}
        assert on and on <= set(form[k % 4].pitch_classes), (down, on, form[k % 4])



def test_no_turn_around_while_the_guitarists_own_downbeat_is_the_bands() -> None:
    """The same changes on the band's beat 2 (a chord dated a beat late, or a guitarist who
    changes on the three), but the beat tracker hears the guitarist's downbeat on the
    band's bar lines: the band does not drop beats."""
    guitarist = Guitarist(120.0, first=0.0)                 # their one on the band's
    band = Band(FollowSettings(come_in="now", offset=0.0), key="G:maj",
                progression=("G:maj",), following=True)
    form = [Chord.parse(x) for x in ("G", "D", "E:min", "C")]
    changes = [1.0 + 2.0 * k for k in range(16)]
    t = 0.0
    while t < 30.0:
        t += 0.02
        for k, change in enumerate(changes):
            if change + 0.3 <= t < change + 0.32:
                band.book.hear_chord(form[k % 4], change + 0.3, since=change)
                band.harmony.heard_chord = form[k % 4]
        band.clock.advance_to(t)
        state = guitarist.state(t)
        if state is not None:
            band.book.hear_beat(state)
    assert [e for e in band.events if e["kind"] == "turn_around"] == []
    ones = [t for b, t in band.beats if round(b) % 4 == 0 and t > 4.0]
    assert ones and all(abs(o / 2.0 - round(o / 2.0)) < 1e-6 for o in ones)

class RestingGuitarist(Guitarist):
    """A steady guitarist who stops playing at `rest` s: the tracker loses them (confidence 0,
    no next beat) but still holds the tempo it heard."""

    def __init__(self, bpm: float, rest: float, first: float = 0.37) -> None:
        super().__init__(bpm, first=first)
        self.rest = rest

    def state(self, now: float) -> GuitarBeat | None:
        state = super().state(min(now, self.rest))
        if state is None or now < self.rest:
            return state
        return dataclasses.replace(state, time=now, confidence=0.0, next_beat=math.inf)


def test_while_the_guitarist_rests_the_band_keeps_their_tempo_not_its_catching_up() -> None:
    # the band starts a fifth of a beat off the guitarist and is catching up (playing a few
    # percent fast) when the guitarist stops: it must go back to their tempo, not run on
    guitarist = RestingGuitarist(100.0, rest=3.3, first=0.12)
    loop, _, _, beats = play(FollowSettings(come_in="now", offset=0.0), guitarist,
                             seconds=12.0, bpm=100.0)
    resting = [t for _, t in beats if 5.0 <= t <= 12.0]
    spacings = [b - a for a, b in zip(resting, resting[1:], strict=False)]
    assert len(spacings) >= 10
    assert max(abs(s - 0.6) for s in spacings) < 1e-6


class TornTracker(Guitarist):
    """A steady guitarist whose tracker's beat clock sits a third of a beat early for two
    bars out of every three (torn between a syncopated comp's two accents)."""

    def state(self, now: float) -> GuitarBeat | None:
        state = super().state(now)
        if state is None or int(now / (8 * 60.0 / self.bpm)) % 3 == 2:
            return state
        return dataclasses.replace(state, next_beat=state.next_beat - state.period / 3)


def test_a_torn_tracker_cannot_drag_the_band_away_from_the_tempo() -> None:
    guitarist = TornTracker(132.0, first=0.2)
    loop, _, _, beats = play(FollowSettings(come_in="now", offset=0.0), guitarist,
                             seconds=30.0, bpm=132.0)
    spacings = [b - a for (_, a), (_, b) in zip(beats, beats[1:], strict=False)]
    # it catches up by playing a few percent faster or slower, never more
    period = 60.0 / 132.0
    assert max(abs(s / period - 1.0) for s in spacings) <= 0.06 + 1e-6
    assert abs(loop.clock.tempo.bpm - 132.0) < 132.0 * 0.06 + 1e-6


class LateTracker(Guitarist):
    """A fast guitarist whose beats the tracker reports only from `found` s on (its first
    seconds go into finding the tempo), counting its beats from there."""

    def __init__(self, bpm: float, found: float) -> None:
        super().__init__(bpm)
        self.found = found

    def state(self, now: float) -> GuitarBeat | None:
        heard = super().state(now)
        if heard is None or now < self.found:
            return None
        counted = len([b for b in self.beats(now) if b >= self.found])
        return dataclasses.replace(heard, beats=counted, started=self.first)


@pytest.mark.parametrize("started", [True, False])
def test_the_band_is_in_within_four_bars_of_the_guitarists_first_note(started: bool) -> None:
    """At 176 BPM the tracker's first 3.4 s are 2.5 bars: two more bars of its beats and the
    next bar line would make 5. Knowing when the guitarist began, the band comes in by the
    fourth bar; not knowing it, after `come_in_bars` bars of beat, as before."""
    guitarist = LateTracker(176.0, found=3.4)
    if not started:
        guitarist.state = lambda now: (                       # type: ignore[method-assign]
            None if (s := LateTracker.state(guitarist, now)) is None
            else dataclasses.replace(s, started=None))
    _, _, events, _ = play(FollowSettings(offset=0.0), guitarist, seconds=12.0)
    come_in = [e for e in events if e["kind"] == "come_in"]
    assert len(come_in) == 1
    entry = float(come_in[0]["t"])                         # type: ignore[arg-type]
    downbeats = guitarist.beats(30)[::4]
    bars = (entry - guitarist.first) / (4 * 60.0 / 176.0)
    assert min(abs(entry - d) for d in downbeats) < 0.002
    assert (bars <= 4.0 + 1e-6) if started else (bars > 4.0)


class UnsettledTracker(Guitarist):
    """A guitarist counted in at 96 who plays 96; the tracker, finding its feet, reports
    112 BPM (and its beats accordingly) for its first six beats."""

    def state(self, now: float) -> GuitarBeat | None:
        heard = super().state(now)
        if heard is None or heard.beats > 6:
            return heard
        return dataclasses.replace(heard, period=60.0 / 112.0,
                                   next_beat=heard.next_beat - 0.1)


def test_a_counted_in_band_keeps_its_tempo_until_the_tracker_has_settled() -> None:
    guitarist = UnsettledTracker(96.0, first=2.5)
    _, _, events, beats = play(FollowSettings(come_in="count_in"), guitarist, seconds=12.0,
                               bpm=96.0)
    settled = guitarist.beats(12.0)[2 * 4 - 1]            # the tracker's eighth beat
    early = [t for _, t in beats if t <= settled]
    spacings = [b - a for a, b in zip(early, early[1:], strict=False)]
    assert len(spacings) >= 8
    assert max(abs(s - 60.0 / 96.0) for s in spacings) < 1e-6
    assert not [e for e in events if e["kind"] == "band_tempo" and float(e["t"]) <= settled]


class SlowToHearTracker(Guitarist):
    """A guitarist going from 100 to 110 BPM at `change` s whose tracker goes on reporting
    the old tempo's beats for `delay` s, then the new tempo and that it heard a change."""

    def __init__(self, change: float, delay: float) -> None:
        super().__init__(100.0, first=0.2, change=change, bpm2=110.0)
        self.delay = delay

    def state(self, now: float) -> GuitarBeat | None:
        heard = super().state(now)
        if heard is None or now < self.change:
            return heard
        if now < self.change + self.delay:
            old = [b for b in self.beats(now) if b < self.change]
            grid = old[-1]
            while grid + 0.6 <= now:
                grid += 0.6
            return dataclasses.replace(heard, period=0.6, next_beat=grid + 0.6,
                                       last_beat=grid)
        return dataclasses.replace(heard, tempo_changed=self.change + self.delay)


@pytest.mark.parametrize("catch_up", [0.06, 0.12])
def test_left_behind_by_a_tempo_change_the_band_catches_up_harder(catch_up: float) -> None:
    """Heard 3 beats late, a 10 % change leaves the band 164 ms behind: with `catch_up`
    0.12 it closes half the gap a beat and is back within 20 ms two bars after the change,
    without overshooting; with 0.06 (no more than the usual lead) it is not. No beat's
    length moves by more than the catch-up allows."""
    change = 12.1
    guitarist = SlowToHearTracker(change, delay=3 * 60.0 / 110.0)
    settings = FollowSettings(come_in="now", offset=0.0, catch_up=catch_up)
    _, _, _, beats = play(settings, guitarist, seconds=24.0, bpm=100.0)
    bar = 4 * 60.0 / 110.0
    back = errors_after(beats, guitarist, change + 2 * bar, change + 4 * bar)
    if catch_up > settings.max_lead:
        assert max(back) < 0.020, [round(e, 3) for e in back]
    else:
        assert max(back) > 0.020
    times = [t for _, t in beats]
    spacings = [b - a for a, b in zip(times, times[1:], strict=False)]
    changes = [abs(b / a - 1.0) for a, b in zip(spacings, spacings[1:], strict=False)]
    assert max(changes) <= max(settings.max_change, catch_up) * 1.25


def test_a_band_listening_comes_in_by_the_fourth_bar_even_if_the_tracker_is_unsure() -> None:
    """A tracker locked on the beat but only 0.35 confident (a syncopated comp, say) still
    brings the band in by the fourth bar after the guitarist's first note
    (`latest_confidence` 0.3): a band that waits longer has missed the song's start."""
    guitarist = LateTracker(176.0, found=3.4)
    guitarist.state = lambda now: (                           # type: ignore[method-assign]
        None if (s := LateTracker.state(guitarist, now)) is None
        else dataclasses.replace(s, confidence=0.35))
    _, _, events, _ = play(FollowSettings(offset=0.0), guitarist, seconds=12.0)
    come_in = [e for e in events if e["kind"] == "come_in"]
    assert len(come_in) == 1
    bars = (float(come_in[0]["t"]) - guitarist.first) / (4 * 60.0 / 176.0)  # type: ignore[arg-type]
    assert bars <= 4.0 + 1e-6
    _, _, events, _ = play(FollowSettings(offset=0.0, latest_confidence=0.5), guitarist,
                           seconds=12.0)
    come_in = [e for e in events if e["kind"] == "come_in"]
    assert (float(come_in[0]["t"]) - guitarist.first) / (4 * 60.0 / 176.0) > 4.0  # type: ignore[arg-type]


def test_a_band_in_on_a_wrong_tempo_stops_and_comes_in_again_at_the_guitarists() -> None:
    """Live under dropouts a band came in at 172 BPM on a tracker's slip, with the guitarist
    at 108: too far to follow, it played on at 172 to the end. Now, the tracker holding 108
    for `lost_beats` beats, the band stops and comes in again on the guitarist's one."""
    guitarist = Guitarist(108.0)
    loop, tapes, events, beats = play(FollowSettings(come_in="now", offset=0.0), guitarist,
                                      seconds=30.0, bpm=172.0)
    lost = [e for e in events if e["kind"] == "lost"]
    assert len(lost) == 1 and lost[0]["guitar_bpm"] == pytest.approx(108.0, abs=0.1)
    stopped = float(lost[0]["t"])                            # type: ignore[arg-type]
    assert stopped < 8 * 60 / 172 + 4 * 60 / 108            # 8 beats, once it has their beat
    again = [e for e in events if e["kind"] == "come_in"]
    assert len(again) == 1
    back = float(again[0]["t"])                              # type: ignore[arg-type]
    downbeats = guitarist.beats(40)[::4]
    assert min(abs(back - d) for d in downbeats) < 0.002   # on one of the guitarist's 1s
    assert back - stopped < 2 * 4 * 60 / 108                 # within two of their bars
    notes = tapes["drums"].notes
    assert not [n for n in notes if stopped + 0.05 < n.time < back - 1e-6]   # silent between
    assert max(errors_after(beats, guitarist, back, 29.0)) < 0.002
    assert abs(loop.clock.tempo.bpm - 108.0) < 0.2


def test_a_lost_band_comes_back_at_the_guitarists_tempo_not_at_their_trackers_half() -> None:
    """Held-out 037: the band came in at 160 against a guitarist at 140 whose tracker then
    said 70 (half time). Lost, the band came in again at 70, half the tempo it had been
    playing. A band coming back takes the double (or half) of the tracker's tempo when that
    is within `max_ratio` of its own: 140 here. (A band lost at 172 against 108 still comes
    back at 108: 216 is too far from 172; the test above.)"""
    tracker = Guitarist(70.0)                     # every other beat of the guitarist's 140
    loop, _, events, beats = play(FollowSettings(come_in="now", offset=0.0), tracker,
                                  seconds=30.0, bpm=160.0)
    lost = [e for e in events if e["kind"] == "lost"]
    again = [e for e in events if e["kind"] == "come_in"]
    assert len(lost) == 1 and len(again) == 1
    assert again[0]["bpm"] == pytest.approx(140.0, abs=0.1)
    back = float(again[0]["t"])                              # type: ignore[arg-type]
    assert min(abs(back - d) for d in tracker.beats(40)[::4]) < 0.002     # on their 1
    guitarist = Guitarist(140.0)                  # the beats the guitarist plays
    assert max(errors_after(beats, guitarist, back, 29.0)) < 0.002
    assert abs(loop.clock.tempo.bpm - 140.0) < 0.2


def test_a_tempo_slip_of_the_tracker_shorter_than_lost_beats_does_not_stop_the_band() -> None:
    """Two bars of a tracker at 160 (a slip) while the guitarist plays 100: the band does
    not follow it and does not stop."""
    class Slipping(Guitarist):
        def state(self, now: float) -> GuitarBeat | None:
            state = super().state(now)
            if state is not None and 12.0 <= now < 12.0 + 7 * 0.6:
                return dataclasses.replace(state, period=60.0 / 160.0)
            return state

    guitarist = Slipping(100.0)
    loop, _, events, beats = play(FollowSettings(come_in="now", offset=0.0), guitarist,
                                  seconds=24.0, bpm=100.0)
    assert not [e for e in events if e["kind"] in ("lost", "come_in")]
    assert abs(loop.clock.tempo.bpm - 100.0) < 0.5


@pytest.mark.parametrize("closing", [0.5, 0.9])
def test_after_a_tempo_change_the_last_of_the_gap_is_closed_in_a_beat(closing: float) -> None:
    """The same 10 % change heard 3 beats late: once the catch-up has brought the band
    within a tenth of a beat, closing 0.9 of the phase error a beat (`catch_up_phase`) puts
    it within 20 ms a beat sooner than the usual 0.5 (measured: 15 ms against 40 ms on the
    seventh beat after the change), and nothing overshoots afterwards."""
    change = 12.1
    guitarist = SlowToHearTracker(change, delay=3 * 60.0 / 110.0)
    settings = FollowSettings(come_in="now", offset=0.0, catch_up_phase=closing)
    _, _, _, beats = play(settings, guitarist, seconds=24.0, bpm=100.0)
    errors = errors_after(beats, guitarist, change, change + 6 * 4 * 60.0 / 110.0)
    if closing > 0.5:
        assert max(errors[6:]) < 0.020, [round(e, 3) for e in errors]
    else:
        assert errors[6] > 0.020, [round(e, 3) for e in errors]
        assert max(errors[8:]) < 0.020


@pytest.mark.parametrize("near, far", [(0.08, 0.04), (0.05, 0.05), (-0.01, 0.08)])
def test_a_phase_gain_range_that_is_not_one_is_refused(near: float, far: float) -> None:
    with pytest.raises(ValueError, match="phase_near"):
        FollowSettings(phase_near=near, phase_far=far)


def test_the_phase_share_grows_from_near_to_far() -> None:
    follower = play(FollowSettings(come_in="now"), Guitarist(120.0), seconds=2.0)[0].tempo_follower
    assert follower is not None
    s = follower.settings
    assert follower._phase_gain(0.01) == s.phase_gain == follower._phase_gain(-s.phase_near)
    middle = (s.phase_near + s.phase_far) / 2
    assert follower._phase_gain(middle) == pytest.approx((s.phase_gain + s.far_phase_gain) / 2)
    assert follower._phase_gain(-0.2) == s.far_phase_gain
