"""The drummer: the style's groove, a fill at every phrase end, dynamics from intensity.

How intensity changes the playing:
- accents `X` always sound; ghost notes `x` need enough intensity: a ghost on the beat
  plays almost always, on an off-beat eighth from about 0.3, on a sixteenth from about 0.55;
- above ~0.55 the drummer adds its own ghost notes on the snare, above ~0.7 extra hats;
- below 0.35 fills come only every second phrase (every 8 bars in 4-bar phrases);
- everything gets louder with intensity; the downbeat is leaned on a little.
After a fill the next phrase starts with an open hat on the one (our crash).
"""

from __future__ import annotations

from performia.band.agent import Step
from performia.band.patterns import Hit, bar_and_position, beat_of, is_eighth, sixteenths_in
from performia.band.styles import Musician, humanise
from performia.events.note import NoteEvent

DRUM_PITCH: dict[str, int] = {"kick": 36, "snare": 38, "hat": 42, "openhat": 46}
VOICE_LEVEL: dict[str, float] = {"kick": 1.0, "snare": 1.0, "hat": 0.8, "openhat": 0.85}

ON_BEAT_GHOST_THRESHOLD = 0.0
EIGHTH_GHOST_THRESHOLD = 0.3
SIXTEENTH_GHOST_THRESHOLD = 0.55
THRESHOLD_WIDTH = 0.2          # how gradually ghost notes fade in around their threshold
EXTRA_SNARE_FROM = 0.55
EXTRA_HAT_FROM = 0.7
SPARSE_FILLS_BELOW = 0.35
DOWNBEAT_LIFT = 1.06


def ghost_chance(intensity: float, position: int) -> float:
    """Chance that a written ghost note on this sixteenth of the bar is played."""
    if position % 4 == 0:
        threshold = ON_BEAT_GHOST_THRESHOLD
    elif is_eighth(position):
        threshold = EIGHTH_GHOST_THRESHOLD
    else:
        threshold = SIXTEENTH_GHOST_THRESHOLD
    return min(1.0, max(0.0, (intensity - threshold) / THRESHOLD_WIDTH + 0.5))


class DrumsAgent(Musician):
    """The drummer (agent "drums", voices kick, snare, hat, openhat)."""

    name = "drums"

    @property
    def fill_every(self) -> int:
        """Bars between fills: one per phrase, one per two phrases when playing softly."""
        phrase = self.style.phrase_bars
        return phrase * 2 if self.intensity < SPARSE_FILLS_BELOW else phrase

    def is_fill_bar(self, bar: int) -> bool:
        return (bar + 1) % self.fill_every == 0

    def is_phrase_start(self, bar: int) -> bool:
        return bar > 0 and bar % self.fill_every == 0

    def step(self, step: Step) -> list[NoteEvent]:
        events: list[NoteEvent] = []
        for sixteenth in sixteenths_in(step.beat, step.length):
            events.extend(self._hits_on(step, sixteenth))
        return events

    def _hits_on(self, step: Step, sixteenth: int) -> list[NoteEvent]:
        bar, position = bar_and_position(sixteenth, step.beats_per_bar)
        fill = self.is_fill_bar(bar)
        time = self.time_at(step, beat_of(sixteenth))
        hits: list[NoteEvent] = []
        hat_open = False
        for voice, part in self.style.drums.parts():
            if voice == "hat" and hat_open:
                continue            # one hi-hat: it is open on this sixteenth
            velocity = self._velocity(step, voice, (part.fill if fill else part.groove)
                                      .at(position), position)
            if voice == "openhat" and position == 0 and self.is_phrase_start(bar):
                velocity = max(velocity, self._accent(step, voice, position))
            if velocity > 0.0:
                hits.append(NoteEvent.make(time, self.name, voice, DRUM_PITCH[voice],
                                           velocity))
                hat_open = hat_open or voice == "openhat"
        return hits

    def _velocity(self, step: Step, voice: str, hit: Hit, position: int) -> float:
        """How hard to hit this voice here, or 0.0 for silence."""
        if hit is Hit.ACCENT:
            return self._accent(step, voice, position)
        if hit is Hit.GHOST:
            if step.rng.random() < ghost_chance(self.intensity, position):
                return self._scaled(step, voice, Hit.GHOST.velocity, position)
            return 0.0
        if self._adds_ghost(step, voice, position):
            return self._scaled(step, voice, Hit.GHOST.velocity * 0.9, position)
        return 0.0

    def _adds_ghost(self, step: Step, voice: str, position: int) -> bool:
        """The drummer's own ghost notes on rests, only when playing hard."""
        if self.style.swung and not is_eighth(position):
            return False            # a swung groove moves in eighths
        if voice == "snare" and position % 4 != 0:
            return step.rng.random() < max(0.0, self.intensity - EXTRA_SNARE_FROM) * 0.5
        if voice == "hat":
            return step.rng.random() < max(0.0, self.intensity - EXTRA_HAT_FROM) * 0.8
        return False

    def _accent(self, step: Step, voice: str, position: int) -> float:
        return self._scaled(step, voice, Hit.ACCENT.velocity, position)

    def _scaled(self, step: Step, voice: str, written: float, position: int) -> float:
        velocity = written * VOICE_LEVEL[voice] * (0.7 + 0.3 * self.intensity)
        if position == 0:
            velocity *= DOWNBEAT_LIFT
        return humanise(step.rng, velocity, 0.03)
