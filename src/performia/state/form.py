"""Form memory: the chords heard bar by bar, the song form found in them, and a prediction
of the next bar (its chord and its changes within the bar) with a confidence 0..1.

Three voices vote for the next bar, each with a reliability 0..1:

- **What followed the same context before** (suffix matching): the longest run of bars
  ending now that occurred earlier; the bars that followed it vote. When they disagree
  (A B → C in the first half of a form, A B → E in the second), the ones at the same place
  in the form found win.
- **The form** (repeats of 2, 4, 8, 12, 16, 32 bars): the period whose recent bars agree
  best with the bars one period earlier says "the bar one period ago comes again".
- **The forms musicians share** (12-bar blues, ii–V–I, I–V–vi–IV, I–vi–IV–V, relative to
  the key): weak priors, never confident on their own.

Confidence of the winner = 1 − Π(1 − reliability × share of its vote) over the voices for
it, times Π(1 − ½ × reliability × share against it) over every voice: agreeing voices add
up, a voice that disagrees halves its weight off. Pure logic: no clock, no threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from performia.state.musical_state import BarChords, BarHeard, FormFound, Prediction
from performia.theory import Chord, Key

PERIODS = (2, 4, 8, 12, 16, 32)
TRIADS = {"7": "maj", "maj7": "maj", "min7": "min"}
HALF_LIKE = 0.5               # see `likeness`
MAJOR_THIRD_DOWN = 3          # a minor key's relative major is 3 semitones up

# (semitones above the major tonic, quality) for each bar of a form everybody knows
SHARED_FORMS: dict[str, tuple[tuple[int, str], ...]] = {
    "12-bar blues": ((0, "7"), (0, "7"), (0, "7"), (0, "7"), (5, "7"), (5, "7"),
                     (0, "7"), (0, "7"), (7, "7"), (5, "7"), (0, "7"), (7, "7")),
    "ii-V-I": ((2, "min7"), (7, "7"), (0, "maj7"), (0, "maj7")),
    "I-V-vi-IV": ((0, "maj"), (7, "maj"), (9, "min"), (5, "maj")),
    "I-vi-IV-V": ((0, "maj"), (9, "min"), (5, "maj"), (7, "maj")),
}

Votes = dict[BarChords, float]     # a bar → share of one voice's vote (sums to 1)


@dataclass(frozen=True, slots=True)
class FormSettings:
    history: int = 128              # bars remembered
    longest_context: int = 32       # bars of context compared at most
    periods: tuple[int, ...] = PERIODS
    recency: float = 0.85           # weight per bar of age when a period's bars are compared
    shared_form_weight: float = 0.12  # reliability per bar a shared form matches
    shared_form_cap: float = 0.35   # shared forms never say more than this


@dataclass(frozen=True, slots=True)
class Voice:
    """One voice's vote for the next bar."""

    votes: Votes
    reliability: float


@dataclass(frozen=True, slots=True)
class Period:
    length: int
    strength: float       # agreement × support, 0..1


class FormMemory:
    """Fed one `hear_bar` per bar as bars end; `predict` says what comes next."""

    def __init__(self, key: Key | None = None, settings: FormSettings | None = None) -> None:
        self.settings = settings or FormSettings()
        self.key = key
        self._bars: list[BarHeard] = []

    @property
    def bars(self) -> tuple[BarHeard, ...]:
        return tuple(self._bars)

    def hear_bar(self, bar: int, changes: BarChords) -> None:
        """The chords heard in `bar` (a later call for the same bar corrects it)."""
        if not changes or changes[0][0] != 0:
            raise ValueError(f"a bar's chords start on its downbeat (beat 0), got {changes!r}")
        heard = BarHeard(bar, changes)
        if self._bars and self._bars[-1].bar == bar:
            self._bars[-1] = heard
        elif self._bars and self._bars[-1].bar > bar:
            raise ValueError(f"bar {bar} heard after bar {self._bars[-1].bar}")
        else:
            self._bars.append(heard)
            del self._bars[:-self.settings.history]

    def predict(self, bar: int, assume: Sequence[BarChords] = ()) -> Prediction | None:
        """The prediction for `bar` (the bar after the last heard, plus `assume`d bars).
        Bars are compared by their triads (an E minor bar heard once as E:min7 is the same
        bar); the prediction is the bar as the guitarist played it most often (`as_played`)."""
        heard = [b.changes for b in self._bars] + list(assume)
        if len(heard) < 2:
            return None
        sequence = [shape_of(b) for b in heard]
        period = best_period(sequence, self.settings)
        voices = [suffix_voice(sequence, period, self.settings),
                  period_voice(sequence, period, self.settings.recency),
                  shared_form_voice(sequence, self.key, self.settings)]
        decided = combine([v for v in voices if v is not None and v.votes])
        if decided is None:
            return None
        shape, confidence = decided
        return Prediction(bar, as_played(heard, sequence, shape), round(confidence, 4))

    def form(self) -> FormFound | None:
        """The form found in the bars heard (None until something repeats)."""
        sequence = [shape_of(b.changes) for b in self._bars]
        period = best_period(sequence, self.settings)
        if period is None or period.strength < 0.5:
            return None
        return FormFound(period.length, round(period.strength, 4),
                         sections(sequence, period.length), len(sequence) % period.length)


