"""The lead: short phrases in the key, answering the guitarist in the gaps.

- Notes come from the key's scale between E4 and E6 (MIDI 64..88); on beats one and three
  the lead lands on a chord tone, on the other beats usually, in between it moves mostly by
  scale steps with the odd small leap, turning round at the edges of its register.
- Phrases: `play_bars` bars of playing, then `rest_bars` bars of space; the last note of a
  phrase is held and resolves to the chord's root or third.
- Call and response: while the guitarist plays (`listening.playing`) and for one beat after
  the last thing heard from them, the lead is silent. When the guitarist stops, the lead
  answers for `play_bars` bars, starting from the pitch it last heard from the guitar.
"""

from __future__ import annotations

import math

from performia.band.agent import Step
from performia.band.patterns import (
    SIXTEENTH,
    bar_and_position,
    beat_of,
    is_eighth,
    sixteenths_in,
)
from performia.band.styles import Musician, Style, humanise
from performia.events.note import NoteEvent
from performia.theory import Chord, Key

LOWEST = 64     # E4
HIGHEST = 88    # E6
START = 71      # B4: where the first phrase starts
SPACE_AFTER_GUITAR_BEATS = 1.0
TURN_CHANCE = 0.2


def scale_notes(key: Key, low: int = LOWEST, high: int = HIGHEST) -> list[int]:
    """The key's scale as MIDI notes in [low, high], low to high."""
    return [m for m in range(low, high + 1) if m % 12 in key.scale]


def hz_to_midi(hz: float) -> int:
    if hz <= 0.0 or not math.isfinite(hz):
        raise ValueError(f"a pitch in Hz must be > 0, got {hz}")
    return round(69 + 12 * math.log2(hz / 440.0))


def nearest_in(notes: list[int], around: int) -> int:
    """The note of `notes` closest to `around` (the lower one on a tie)."""
    return min(notes, key=lambda m: (abs(m - around), m))


