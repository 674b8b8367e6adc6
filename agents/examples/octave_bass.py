"""Bass: the chord's root in octaves on the eighths, a fifth before the bar line, and a
leading note into the next bar's root. Reads `density` (how many off-beat eighths play)."""

from performia.live.api import Note, Step

AGENT = "bass"
LOW = 28          # E1


def root(s: Step) -> int:
    return LOW + (s.chord.root - LOW) % 12


def step(s: Step) -> list[Note]:
    if s.index % 2:
        return []                                   # eighths only
    low = root(s)
    if s.index == 14:                               # the "and" of 4: lead into the next bar
        target = LOW + (s.next_chord.root - LOW) % 12
        return [s.note("bass", target - 1 if target > low else target + 1, 0.7, 0.4)]
    if s.index == 12:
        return [s.note("bass", low + 7, 0.75, 0.4)]
    if s.on_beat or s.rng.random() < s.params.get("density", 0.5):
        octave = 12 if s.index % 4 == 2 else 0
        return [s.note("bass", low + octave, 0.85 if s.downbeat else 0.7, 0.4)]
    return []