def triad_of(chord: Chord) -> Chord:
    """The triad a chord is heard as when bars are compared (sevenths come and go)."""
    return Chord(chord.root, TRIADS.get(chord.quality, chord.quality))


def shape_of(bar: BarChords) -> BarChords:
    """A bar with its chords as triads, repeats merged."""
    shaped: list[tuple[int, Chord]] = []
    for beat, chord in bar:
        triad = triad_of(chord)
        if not shaped or shaped[-1][1] != triad:
            shaped.append((beat, triad))
    return tuple(shaped)


def as_played(heard: Sequence[BarChords], shapes: Sequence[BarChords],
              shape: BarChords) -> BarChords:
    """The bar heard most often with `shape` (the latest of those when even), or the shape
    itself when none was."""
    counts: dict[BarChords, int] = {}
    latest: dict[BarChords, int] = {}
    for index, (bar, bar_shape) in enumerate(zip(heard, shapes, strict=True)):
        if bar_shape == shape:
            counts[bar] = counts.get(bar, 0) + 1
            latest[bar] = index
    if not counts:
        return shape
    return max(counts, key=lambda bar: (counts[bar], latest[bar]))


# -- the three voices ----------------------------------------------------------------------


def suffix_voice(sequence: Sequence[BarChords], period: Period | None,
                 settings: FormSettings) -> Voice | None:
    """What followed the longest earlier occurrence of the bars heard last. Once a form is
    found, only occurrences at the same place in the form count (when there are any): the
    first half of a form is not mistaken for the second."""
    matches = context_matches(sequence, settings.longest_context)
    if period is not None and period.strength >= 0.5:
        n = len(sequence)
        matches = [m for m in matches if (n - m[0]) % period.length == 0] or matches
    if not matches:
        return None
    context = max(k for _, k in matches)
    followers = [j for j, k in matches if k == context]
    votes: Votes = {}
    for j in followers:
        votes[sequence[j]] = votes.get(sequence[j], 0.0) + 1.0 / len(followers)
    return Voice(votes, 1.0 - 0.5 ** (context + len(followers)))


def context_matches(sequence: Sequence[BarChords], longest: int) -> list[tuple[int, int]]:
    """(j, k) for every earlier bar j whose k ≥ 1 bars before it equal the last k bars."""
    n = len(sequence)
    matches: list[tuple[int, int]] = []
    for j in range(1, n):
        k = 0
        while k < longest and k < j and sequence[j - 1 - k] == sequence[n - 1 - k]:
            k += 1
        if k > 0:
            matches.append((j, k))
    return matches


def longest_context(sequence: Sequence[BarChords], longest: int) -> tuple[int, list[int]]:
    """(k, followers): the longest k such that the last k bars occurred earlier, and the
    index of the bar that followed each earlier occurrence."""
    matches = context_matches(sequence, longest)
    if not matches:
        return 0, []
    context = max(k for _, k in matches)
    return context, [j for j, k in matches if k == context]


def best_period(sequence: Sequence[BarChords], settings: FormSettings) -> Period | None:
    """The repeat length whose recent bars agree best with the bars one length earlier."""
    best: Period | None = None
    for length in settings.periods:
        strength = period_strength(sequence, length, settings.recency)
        if strength > 0.0 and (best is None or strength > best.strength):
            best = Period(length, strength)
    return best