class MelodyAgent(Musician):
    """The lead (agent "melody", voice "lead")."""

    name = "melody"

    def __init__(self, style: Style, intensity: float | None = None, seed: int = 0) -> None:
        super().__init__(style, intensity, seed)
        self._busy_until = -math.inf      # beat when the sounding note ends
        self._last_pitch = START
        self._direction = 1
        self._phrase_open = False
        self._guitar_heard_at = -math.inf  # clock seconds of the last sign of the guitar

    def step(self, step: Step) -> list[NoteEvent]:
        self._listen(step)
        events: list[NoteEvent] = []
        for sixteenth in sixteenths_in(step.beat, step.length):
            event = self._note_on(step, sixteenth)
            if event is not None:
                events.append(event)
        return events

    # -- listening ---------------------------------------------------------------------

    def _listen(self, step: Step) -> None:
        heard = step.listening
        if heard.playing:
            self._guitar_heard_at = max(self._guitar_heard_at, step.time_at(step.beat))
        if heard.last_onset_time > 0.0:   # 0.0 means nothing has been heard yet
            self._guitar_heard_at = max(self._guitar_heard_at, heard.last_onset_time)

    def leaves_space(self, step: Step, time: float) -> bool:
        """True while the guitarist plays and for a beat after the last thing heard."""
        beat_seconds = 60.0 / step.bpm
        return (step.listening.playing
                or time - self._guitar_heard_at < SPACE_AFTER_GUITAR_BEATS * beat_seconds)

    def _answer_until(self, step: Step) -> float:
        """Clock time until which the lead answers the guitarist's last phrase."""
        beat_seconds = 60.0 / step.bpm
        answer = self.style.melody.play_bars * step.beats_per_bar * beat_seconds
        return self._guitar_heard_at + SPACE_AFTER_GUITAR_BEATS * beat_seconds + answer

    # -- phrasing ----------------------------------------------------------------------

    def _phrase_end(self, step: Step, sixteenth: int, time: float) -> int | None:
        """The sixteenth where the current phrase ends, or None outside a phrase."""
        feel = self.style.melody
        bar, _ = bar_and_position(sixteenth, step.beats_per_bar)
        steps_per_bar = step.beats_per_bar * 4
        ends: list[int] = []
        cycle = feel.play_bars + feel.rest_bars
        if bar % cycle < feel.play_bars:
            ends.append((bar - bar % cycle + feel.play_bars) * steps_per_bar)
        answer_left = self._answer_until(step) - time
        if answer_left > 0.0:
            ends.append(sixteenth + math.floor(answer_left * step.bpm / 60.0 * 4))
        end = max(ends, default=None)
        return end if end is not None and end > sixteenth else None

    def _open_phrase(self, step: Step, time: float) -> None:
        """Pick the starting note and direction of a new phrase."""
        answering = self._answer_until(step) > time
        heard_hz = step.listening.pitch
        scale = scale_notes(step.harmony.key)
        if answering and heard_hz > 0.0 and math.isfinite(heard_hz):
            heard = hz_to_midi(heard_hz)
            while heard < LOWEST:
                heard += 12
            while heard > HIGHEST:
                heard -= 12
            self._last_pitch = nearest_in(scale, heard)
        self._direction = 1 if self._last_pitch < 76 else -1
        if step.rng.random() < TURN_CHANCE:
            self._direction = -self._direction
        self._phrase_open = True

    def _note_on(self, step: Step, sixteenth: int) -> NoteEvent | None:
        beat = beat_of(sixteenth)
        time = self.time_at(step, beat)
        end = None if self.leaves_space(step, time) else self._phrase_end(step, sixteenth, time)
        if end is None:
            self._phrase_open = False
            return None
        _, position = bar_and_position(sixteenth, step.beats_per_bar)
        feel = self.style.melody
        if beat < self._busy_until or (not feel.on_sixteenths and not is_eighth(position)):
            return None
        if not self._phrase_open:
            self._open_phrase(step, time)
        strong = position % 8 == 0
        chance = feel.density * (0.6 + 0.6 * self.intensity) + (0.2 if strong else 0.0)
        if step.rng.random() >= chance:
            return None                                   # a breath
        length = step.rng.choice(feel.note_lengths)
        final = end - sixteenth <= length
        length = min(length, end - sixteenth)
        chord = step.chord
        pitch = (self._resolution(step, chord) if final
                 else self._next_pitch(step, chord, position))
        return self._play(step, beat, time, pitch, length, position, final)

    def _play(self, step: Step, beat: float, time: float, pitch: int, length: int,
              position: int, final: bool) -> NoteEvent:
        self._last_pitch = pitch
        self._busy_until = beat + length * SIXTEENTH
        articulation = max(self.style.melody.articulation, 0.95) if final else (
            self.style.melody.articulation)
        duration = articulation * self.seconds_between(step, beat, self._busy_until)
        loudness = 0.82 if position % 8 == 0 else 0.74 if position % 4 == 0 else 0.66
        loudness += 0.004 * (pitch - START)               # lines swell as they climb
        velocity = humanise(step.rng, loudness * (0.75 + 0.25 * self.intensity), 0.03)
        brightness = min(1.0, 0.35 + 0.4 * self.intensity + 0.01 * (pitch - START))
        return NoteEvent.make(time, self.name, "lead", pitch, velocity, duration,
                              param=max(0.0, brightness))

    # -- choosing notes ----------------------------------------------------------------

    def _next_pitch(self, step: Step, chord: Chord, position: int) -> int:
        if self._last_pitch >= HIGHEST - 6:
            self._direction = -1
        elif self._last_pitch <= LOWEST + 4:
            self._direction = 1
        elif step.rng.random() < TURN_CHANCE:
            self._direction = -self._direction
        on_beat = position % 4 == 0
        if position % 8 == 0 or (on_beat and step.rng.random() < 0.6):
            return self._chord_tone(step, chord)
        return self._scale_step(step)

    def _chord_tone(self, step: Step, chord: Chord) -> int:
        """A chord tone from the scale, near where the line is heading."""
        scale = scale_notes(step.harmony.key)
        tones = [m for m in scale if chord.contains(m)] or [
            m for m in range(LOWEST, HIGHEST + 1) if chord.contains(m)]
        target = self._last_pitch + 2 * self._direction
        ranked = sorted(tones, key=lambda m: (abs(m - target), m))
        return ranked[0] if len(ranked) < 2 or step.rng.random() < 0.7 else ranked[1]

    def _scale_step(self, step: Step) -> int:
        """Move along the scale: mostly a step, sometimes a third or a fourth."""
        scale = scale_notes(step.harmony.key)
        index = scale.index(nearest_in(scale, self._last_pitch))
        index += self._direction * step.rng.choice((1, 1, 1, 1, 2, 2, 3))
        if not 0 <= index < len(scale):
            self._direction = -self._direction
            index = min(len(scale) - 1, max(0, index))
        return scale[index]

    def _resolution(self, step: Step, chord: Chord) -> int:
        """The phrase's last note: the root or third nearest below-ish where we are."""
        home = {chord.root, chord.pitch_classes[1]}
        tones = [m for m in range(LOWEST, HIGHEST + 1) if m % 12 in home]
        return nearest_in(tones, self._last_pitch - 1)
