"""Which chord: an HMM forward filter over the chord vocabulary, fed NNLS chroma frames.

States: 12 roots × (maj, min, 7, maj7, min7, dim, sus4) and "no chord" (silence, a single-note
melody). Each frame scores every chord against the treble chroma (cosine with the chord's
tones) and the bass chroma (the share of the low notes on the root, and on any chord tone:
inversions are allowed, a root in the bass is preferred); "no chord" has a fixed score, and
wins when the notes heard do not make a chord (a melody, one note at a time) or the guitar is
silent, less a little when the notes of the last frames, held, make a chord together (an
arpeggio, one note at a time).
The scores become likelihoods (exp(sharpness · score): soft, as a 16,384-sample window every
4,096 samples sees each note in four frames, which are not independent evidence), and the
forward filter (causal: no smoothing over the future) carries the belief from frame to frame
with a high probability of staying.

    update(time, frame, gate_open) -> the chord when the decision changes, else None
    current, confidence
    heard_part() -> the chord decided, or its root and fifth when its third was not heard
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from performia.listen.chroma import NoteFrame
from performia.theory import Chord, Key

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.intp]

QUALITIES = ("maj", "min", "7", "maj7", "min7", "dim", "sus4")
THIRDS = {"maj": 4, "7": 4, "maj7": 4, "min": 3, "min7": 3}   # the third of each quality
                                                              # that has a perfect fifth
RARE = frozenset({"dim"})           # heard only on clear evidence (`rare_cost`)
NO_CHORD = "N"


@dataclass(frozen=True)
class ChordSettings:
    sharpness: float = 9.0          # log-likelihood per unit of score, per frame
    stay: float = 0.9               # probability of keeping the chord from one frame to the next
    none_stay: float = 0.5          # ... and of keeping "no chord" in the first `coming_in`
    coming_in: int = 8              # frames after the guitar comes in (a strum's first frames
                                    # look like no chord: the first chord must not wait ~0.5 s
                                    # to overturn them) ...
    rested: int = 12                # ... after at least this many frames of silence (~1 s)
    bass_root: float = 0.20         # score × the bass chroma's share on the root
    bass_tone: float = 0.15         # score × its share on any chord tone
    seventh_cost: float = 0.0       # plain triads preferred when the evidence is even
    major_seventh_cost: float = 0.07  # more for maj7: the major third's fifth (its 3rd
                                     # harmonic) is the major seventh
    rare_cost: float = 0.05         # dim: rare (a passing chord), chosen on clear evidence
    suspended_cost: float = 0.15    # sus4: heard only when the fourth is clearly there
    key_weight: float = 0.04        # score for a chord whose triad lies in the key's scale
    no_chord_score: float = 0.62    # the score of "no chord"
    silent_score: float = 2.0       # "no chord"'s score while the gate is closed
    held_decay: float = 0.85        # per frame: the notes of the last frames, held (0: off) ...
    held_fit: float = 0.9           # ... that fit a chord this well (cosine) ...
    held_none: float = 0.1          # ... take this off "no chord"'s score: an arpeggio's
                                    # notes one at a time are a chord, a melody's are not
    third_doubt: float = 0.5        # (log-likelihood) the chord's third beats the other's by
                                    # less: root and fifth are what was heard (`heard_part`)


def vocabulary() -> list[Chord | None]:
    """The states: every chord of QUALITIES on every root, then None (= no chord)."""
    chords: list[Chord | None] = [Chord(root, q) for q in QUALITIES for root in range(12)]
    return [*chords, None]


def _templates(chords: list[Chord | None]) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(unit tone templates, root masks, tone masks), one row per chord (None rows zero)."""
    tones = np.zeros((len(chords), 12))
    roots = np.zeros((len(chords), 12))
    for i, chord in enumerate(chords):
        if chord is None:
            continue
        tones[i, list(chord.pitch_classes)] = 1.0
        roots[i, chord.root] = 1.0
    norms = np.linalg.norm(tones, axis=1, keepdims=True)
    unit = np.divide(tones, norms, out=np.zeros_like(tones), where=norms > 0)
    return unit, roots, tones


def _cost(chord: Chord | None, settings: ChordSettings) -> float:
    if chord is not None and chord.quality in RARE:
        return settings.rare_cost
    if chord is not None and chord.quality == "sus4":
        return settings.suspended_cost
    if chord is None or len(chord.intervals) < 4:
        return 0.0
    extra = settings.major_seventh_cost if chord.quality == "maj7" else 0.0
    return settings.seventh_cost + extra


def _by_third(chords: list[Chord | None]) -> list[dict[int, tuple[IndexArray, IndexArray]]]:
    """For each root and third (3 or 4 semitones): the indices of the chords on that root
    with that third, and of those with the other third."""
    table: list[dict[int, tuple[IndexArray, IndexArray]]] = []
    for root in range(12):
        with_third = {third: np.array([i for i, c in enumerate(chords) if c is not None
                                       and c.root == root and THIRDS.get(c.quality) == third],
                                      dtype=np.intp) for third in (3, 4)}
        table.append({third: (with_third[third], with_third[7 - third]) for third in (3, 4)})
    return table