def period_strength(sequence: Sequence[BarChords], length: int, recency: float) -> float:
    """(Recency-weighted share of the bars equal to the bar `length` earlier, over the last
    two lengths)², times 1 − ½^pairs compared: a perfect short history beats a longer one
    with a wrong bar in it."""
    n = len(sequence)
    first = max(length, n - 2 * length)
    pairs = n - first
    if pairs <= 0:
        return 0.0
    agree = total = 0.0
    for i in range(first, n):
        weight = recency ** (n - 1 - i)
        total += weight
        agree += weight * likeness(sequence[i], sequence[i - length])
    return (agree / total) ** 2 * (1.0 - 0.5 ** pairs)


def likeness(bar: BarChords, other: BarChords) -> float:
    """1 for the same bar; `HALF_LIKE` for two bars on the same chord on the one that differ
    later in the bar (a half bar misheard, a passing chord); else 0."""
    if bar == other:
        return 1.0
    return HALF_LIKE if bar[0][1] == other[0][1] else 0.0


def period_voice(sequence: Sequence[BarChords], period: Period | None,
                 recency: float) -> Voice | None:
    """The bars at the same place in the form's earlier passes vote (the latest most): one
    surprise bar a pass ago does not outvote the passes before it."""
    if period is None or period.length > len(sequence):
        return None
    votes: Votes = {}
    index, weight = len(sequence) - period.length, 1.0
    while index >= 0:
        votes[sequence[index]] = votes.get(sequence[index], 0.0) + weight
        index, weight = index - period.length, weight * recency
    total = sum(votes.values())
    return Voice({bar: w / total for bar, w in votes.items()}, period.strength)


def shared_form_voice(sequence: Sequence[BarChords], key: Key | None,
                      settings: FormSettings) -> Voice | None:
    """A form everybody knows whose bars end like the bars heard: its next bar."""
    if key is None:
        return None
    tonic = key.tonic if key.mode == "maj" else (key.tonic + MAJOR_THIRD_DOWN) % 12
    roots = [(bar[0][1].root - tonic) % 12 for bar in sequence]
    best_match, best_next = 1, None
    for form in SHARED_FORMS.values():
        for place in range(len(form)):
            matched = matched_bars(roots, form, place)
            if matched > best_match:
                best_match, best_next = matched, form[(place + 1) % len(form)]
    if best_next is None:
        return None
    offset, quality = best_next
    chord = known_chord(sequence, (tonic + offset) % 12) or Chord((tonic + offset) % 12, quality)
    reliability = min(settings.shared_form_cap, settings.shared_form_weight * best_match)
    return Voice({((0, chord),): 1.0}, reliability)


def matched_bars(roots: Sequence[int], form: Sequence[tuple[int, str]], place: int) -> int:
    """How many of the last bars' roots match `form` read backwards from `place`."""
    matched = 0
    while matched < min(len(roots), len(form)):
        if roots[-1 - matched] != form[(place - matched) % len(form)][0]:
            break
        matched += 1
    return matched


def known_chord(sequence: Sequence[BarChords], root: int) -> Chord | None:
    """The chord on `root` heard most recently (the guitarist's own quality)."""
    for bar in reversed(sequence):
        for _, chord in bar:
            if chord.root == root:
                return chord
    return None


def combine(voices: Sequence[Voice]) -> tuple[BarChords, float] | None:
    """The bar the voices favour and its confidence (see the module text)."""
    if not voices:
        return None
    candidates = {bar for voice in voices for bar in voice.votes}

    def confidence(bar: BarChords) -> float:
        missing = against = 1.0
        for voice in voices:
            share = voice.votes.get(bar, 0.0)
            missing *= 1.0 - voice.reliability * share
            against *= 1.0 - 0.5 * voice.reliability * (1.0 - share)
        return (1.0 - missing) * against

    scored = sorted(((confidence(bar), index, bar) for index, bar in
                     enumerate(sorted(candidates, key=repr))), reverse=True)
    best, _, bar = scored[0]
    return bar, best


def sections(sequence: Sequence[BarChords], form_length: int) -> str:
    """Name the form's blocks of 8 bars (4 for shorter forms) by first appearance: AABA."""
    block = 8 if form_length >= 16 else 4
    blocks = [tuple(sequence[i:i + block]) for i in range(0, len(sequence) - block + 1, block)]
    names: dict[tuple[BarChords, ...], str] = {}
    for b in blocks:
        names.setdefault(b, chr(ord("A") + min(len(names), 25)))
    return "".join(names[b] for b in blocks)
