"""A play-along rehearsal without a server: the band loop on the offline clock, the ears
simulated from the truth (every chord change reported to the state book `latency` seconds
after the guitarist plays it), and the scores a band that follows is judged on.

    song = SongForm.parse("pop", "rock", "C:maj", ["C", "G", "A:min", "F"] * 3)
    scores = score(play_along(song, bpm=120))

A bar written "D:min7 G:7" splits it evenly (two chords: beats 0 and 2 in 4/4).
Used by bench/bench_playalong.py and its unit test.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from performia.band.agent import BandMemory
from performia.band.band import make_band
from performia.conductor.band_loop import BandLoop
from performia.events.note import NoteEvent, NoteKind
from performia.state.book import StateBook
from performia.state.context import HarmonicContext, Listening
from performia.state.form import longest_context
from performia.state.musical_state import BarChords, chord_in_bar
from performia.theory import Chord, Key
from performia.timing.clock import OfflineClock
from performia.timing.tempo import TempoMap

LOOKAHEAD = 0.003
ONSET_WINDOW = 0.02       # s: a note starting this close to a downbeat is "on" it


@dataclass(frozen=True)
class SongForm:
    name: str
    style: str
    key: Key
    bars: tuple[BarChords, ...]
    beats_per_bar: int = 4

    @classmethod
    def parse(cls, name: str, style: str, key: str, bars: Sequence[str],
              beats_per_bar: int = 4) -> SongForm:
        parsed = []
        for bar in bars:
            labels = bar.split()
            share = beats_per_bar // len(labels)
            parsed.append(tuple((i * share, Chord.parse(label)) for i, label in enumerate(labels)))
        return cls(name, style, Key.parse(key), tuple(parsed), beats_per_bar)

    def changes(self) -> list[tuple[float, Chord]]:
        """(song beat, chord) of every chord change, in order."""
        result: list[tuple[float, Chord]] = []
        for index, bar in enumerate(self.bars):
            for beat, chord in bar:
                if not result or result[-1][1] != chord:
                    result.append((index * self.beats_per_bar + beat, chord))
        return result

    def chord_at(self, beat: float) -> Chord:
        bar = min(int(beat // self.beats_per_bar), len(self.bars) - 1)
        return chord_in_bar(self.bars[bar], beat - bar * self.beats_per_bar)


@dataclass
class NoteTape:
    """A ring stand-in that keeps every note written."""

    notes: list[NoteEvent] = field(default_factory=list)

    @property
    def written(self) -> int:
        return len(self.notes)

    @property
    def dropped(self) -> int:
        return 0

    def write_many(self, events: list[NoteEvent]) -> int:
        self.notes.extend(events)
        return len(events)


@dataclass
class Performance:
    song: SongForm
    tempo: TempoMap
    notes: dict[str, list[NoteEvent]]
    predictions: list[dict[str, object]]


def play_along(song: SongForm, bpm: float, latency: float = 0.3, seed: int = 1,
               anticipate: bool = True) -> Performance:
    """The band plays `song` with a guitarist it hears `latency` s late (`anticipate`
    False: without the state book, playing the chord heard, as the band did before)."""
    tempo = TempoMap(bpm=bpm, t0=0.0, beats_per_bar=song.beats_per_bar)
    clock = OfflineClock(tempo, lookahead=LOOKAHEAD)
    tonic = Chord(song.key.tonic, "maj" if song.key.mode == "maj" else "min")
    harmony = HarmonicContext(song.key, [tonic], following=True)
    book = StateBook(song.key, beat_at=tempo.beat_at, beats_per_bar=song.beats_per_bar, bpm=bpm)
    tapes = {name: NoteTape() for name in ("drums", "bass", "harmony", "melody")}
    predictions: list[dict[str, object]] = []
    loop = BandLoop(agents=make_band(song.style, seed), writers=dict(tapes), clock=clock,
                    harmony=harmony, listening=Listening(playing=True, mode="follow"),
                    memory=BandMemory(), seed=seed, book=book if anticipate else None,
                    on_event=predictions.append)
    loop.begin(0.0)
    for beat, chord in song.changes():
        heard = tempo.time_at(beat) + latency
        clock.advance_to(heard)
        harmony.heard_chord = chord
        book.hear_chord(chord, heard)
    clock.advance_to(tempo.time_at(len(song.bars) * song.beats_per_bar) - 0.01)
    return Performance(song, tempo, {k: v.notes for k, v in tapes.items()}, predictions)


# -- scoring -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sounding:
    start: float
    end: float
    pitch: int


@dataclass(frozen=True)
class Scores:
    predictable: int               # bars the form heard so far makes predictable
    keys_right: int                # ... with the keys on the right chord at the downbeat
    bass_right: int                # ... with the bass on the right root at the downbeat
    both_right: int
    corrections: tuple[float, ...]  # beats from each wrong-footed change to the band right
    bass_notes: int                # bass notes sounding with the keys
    agreeing: int                  # ... that are tones of the keys' chord
    approach_notes: int            # ... of which leading notes into the next bar (not tones)

    @property
    def right_share(self) -> float:
        return self.both_right / self.predictable if self.predictable else 1.0

    @property
    def median_correction(self) -> float:
        return statistics.median(self.corrections) if self.corrections else 0.0

    @property
    def agreement(self) -> float:
        return self.agreeing / self.bass_notes if self.bass_notes else 1.0

    @property
    def agreement_besides_approaches(self) -> float:
        counted = self.bass_notes - self.approach_notes
        return self.agreeing / counted if counted > 0 else 1.0


def predictable_bars(bars: Sequence[BarChords]) -> list[int]:
    """Bars whose chords are what followed the longest earlier occurrence of the bars
    before them, every time it occurred."""
    found = []
    for n in range(1, len(bars)):
        context, followers = longest_context(bars[:n], 32)
        if context > 0 and all(bars[j] == bars[n] for j in followers):
            found.append(n)
    return found


def soundings(notes: Sequence[NoteEvent]) -> list[Sounding]:
    """Notes with the end a release event gave them."""
    releases = sorted(e.time for e in notes if e.kind == NoteKind.RELEASE)
    result = []
    for note in notes:
        if note.kind == NoteKind.RELEASE:
            continue
        end = note.time + max(note.duration, 0.05)
        cut = next((r for r in releases if note.time < r < end), None)
        result.append(Sounding(note.time, end if cut is None else cut, note.pitch))
    return result


def logged_soundings(lines: Sequence[dict[str, Any]], agent: str) -> list[Sounding]:
    """An agent's notes from `--events` lines, as they sounded: a line with velocity and
    duration 0 releases the agent's notes then (docs/EVENTS.md)."""
    mine = [e for e in lines if e.get("agent") == agent and "midi" in e]
    releases = sorted(e["t"] for e in mine if e["vel"] == 0 and e["dur"] == 0)
    notes = []
    for e in mine:
        if e["vel"] == 0 and e["dur"] == 0:
            continue
        end = e["t"] + max(float(e["dur"]), 0.05)
        notes.append(Sounding(e["t"], next((r for r in releases if e["t"] < r < end), end),
                              int(e["midi"])))
    return notes


