"""The bassist: roots and fifths locked to the kick, leading notes into the next chord.

- Always plays the chord's root on the one of every bar.
- Plays its own rhythm from the style and, in rock/funk/ballad, wherever the kick just hit
  (it hears the drummer through `step.memory`): bass and kick move as one.
- Other notes are the root, sometimes the fifth or the octave: chord tones only.
- With `approach_probability` per bar it plays a leading note on the last eighth of the
  bar: a half step or a scale step into the next bar's root.
- Jazz: a walking line, a chord tone on every beat moving by the smallest step, the last
  beat aiming at the next root, and the swung 'and' of four as the approach.
- Register E1..E3 (MIDI 28..52), roots around D2; notes held ~0.8 of their slot.
- The chord is the band's decision for the step (`step.chord`); the approach aims at the
  chord the next bar is expected to start with (`step.next_chord`), and is left out when
  that is only a guess. When the chord changes inside a bar (a change the form predicted,
  or a surprise heard), the bass moves to the new root on that sixteenth, releasing the
  note still sounding. While the band is unsure of the chord it plays roots only.
"""

from __future__ import annotations

from performia.band.agent import Step, release_notes
from performia.band.patterns import (
    Hit,
    bar_and_position,
    beat_of,
    is_on_beat,
    sixteenths_in,
    sixteenths_per_bar,
)
from performia.band.styles import Musician, Style, humanise
from performia.events.note import NoteEvent
from performia.theory import Chord, Key, nearest_midi

LOWEST = 28     # E1
HIGHEST = 52    # E3
HOME = 38       # roots are chosen nearest to D2: between Ab1 and Ab2
TIME_TOLERANCE = 1e-6


def bass_root(chord: Chord) -> int:
    """The chord's root in the bass's home octave."""
    return nearest_midi(chord.root, HOME)


def in_bass_register(midi: int) -> int:
    """Fold a note into E1..E3 by octaves."""
    while midi > HIGHEST:
        midi -= 12
    while midi < LOWEST:
        midi += 12
    return midi


def chord_tones_in_register(chord: Chord) -> list[int]:
    return [m for m in range(LOWEST, HIGHEST + 1) if chord.contains(m)]


def approach_candidates(target: int, key: Key) -> list[int]:
    """Leading notes into `target`: a half step below/above, the scale step below/above."""
    scale = key.scale
    below = next(m for m in range(target - 1, target - 13, -1) if m % 12 in scale)
    above = next(m for m in range(target + 1, target + 13) if m % 12 in scale)
    notes = {target - 1, target + 1, below, above}
    return sorted(in_bass_register(m) for m in notes if m != target)


