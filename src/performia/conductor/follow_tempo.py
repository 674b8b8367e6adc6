"""Following the guitarist's time: tempo and phase from the beat tracker, and coming in.

The band's clock is one epoch tempo map (`time = t0 + (beat − b0)·60/bpm`). Once the band
plays, it follows only by re-anchoring that map at one of its beats (`BandLoop.change_tempo`
at the step of the beat, before it decides its notes): the beat's own time never moves, the
beats after it come at the new tempo, so nothing is doubled or missed and the drums stay on
their exact samples between re-anchors. At each beat the band aims its next beat at the
guitarist's:

    period' = period + follow·(period_gain·(guitar period − period) − g·error)

where `error` is how late this beat of the band is against the nearest beat of the
guitarist (the tracker's beat clock, itself a phase-locked loop, so one pushed strum moves
it little) and g is `phase_gain` (0.1) for an error up to `phase_near`, growing to
`far_phase_gain` (0.5) at `phase_far`: a strum's few ms are not chased (at 0.5 for every
error the loop rang, ±10–20 ms over ~8 beats), a band left behind is brought back;
clamped to `max_change` of the period per beat, and the new period to within `max_lead` of
the guitarist's (a band catches up a beat by playing a little faster, never by
running away from the tempo: a wrong phase reading cannot drag it off). In the
`catch_up_bars` bars after the tracker heard the guitarist change tempo (`tempo_changed`),
the band, left behind while the change was being heard, takes their period less
`catch_up_phase` of the gap (most of it closed each beat, without overshooting), within
`catch_up` (12 %). `follow` = 0: the band leads.

A guitar tempo further than `max_ratio` from the band's (and not a metrical level of it) is
not followed: a tracker's slip must not drag the band. But when the tracker, locked, holds
such a tempo for `lost_beats` beats of the band in a row, it is the band that is wrong (it
came in on a tempo the tracker took for a moment, live under dropouts: a take at 108 BPM
played along at 172): the band stops where it is, listens as before it came in, and comes
in again on the guitarist's next downbeat at their tempo (one "lost" line, event and log),
or at its double or half when that is within `max_ratio` of the tempo the band had (a
tracker at half the guitarist's tempo must not halve the band's).

Coming in (`come_in`):
* `now`      the band plays from beat 0 at the configured tempo (and follows from there);
* `count_in` one bar of clicks at the configured tempo, the band from bar 1 (a take played
             with `--tempo` lines up with the band's bars from t = 0); it keeps that tempo
             until the tracker has passed `come_in_bars` bars of beats (a tracker finding its
             feet must not pull a band that knows the tempo);
* `listen`   the band listens (silent) until the tracker has the beat and a downbeat for
             `come_in_bars` bars (or, once it hears the beat with a confidence of
             `latest_confidence`, by the downbeat `latest_bars` bars after the
             guitarist's first note, whichever comes first),
             and comes in on the guitarist's next downbeat; before it
             is in, the map is simply replaced (nothing sounds, nothing can jump);
* `pedal`    as `listen`, but the band comes in at the bar line after the pedal (a mode
             change) once it has the beat.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

from performia.state.bar_phase import BarPhaseSettings, turned_around
from performia.state.tempo import FollowSettings, GuitarBeat
from performia.timing.clock import Clock
from performia.timing.tempo import TempoMap

log = logging.getLogger(__name__)

EPSILON = 1e-9

EventSink = Callable[[dict[str, Any]], None]


class TempoFollower:
    """Called by the band loop at the top of every step (`at_step`); says whether the band
    plays the step (`True`), clicks the count-in (`"count"`), or waits (`False`)."""

    def __init__(self, settings: FollowSettings, clock: Clock,
                 beat: Callable[[], GuitarBeat | None],
                 on_event: EventSink | None = None,
                 realign: Callable[[int, float], object] | None = None,
                 guitar: bool = True, mode: Callable[[], str] | None = None,
                 changes: Callable[[], list[float]] | None = None) -> None:
        self.settings = settings
        self.changes = changes                      # clock times of the chord changes heard
        self.bar_phase = BarPhaseSettings()
        self.last_turn: float = -math.inf           # the beat of the last turn-around
        self.clock = clock
        self.beat = beat
        self.on_event = on_event
        self.realign = realign
        self.mode = mode
        self.come_in = settings.come_in if guitar or settings.come_in == "count_in" else "now"
        self.entry: float | None = None             # the beat the band came in on
        self.first_mode = mode() if mode is not None else ""
        self.pedal = False
        self.locked_bars = 0
        self._logged_bpm = clock.tempo.bpm
        self.reanchors = 0
        self._followed: float | None = None         # the guitarist's period last followed
        self._astray = 0                            # band beats in a row out of their range
        self._lost_period: float | None = None      # the band's period when it lost them
        if self.come_in == "now":
            self.entry = -math.inf
        elif self.come_in == "count_in":
            self.entry = float(clock.tempo.beats_per_bar)

    @property
    def playing(self) -> bool:
        return self.entry is not None

    def at_step(self, beat: float) -> bool | str:
        tempo = self.clock.tempo
        if self.entry is not None and beat + EPSILON >= self.entry:
            if self.settings.follow > 0.0 and abs(beat - round(beat)) < EPSILON:
                self._follow(beat, tempo)
            if self.entry is not None:
                return True
            # lost the guitarist's time at this beat: listening again from it
        if self.entry is not None:                 # count_in: the first bar (listening: the
            return "count" if self.come_in == "count_in" else False   # beats before the one)
        self._listen(beat, tempo)
        if self.entry is not None and beat + EPSILON >= self.entry:
            return True
        return False

    def turn_around(self, beat: float) -> int:
        """Beats to drop at this step so that it is the one (0: none). The band is playing,
        following, and the guitarist's changes keep falling on this beat of the band's bar
        (`state/bar_phase.py`); at most once in the bars the evidence is counted over."""
        if (self.changes is None or self.settings.follow <= 0.0 or not self.playing
                or abs(beat - round(beat)) > EPSILON or self.entry is None
                or beat < self.entry or beat - self.last_turn < self._turn_gap()):
            return 0
        tempo = self.clock.tempo
        bpb = tempo.beats_per_bar
        place = turned_around([tempo.beat_at(t) for t in self.changes()], beat, bpb,
                              self.bar_phase)
        if place is None or round(beat) % bpb != place or self._downbeats_agree(beat):
            return 0
        self.last_turn = beat + bpb - place
        return bpb - place

    def _downbeats_agree(self, beat: float) -> bool:
        """The guitarist's downbeat, as the beat tracker hears it, falls on the band's next
        bar line (within a quarter beat): the band's bars are where they were, whatever the
        changes say (a change or two dated a beat off)."""
        guitar = self.beat()
        if guitar is None or not guitar.locked:
            return False
        tempo = self.clock.tempo
        bar_line = tempo.time_at(tempo.next_bar(beat + EPSILON))
        theirs = guitar.next_downbeat(bar_line - 0.5 * guitar.period, tempo.beats_per_bar)
        return theirs is not None and abs(theirs - bar_line) < 0.25 * guitar.period

    def _turn_gap(self) -> float:
        return float(self.bar_phase.bars * self.clock.tempo.beats_per_bar)

    # -- before the band is in --------------------------------------------------------------

    def _listen(self, beat: float, tempo: TempoMap) -> None:
        s = self.settings
        if self.mode is not None and self.mode() != self.first_mode:
            self.pedal = True
        guitar = self.beat()
        if guitar is None or not guitar.locked or guitar.confidence < s.min_confidence:
            return
        bpb = tempo.beats_per_bar
        now = tempo.time_at(beat)
        downbeat = guitar.next_downbeat(now + 0.5 * guitar.period, bpb)
        if downbeat is None:
            return
        self.locked_bars = guitar.beats // bpb
        target = downbeat + s.offset
        period = self._entry_period(guitar.period)
        bar_line = tempo.next_bar(beat + EPSILON)
        aligned = (abs(tempo.time_at(bar_line) - target) < 0.002
                   and abs(tempo.seconds_per_beat - period) < 1e-4)
        if not aligned:
            step = beat + 0.25
            bars_ahead = math.floor((step + (target - now) / period) / bpb + EPSILON)
            bar_line = float(bars_ahead * bpb)
            new = TempoMap(bpm=60.0 / period, t0=target, b0=bar_line, beats_per_bar=bpb)
            if new.time_at(step) <= now:
                bar_line += bpb
                new = TempoMap(bpm=new.bpm, t0=target, b0=bar_line, beats_per_bar=bpb)
            self.clock.set_map(new)
            if self.realign is not None:
                current = math.floor((step + EPSILON) / bpb)
                self.realign(current, new.time_at(current * bpb))
        ready = self.locked_bars >= s.come_in_bars or self._last_chance(guitar, beat)
        if self.come_in == "pedal":
            ready = self.pedal
        elif guitar.downbeat_confidence <= 0.0 and self.locked_bars < s.give_up_bars:
            ready = False
        if ready:
            bar_line = self.clock.tempo.next_bar(beat + 0.25)
            self.entry = bar_line
            self._logged_bpm = self.clock.tempo.bpm
            if self.on_event is not None:
                self.on_event({"t": round(self.clock.tempo.time_at(bar_line), 6),
                               "kind": "come_in", "beat": bar_line,
                               "bpm": round(self.clock.tempo.bpm, 2)})

    def _entry_period(self, theirs: float) -> float:
        """The band's period to come in at: the guitarist's; or, coming in again after it
        lost them, their double or half time if that is within `max_ratio` of the tempo the
        band had (a band at 160 against a guitarist at 140 whose tracker says 70 comes back
        at 140, not at half the tempo it was playing)."""
        lost = self._lost_period
        if lost is None:
            return theirs
        for level in (1.0, 0.5, 2.0):
            if abs(math.log(theirs * level / lost)) <= self.settings.max_ratio:
                return theirs * level
        return theirs

    def _last_chance(self, guitar: GuitarBeat, beat: float) -> bool:
        """The bar line after the next falls more than `latest_bars` bars after the
        guitarist's first note: come in on the next, once a bar of beat is heard with
        `latest_confidence`."""
        sure = guitar.confidence >= self.settings.latest_confidence
        if guitar.started is None or self.locked_bars < 1 or not sure:
            return False
        tempo = self.clock.tempo
        after_next = tempo.next_bar(beat + 0.25) + tempo.beats_per_bar
        bars = self.settings.latest_bars * tempo.beats_per_bar * guitar.period
        return tempo.time_at(after_next) > guitar.started + bars

    # -- playing ----------------------------------------------------------------------------

    def _follow(self, beat: float, tempo: TempoMap) -> None:
        s = self.settings
        guitar = self.beat()
        period = tempo.seconds_per_beat
        if guitar is None or not guitar.locked or guitar.confidence < s.min_confidence:
            # the guitarist rests (or the tracker lost them): no phase to chase, so the band
            # keeps their last tempo, not the few percent it was catching up a beat with
            self._astray = 0
            if self._followed is not None:
                self._set_period(self._followed, period, beat, tempo)
            return
        if self.come_in == "count_in" and guitar.beats < s.come_in_bars * tempo.beats_per_bar:
            return      # counted in: the band keeps its tempo until the tracker has settled
        theirs = self._their_period(guitar.period, period)
        if theirs is None:
            self._astray += 1
            if self._astray >= s.lost_beats:
                self._lost(beat, tempo, guitar)
            return
        self._astray = 0
        self._followed = theirs
        now = tempo.time_at(beat)
        # a tracker counting eighths has a beat on every beat of the band, and between:
        # the band's beat is aimed at the nearest of the tracker's beats
        unit = min(theirs, guitar.period)
        error = (now - s.offset - guitar.next_beat) % unit
        if error > unit / 2:
            error -= unit
        gain = s.follow * min(1.0, guitar.confidence / s.sure)   # an unsure tracker, gently
        if self._catching_up(guitar, now, theirs):
            # left behind while the change was heard: their period, less a share of the gap
            # (closing it in a few beats without overshooting), within `catch_up`
            change = gain * (theirs - s.catch_up_phase * error - period)
            most = lead = max(s.max_lead, s.catch_up)
        else:
            change = gain * (s.period_gain * (theirs - period) - self._phase_gain(error) * error)
            most, lead = s.max_change, s.max_lead
        change = max(-most * period, min(most * period, change))
        # catching up a beat is done by a few percent, never by running away from their tempo
        wanted = min(max(period + change, theirs * (1.0 - lead)), theirs * (1.0 + lead))
        self._set_period(wanted, period, beat, tempo)

    def _phase_gain(self, error: float) -> float:
        """The share of the phase `error` closed this beat: `phase_gain` for the few ms a
        strum lands off the tracker's beat (chasing those makes the band wander),
        `far_phase_gain` from `phase_far` on (the band is off), linear between."""
        s = self.settings
        reach = (abs(error) - s.phase_near) / (s.phase_far - s.phase_near)
        return s.phase_gain + (s.far_phase_gain - s.phase_gain) * min(max(reach, 0.0), 1.0)

    def _lost(self, beat: float, tempo: TempoMap, guitar: GuitarBeat) -> None:
        """The band plays at a tempo the guitarist is not playing: it stops here and listens
        again (`_listen`), to come in on their next downbeat."""
        theirs = 60.0 / guitar.period
        log.warning("the band lost the guitarist's time: they play at %.1f BPM, the band at "
                    "%.1f: it stops and comes in again on their next downbeat", theirs,
                    tempo.bpm)
        if self.on_event is not None:
            self.on_event({"t": round(tempo.time_at(beat), 6), "kind": "lost", "beat": beat,
                           "bpm": round(tempo.bpm, 2), "guitar_bpm": round(theirs, 2)})
        self.entry = None
        self.locked_bars = 0
        self._astray = 0
        self._followed = None
        self._lost_period = tempo.seconds_per_beat

    def _catching_up(self, guitar: GuitarBeat, now: float, theirs: float) -> bool:
        """The guitarist changed tempo in the last `catch_up_bars` bars (the tracker heard
        it a few beats late, and the band is behind or ahead by as much)."""
        changed = guitar.tempo_changed
        bar = theirs * self.clock.tempo.beats_per_bar
        return changed is not None and 0.0 <= now - changed <= self.settings.catch_up_bars * bar

    def _their_period(self, theirs: float, period: float) -> float | None:
        """The guitarist's beat period at the band's metrical level (a tracker at double,
        half, triple or a third of the band's tempo), or None if too far from the band's."""
        s = self.settings
        ratio = math.log(theirs / period)
        for octave in (math.log(2.0), -math.log(2.0), math.log(3.0), -math.log(3.0)):
            if abs(ratio - octave) < s.max_ratio / 2:
                theirs /= math.exp(octave)
                ratio -= octave
                break
        return theirs if abs(ratio) <= s.max_ratio else None

    def _set_period(self, wanted: float, period: float, beat: float, tempo: TempoMap) -> None:
        """Re-anchor the band at this beat to `wanted` s per beat (if worth it); log it."""
        s = self.settings
        if abs(wanted - period) < s.still:
            return
        bpm = 60.0 / wanted
        self.clock.set_tempo(bpm, beat)
        self.reanchors += 1
        if self.on_event is not None and abs(bpm - self._logged_bpm) >= s.log_step:
            self._logged_bpm = bpm
            self.on_event({"t": round(tempo.time_at(beat), 6), "kind": "band_tempo",
                           "beat": beat, "bpm": round(bpm, 2)})