def sounding_at(notes: Sequence[Sounding], time: float) -> list[Sounding]:
    return [n for n in notes if n.start <= time < n.end]


def keys_right(keys: Sequence[Sounding], chord: Chord, downbeat: float, until: float) -> bool:
    """The keys' chord at the downbeat (or, when their rhythm rests on the one, their first
    chord in the bar, with nothing else left ringing) is `chord`, with its root or third."""
    on = [n for n in keys if abs(n.start - downbeat) < ONSET_WINDOW]
    if not on:
        ringing = sounding_at(keys, downbeat + ONSET_WINDOW)
        if any(not chord.contains(n.pitch) for n in ringing):
            return False
        later = [n for n in keys if downbeat + ONSET_WINDOW <= n.start < until]
        if not later:
            return False
        first = min(n.start for n in later)
        on = [n for n in later if n.start - first < ONSET_WINDOW]
    classes = {n.pitch % 12 for n in on}
    return classes <= set(chord.pitch_classes) and bool(
        classes & {chord.root, chord.pitch_classes[1]})


def bass_right(bass: Sequence[Sounding], chord: Chord, downbeat: float) -> bool:
    on = [n for n in bass if abs(n.start - downbeat) < ONSET_WINDOW]
    return bool(on) and all(n.pitch % 12 == chord.root for n in on)