class BassAgent(Musician):
    """The bass player (agent "bass", voice "bass")."""

    name = "bass"

    def __init__(self, style: Style, intensity: float | None = None, seed: int = 0) -> None:
        super().__init__(style, intensity, seed)
        self._bar = -1
        self._approach_this_bar = False
        self._last_pitch = HOME
        self._walk_direction = 1
        self._chord: Chord | None = None
        self._sounding_until = 0.0

    def step(self, step: Step) -> list[NoteEvent]:
        kicks = self._kick_times(step) if self.style.bass.lock_to_kick else []
        events: list[NoteEvent] = []
        for sixteenth in sixteenths_in(step.beat, step.length):
            events.extend(self._play(step, sixteenth, kicks))
        return events

    def _play(self, step: Step, sixteenth: int, kicks: list[float]) -> list[NoteEvent]:
        bar, position = bar_and_position(sixteenth, step.beats_per_bar)
        if bar != self._bar:
            self._start_bar(step, bar)
        moved = step.chord != self._chord and position != 0
        self._chord = step.chord
        if moved:
            return self._move(step, sixteenth, position)
        event = self._note_on(step, sixteenth, kicks)
        return [] if event is None else [event]

    def _move(self, step: Step, sixteenth: int, position: int) -> list[NoteEvent]:
        """The chord changed inside the bar: the new root, now."""
        time = self.time_at(step, beat_of(sixteenth))
        events: list[NoteEvent] = []
        if self._sounding_until > time + TIME_TOLERANCE:
            events.append(release_notes(time, self.name, "bass"))
        events.append(self._note(step, sixteenth, position, bass_root(step.chord), 0.88))
        return events

    def _kick_times(self, step: Step) -> list[float]:
        """Times of the kicks the drummer put in this step (already in the band's memory)."""
        start = step.time_at(step.beat) - TIME_TOLERANCE
        end = step.time_at(step.beat + step.length)
        return [e.time for e in step.memory.recent("drums", since=start)
                if e.voice_name == "kick" and e.time < end]

    def _start_bar(self, step: Step, bar: int) -> None:
        self._bar = bar
        self._approach_this_bar = step.rng.random() < self.style.bass.approach_probability
        if self.style.bass.walking:
            root = bass_root(step.chord)
            target = bass_root(step.next_chord)
            toward = 1 if target >= root else -1
            self._walk_direction = toward if abs(target - root) >= 5 else -toward

    def _note_on(self, step: Step, sixteenth: int, kicks: list[float]) -> NoteEvent | None:
        _, position = bar_and_position(sixteenth, step.beats_per_bar)
        time = self.time_at(step, beat_of(sixteenth))
        chord = step.chord
        last_eighth = sixteenths_per_bar(step.beats_per_bar) - 2
        approach = self._approach_this_bar and step.next_sure and step.sure
        if approach and position == last_eighth:
            pitch, accent = self._approach(step), 0.78
        elif position == 0:
            pitch, accent = bass_root(chord), 0.92
        elif approach and position > last_eighth:
            return None                 # the approach note leads straight into the one
        elif self._plays_here(step, position, time, kicks):
            pitch = self._chord_tone(step, chord, position) if step.sure else bass_root(chord)
            accent = 0.8 if is_on_beat(position) else 0.68
        else:
            return None
        return self._note(step, sixteenth, position, pitch, accent)

    def _note(self, step: Step, sixteenth: int, position: int, pitch: int,
              accent: float) -> NoteEvent:
        beat = beat_of(sixteenth)
        time = self.time_at(step, beat)
        self._last_pitch = pitch
        velocity = humanise(step.rng, accent * (0.75 + 0.25 * self.intensity), 0.03)
        duration = self.style.bass.hold * self.seconds_between(
            step, beat, beat + self._slot_beats(step, position))
        self._sounding_until = time + duration
        return NoteEvent.make(time, self.name, "bass", pitch, velocity, duration,
                              param=0.25 + 0.45 * self.intensity)

    def _plays_here(self, step: Step, position: int, time: float, kicks: list[float]) -> bool:
        if any(abs(kick - time) < TIME_TOLERANCE for kick in kicks):
            return True
        hit = self.style.bass.pattern.at(position)
        if hit is Hit.ACCENT:
            return True
        if hit is Hit.GHOST:
            chance = min(1.0, self.style.bass.density * (0.5 + self.intensity))
            return step.rng.random() < chance
        return False

    def _chord_tone(self, step: Step, chord: Chord, position: int) -> int:
        if self.style.bass.walking:
            return self._walking_tone(step, chord, position)
        root = bass_root(chord)
        roll = step.rng.random()
        feel = self.style.bass
        if roll < feel.fifth_probability:
            return in_bass_register(root + (chord.fifth - chord.root) % 12)
        if roll < feel.fifth_probability + feel.octave_probability:
            return root + 12 if root + 12 <= HIGHEST else root - 12
        return root

    def _walking_tone(self, step: Step, chord: Chord, position: int) -> int:
        """A walking line: from the root it walks one way through the chord tones, and on
        the last beat it takes a chord tone close to the next root (without leaping)."""
        target = bass_root(step.next_chord)
        tones = [m for m in chord_tones_in_register(chord) if m not in (self._last_pitch, target)]
        last = self._last_pitch
        if position == sixteenths_per_bar(step.beats_per_bar) - 4:
            return min(tones, key=lambda m: (abs(m - target) + 0.75 * abs(m - last), m))
        ahead = [m for m in tones if (m - last) * self._walk_direction > 0] or tones
        return min(ahead, key=lambda m: (abs(m - last), m))

    def _approach(self, step: Step) -> int:
        """A leading note into the next root; one that is also a tone of the chord the band
        plays now when there is one (it agrees with the keys until the one)."""
        target = bass_root(step.next_chord)
        candidates = approach_candidates(target, step.harmony.key)
        fresh = [m for m in candidates if m != self._last_pitch] or candidates
        agreeing = [m for m in fresh if step.chord.contains(m)]
        return step.rng.choice(agreeing or fresh)

    def _slot_beats(self, step: Step, position: int) -> float:
        """Beats until the next place the bass expects to play (or the bar line)."""
        bar_length = sixteenths_per_bar(step.beats_per_bar)
        expected = set(self.style.bass.pattern.onsets(bar_length))
        if self.style.bass.lock_to_kick:
            expected.update(self.style.drums.kick.groove.onsets(bar_length))
        if self._approach_this_bar:
            expected.add(bar_length - 2)
        following = [p for p in expected if p > position]
        return beat_of(min(following, default=bar_length) - position)
