"""The keys player: chord voicings with smooth voice leading, comped in the style's rhythm.

Voicings are 3 or 4 chord tones between E3 and E5 (MIDI 52..76), no wider than 14
semitones, no seconds between neighbouring notes. From one chord to the next the player
keeps common tones and moves the others by the smallest steps (it picks the voicing with
the least total movement from the previous one, staying near the middle of the keyboard).
A four-note voicing of a triad doubles the root; a three-note voicing of a seventh chord
leaves out the fifth; root and fifth alone (the third in doubt) are played in three notes.

Rhythm: one comping bar per bar from the style (rock half-note stabs, funk syncopated
sixteenth stabs, ballad whole-note pads, jazz comping on the swung 'ands'); a stab is held
for `hold` of the gap to the next one (1.0 = legato pad), at most `max_beats`.

The chord is the band's decision for the step (`step.chord`). When it changes inside a bar
(a change the form predicted, or a surprise heard from the guitarist) the player re-voices
at once: it releases what is still sounding and plays the new chord on that sixteenth.
While the band is unsure of the chord (`step.sure` is False) the keys wait.
"""

from __future__ import annotations

from itertools import combinations

from performia.band.agent import Step, release_notes
from performia.band.patterns import (
    Hit,
    Pattern,
    bar_and_position,
    beat_of,
    sixteenths_in,
    sixteenths_per_bar,
)
from performia.band.styles import Musician, Style, humanise
from performia.events.note import NoteEvent
from performia.theory import Chord

LOWEST = 52      # E3
HIGHEST = 76     # E5
TIME_TOLERANCE = 1e-6
CENTRE = 64      # E4: where voicings like to sit
MAX_SPAN = 14
MIN_GAP = 2      # no minor seconds between neighbouring voices

Voicing = tuple[int, ...]


def voicing_tones(chord: Chord, voices: int) -> tuple[int, ...]:
    """Pitch classes a voicing of `voices` notes must contain."""
    classes = chord.pitch_classes
    if voices >= len(classes):
        return classes
    if len(classes) == 4:
        return (classes[0], classes[1], classes[3])     # root, third, seventh
    return classes[:voices]


def chord_voicings(chord: Chord, voices: int, low: int = LOWEST,
                   high: int = HIGHEST) -> list[Voicing]:
    """Every playable voicing of `chord` with `voices` notes in [low, high], low to high."""
    if voices < 1:
        raise ValueError(f"a voicing needs at least one note, got {voices}")
    needed = set(voicing_tones(chord, voices))
    tones = [m for m in range(low, high + 1) if chord.contains(m)]
    strict: list[Voicing] = []
    loose: list[Voicing] = []
    for notes in combinations(tones, voices):
        if not needed <= {m % 12 for m in notes} or notes[-1] - notes[0] > MAX_SPAN:
            continue
        gaps_ok = all(b - a >= MIN_GAP for a, b in zip(notes, notes[1:], strict=False))
        (strict if gaps_ok else loose).append(notes)
    return strict or loose


def voice_movement(previous: Voicing, voicing: Voicing) -> int:
    """Total semitones the voices move (voice by voice, low to high, when sizes match)."""
    if len(previous) == len(voicing):
        return sum(abs(a - b) for a, b in zip(previous, voicing, strict=True))
    return sum(min(abs(note - old) for old in previous) for note in voicing)


def _doubling_penalty(chord: Chord, voicing: Voicing) -> float:
    classes = [m % 12 for m in voicing]
    doubled = {pc for pc in classes if classes.count(pc) > 1}
    return 0.0 if doubled <= {chord.root} else 3.0


def _register_penalty(voicing: Voicing) -> float:
    centre = sum(voicing) / len(voicing)
    return 0.3 * max(0.0, abs(centre - CENTRE) - 4.0)


def lead_voices(chord: Chord, previous: Voicing | None, voices: int) -> Voicing:
    """The voicing of `chord` that moves least from `previous` (or sits best if None). A
    chord of two tones (root and fifth) has at most three voices: four would span 19
    semitones."""
    candidates = chord_voicings(chord, min(voices, len(chord.pitch_classes) + 1))
    if not candidates:
        raise ValueError(f"no {voices}-note voicing of {chord} fits MIDI {LOWEST}..{HIGHEST}")

    def cost(voicing: Voicing) -> tuple[float, Voicing]:
        moved = 0.0 if previous is None else float(voice_movement(previous, voicing))
        penalty = _doubling_penalty(chord, voicing) + _register_penalty(voicing)
        return moved + penalty, voicing

    return min(candidates, key=cost)


class HarmonyAgent(Musician):
    """The keys (agent "harmony", voice "keys")."""

    name = "harmony"

    def __init__(self, style: Style, intensity: float | None = None, seed: int = 0) -> None:
        super().__init__(style, intensity, seed)
        self._bar = -1
        self._rhythm: Pattern = style.harmony.patterns[0]
        self._voicing: Voicing | None = None
        self._chord: Chord | None = None
        self._sounding_until = 0.0

    @property
    def voicing(self) -> Voicing | None:
        """The chord voicing currently in the player's hands."""
        return self._voicing

    def step(self, step: Step) -> list[NoteEvent]:
        events: list[NoteEvent] = []
        for sixteenth in sixteenths_in(step.beat, step.length):
            events.extend(self._play(step, sixteenth))
        return events

    def _play(self, step: Step, sixteenth: int) -> list[NoteEvent]:
        bar, position = bar_and_position(sixteenth, step.beats_per_bar)
        if bar != self._bar:
            self._bar = bar
            self._rhythm = step.rng.choice(self.style.harmony.patterns)
        if not step.sure:
            return []                      # wait: nothing that can clash
        time = self.time_at(step, beat_of(sixteenth))
        events: list[NoteEvent] = []
        changed = step.chord != self._chord
        if changed:
            if self._sounding_until > time + TIME_TOLERANCE:
                events.append(release_notes(time, self.name, "keys"))
                self._sounding_until = time
            self._chord = step.chord
            self._voicing = lead_voices(step.chord, self._voicing, self.style.harmony.voices)
        hit = self._rhythm.at(position)
        if hit is Hit.REST and changed and (position != 0 or events):
            hit = Hit.ACCENT               # re-voice now: the new chord on this sixteenth
        return events + self._stab(step, sixteenth, position, hit)

    def _stab(self, step: Step, sixteenth: int, position: int, hit: Hit) -> list[NoteEvent]:
        feel = self.style.harmony
        if hit is Hit.REST or self._voicing is None:
            return []
        if hit is Hit.GHOST and step.rng.random() >= feel.density * (0.5 + self.intensity):
            return []
        beat = beat_of(sixteenth)
        held = min(feel.max_beats, feel.hold * self._gap_beats(step, position))
        duration = self.seconds_between(step, beat, beat + held)
        loudness = 0.72 if hit is Hit.ACCENT else 0.55
        velocity = humanise(step.rng, loudness * (0.75 + 0.25 * self.intensity), 0.03)
        time = self.time_at(step, beat)
        self._sounding_until = max(self._sounding_until, time + duration)
        brightness = 0.2 + 0.5 * self.intensity
        return [NoteEvent.make(time, self.name, "keys", pitch, velocity, duration,
                               param=brightness) for pitch in self._voicing]

    def _gap_beats(self, step: Step, position: int) -> float:
        """Beats from this stab to the next one written in the bar (or to the bar line)."""
        bar_length = sixteenths_per_bar(step.beats_per_bar)
        following = [p for p in self._rhythm.onsets(bar_length) if p > position]
        return beat_of(min(following, default=bar_length) - position)