class ChordRecognizer:
    """Frames in, one chord decision per frame out (reported only when it changes)."""

    def __init__(self, settings: ChordSettings | None = None) -> None:
        self.settings = s = settings or ChordSettings()
        self.chords = vocabulary()
        self.unit, self.roots, self.tones = _templates(self.chords)
        self.cost = np.array([_cost(c, s) for c in self.chords])
        self.none_index = len(self.chords) - 1
        size = len(self.chords)
        self.belief = np.full(size, 1.0 / size)
        self.state = self.none_index
        self.reported: Chord | None = None
        self.started = False
        self._was_open = False
        self._in_key = np.zeros(len(self.chords))
        self.last_scores = np.zeros(len(self.chords))   # the last frame's scores (log-like)
        self._since_open = 0                # frames since the guitar came in
        self._held = np.zeros(12)           # the treble notes of the last frames, fading
        self._thirds = _by_third(self.chords)
        self._closed = s.rested             # frames of silence (the start counts as rested)
        self._stay = np.full(size, s.stay)
        self._stay[self.none_index] = s.none_stay

    def set_key(self, key: Key | None) -> None:
        """The key heard: chords whose triad lies in its scale (the raised seventh of the
        harmonic minor included: E:7 in A minor) get `key_weight` more."""
        self._in_key = np.zeros(len(self.chords))
        if key is None:
            return
        scale = set(key.scale)
        if key.mode == "min":
            scale.add((key.tonic + 11) % 12)
        for i, chord in enumerate(self.chords):
            if chord is not None and {(chord.root + k) % 12 for k in chord.intervals[:3]} <= scale:
                self._in_key[i] = 1.0

    @property
    def current(self) -> Chord | None:
        """The chord decided now (None: no chord, or nothing heard yet)."""
        return self.reported

    @property
    def confidence(self) -> float:
        return float(self.belief[self.state])

    def scores(self, frame: NoteFrame, gate_open: bool = True) -> FloatArray:
        """How well each state explains the frame (higher is better)."""
        s = self.settings
        treble = frame.treble
        norm = float(np.linalg.norm(treble))
        out = np.zeros(len(self.chords))
        if norm == 0 or not gate_open:
            out[self.none_index] = s.silent_score
            return out
        out = self.unit @ (treble / norm) - self.cost + s.key_weight * self._in_key
        none = s.no_chord_score + s.key_weight
        bass_total = float(frame.bass.sum())
        if bass_total > 0:
            bass = frame.bass / bass_total
            out += s.bass_root * (self.roots @ bass) + s.bass_tone * (self.tones @ bass)
            # the bass alone does not make a chord: "no chord" gets the best bass term a
            # chord could have, so the upper notes decide between a chord and none
            none += s.bass_root * float(bass.max()) + s.bass_tone
        if self._held_make_a_chord():
            none -= s.held_none
        out[self.none_index] = none
        return np.asarray(out, dtype=np.float64)

    def _hold(self, treble: FloatArray, gate_open: bool) -> None:
        """The treble notes of the last frames, each frame's weight fading by `held_decay`
        (unit length each); emptied while the gate is closed."""
        norm = float(np.linalg.norm(treble))
        if norm == 0 or not gate_open:
            self._held[:] = 0.0
        elif self.settings.held_decay > 0:
            self._held = self.settings.held_decay * self._held + treble / norm

    def _held_make_a_chord(self) -> bool:
        """Do the notes held fit one of the chords (cosine ≥ `held_fit`)?"""
        held = float(np.linalg.norm(self._held))
        return held > 0 and float(np.max(self.unit @ self._held)) >= self.settings.held_fit * held

    def update(self, frame: NoteFrame, gate_open: bool = True) -> tuple[bool, Chord | None]:
        """Take one frame; (changed, chord decided now)."""
        s = self.settings
        self._hold(frame.treble, gate_open)
        log_like = s.sharpness * self.scores(frame, gate_open)
        like = np.exp(log_like - log_like.max())
        size = len(self.belief)
        if gate_open and not self._was_open:
            # the guitar comes in: what it plays now owes nothing to the silence before
            self.belief = np.full(size, 1.0 / size)
            self._since_open = 0 if self._closed >= s.rested else s.coming_in
        self._was_open = gate_open
        self._closed = 0 if gate_open else self._closed + 1
        self._since_open += 1
        stay = self._stay if gate_open and self._since_open <= s.coming_in else s.stay
        leave = (1.0 - stay) * self.belief
        prior = stay * self.belief + (leave.sum() - leave) / (size - 1)
        posterior = prior * like
        self.belief = posterior / posterior.sum()
        self.last_scores = log_like
        state = int(np.argmax(self.belief))
        changed = state != self.state or not self.started
        self.started = True
        self.state = state
        self.reported = self.chords[state]
        return changed, self.reported

    def label(self) -> str:
        return NO_CHORD if self.reported is None else self.reported.label

    def heard_part(self) -> Chord | None:
        """The chord decided, or its root and fifth when the last frame did not tell its
        third: the best chord on its root with its third beat the best with the other
        third by less than `third_doubt` (A and E fingerpicked, the C never played, are A
        minor and A major alike; only the key the other chords make decides)."""
        chord = self.reported
        if chord is None or chord.quality not in THIRDS:
            return chord
        ours, theirs = self._thirds[chord.root][THIRDS[chord.quality]]
        margin = float(self.last_scores[ours].max() - self.last_scores[theirs].max())
        return Chord(chord.root, "5") if margin < self.settings.third_doubt else chord