def band_right(keys: Sequence[Sounding], bass: Sequence[Sounding], chord: Chord,
               time: float) -> bool:
    sounding = sounding_at(keys, time) + sounding_at(bass, time)
    return bool(sounding) and all(chord.contains(n.pitch) for n in sounding)


def correction_beats(performance: Performance, keys: Sequence[Sounding],
                     bass: Sequence[Sounding]) -> list[float]:
    """For every change the band was not on when it came: beats until it was."""
    song, tempo = performance.song, performance.tempo
    changes = song.changes()
    result = []
    for index, (beat, chord) in enumerate(changes[1:], start=1):
        start = tempo.time_at(beat)
        end = tempo.time_at(changes[index + 1][0]) if index + 1 < len(changes) else (
            tempo.time_at(len(song.bars) * song.beats_per_bar))
        if band_right(keys, bass, chord, start + ONSET_WINDOW):
            continue
        onsets = sorted({n.start for n in (*keys, *bass) if start <= n.start < end})
        fixed = next((t for t in onsets if band_right(keys, bass, chord, t + 0.001)), end)
        result.append(tempo.beat_at(fixed) - beat)
    return result


def keys_chord(keys: Sequence[Sounding], candidates: Sequence[Chord], time: float) -> Chord | None:
    """The chord the keys sound at `time`: the candidate holding all their notes."""
    classes = {n.pitch % 12 for n in sounding_at(keys, time)}
    if not classes:
        return None
    holding = [c for c in candidates if classes <= set(c.pitch_classes)]
    return min(holding, key=lambda c: len(c.pitch_classes), default=None)


def score(performance: Performance) -> Scores:
    song, tempo = performance.song, performance.tempo
    keys = soundings(performance.notes["harmony"])
    bass = soundings(performance.notes["bass"])
    bars = predictable_bars(song.bars)
    keys_ok = bass_ok = both = 0
    for bar in bars:
        beat = bar * song.beats_per_bar
        chord = song.bars[bar][0][1]
        following = [b for b, _ in song.changes() if b > beat]
        until = tempo.time_at(min(following, default=beat + song.beats_per_bar))
        k = keys_right(keys, chord, tempo.time_at(beat), until)
        b = bass_right(bass, chord, tempo.time_at(beat))
        keys_ok, bass_ok, both = keys_ok + k, bass_ok + b, both + (k and b)
    candidates = sorted({c for bar in song.bars for _, c in bar}, key=lambda c: c.label)
    counted = agreeing = approaches = 0
    for note in bass:
        keys_on = keys_chord(keys, candidates, note.start + 0.001)
        if keys_on is None:
            continue
        counted += 1
        if keys_on.contains(note.pitch):
            agreeing += 1
        elif _leads_into_bar(note, bass, tempo, song.beats_per_bar):
            approaches += 1
    return Scores(len(bars), keys_ok, bass_ok, both,
                  tuple(correction_beats(performance, keys, bass)), counted, agreeing,
                  approaches)


def _leads_into_bar(note: Sounding, bass: Sequence[Sounding], tempo: TempoMap,
                    beats_per_bar: int) -> bool:
    """A leading note: in a bar's last beat, a step or less from the next downbeat's note."""
    beat = tempo.beat_at(note.start)
    next_bar = (int(beat // beats_per_bar) + 1) * beats_per_bar
    if next_bar - beat > 1.0:
        return False
    downbeat = tempo.time_at(next_bar)
    landing = [n for n in bass if abs(n.start - downbeat) < ONSET_WINDOW]
    return bool(landing) and abs((landing[0].pitch - note.pitch + 6) % 12 - 6) <= 2
