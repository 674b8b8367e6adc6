"""Drums: four on the floor, the snare on 2 and 4, the hat on every off-beat eighth.

The kick follows `/performia/pattern/drums/kick` when one is set (s.hit reads the pattern
in force: the one sent, else the style's); intensity makes the hats busier.
"""

from performia.live.api import Note, Step

AGENT = "drums"


def step(s: Step) -> list[Note]:
    notes = []
    if s.on_beat:
        notes.append(s.note("kick", 36, 0.95 if s.downbeat else 0.85))
    if s.index in (4, 12):
        notes.append(s.note("snare", 38, 0.9))
    if s.index % 4 == 2:
        notes.append(s.note("openhat" if s.index == 14 else "hat", 42, 0.7))
    elif s.intensity > 0.6 and s.index % 2 == 1 and s.rng.random() < s.intensity - 0.4:
        notes.append(s.note("hat", 42, 0.35))
    return notes
