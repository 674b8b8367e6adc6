"""The chord decoder (HMM forward filter) on ideal note frames: pure logic."""

from __future__ import annotations

import numpy as np
import pytest

from performia.listen.chords import QUALITIES, ChordRecognizer, ChordSettings, vocabulary
from performia.listen.chroma import NOTES, NoteFrame
from performia.theory import Chord


def frame_of(label: str | None, bass: int | None = None, noise: float = 0.0,
             seed: int = 0) -> NoteFrame:
    """A note frame of `label`'s tones (None: one note, a melody), root (or `bass`) below."""
    rng = np.random.default_rng(seed)
    treble = rng.uniform(0, noise, 12)
    low = np.zeros(12)
    if label is None:
        treble[7] += 1.0
        low[7] = 1.0
    else:
        chord = Chord.parse(label)
        treble[list(chord.pitch_classes)] += 1.0
        low[chord.root if bass is None else bass] = 1.0
    return NoteFrame(treble, low, np.zeros(NOTES), 1.0)


def decode(frames: list[NoteFrame], recogniser: ChordRecognizer | None = None) -> list[str]:
    recogniser = recogniser or ChordRecognizer()
    out = []
    for frame in frames:
        recogniser.update(frame)
        out.append(recogniser.label())
    return out


LABELS = [c.label for c in vocabulary() if c is not None]


def test_the_vocabulary_is_every_quality_on_every_root_and_no_chord() -> None:
    chords = vocabulary()
    assert len(chords) == 12 * len(QUALITIES) + 1 and chords[-1] is None
    assert {"maj", "min", "7", "maj7", "min7", "dim", "sus4"} == set(QUALITIES)


@pytest.mark.parametrize("label", LABELS)
def test_each_chord_is_decoded_from_its_tones(label: str) -> None:
    assert decode([frame_of(label)] * 6)[-1] == label


def test_decoding_survives_noise() -> None:
    for seed, label in enumerate(("G:maj", "E:min7", "C:maj7", "D:7", "A:min")):
        assert decode([frame_of(label, noise=0.3, seed=seed)] * 8)[-1] == label


def test_the_bass_tells_apart_chords_that_share_their_tones() -> None:
    # A C E over F is F:maj7 with its fifth left out only if F is in the bass... and E G B
    # over C is C:maj7; the same upper tones over their own root stay the triad
    assert decode([frame_of("C:maj7")] * 6)[-1] == "C:maj7"
    assert decode([frame_of("E:min")] * 6)[-1] == "E:min"


def test_a_single_note_is_no_chord() -> None:
    assert decode([frame_of(None)] * 8)[-1] == "N"


def test_a_one_frame_glitch_does_not_change_the_chord() -> None:
    frames = [frame_of("G:maj")] * 8 + [frame_of("B:min")] + [frame_of("G:maj")] * 4
    assert set(decode(frames)[6:]) == {"G:maj"}


def test_a_change_is_decided_within_three_frames() -> None:
    heard = decode([frame_of("G:maj")] * 20 + [frame_of("C:maj")] * 6)
    assert "C:maj" in heard[20:23] and heard[-1] == "C:maj"


def test_a_closed_gate_means_no_chord() -> None:
    recogniser = ChordRecognizer()
    decode([frame_of("G:maj")] * 8, recogniser)
    for _ in range(6):
        recogniser.update(frame_of("G:maj"), gate_open=False)
    assert recogniser.current is None and recogniser.label() == "N"


def test_only_changes_are_reported() -> None:
    recogniser = ChordRecognizer()
    changes = [recogniser.update(frame_of("D:7"))[0] for _ in range(5)]
    assert changes[0] and not any(changes[2:])


def test_no_look_ahead() -> None:
    """The decision after frame n depends only on frames up to n."""
    rng = np.random.default_rng(3)
    labels = [LABELS[i] for i in rng.integers(0, len(LABELS), 12)]
    frames = [frame_of(label, noise=0.2, seed=i) for i, label in enumerate(np.repeat(labels, 5))]
    full = decode(frames)
    for cut in (7, 23, 41):
        other = frames[:cut] + [frame_of("F#:min", noise=0.2)] * 10
        assert decode(other)[:cut] == full[:cut]



def a_major(noise: float = 0.2) -> NoteFrame:
    """An A major frame with every other note at `noise` (a real strum's smear)."""
    treble = np.full(12, noise)
    treble[list(Chord.parse("A:maj").pitch_classes)] += 1.0
    low = np.zeros(12)
    low[9] = 1.0
    return NoteFrame(treble, low, np.zeros(NOTES), 1.0)


def coming_in(recogniser: ChordRecognizer, rest: int) -> list[str]:
    """`rest` frames with the gate closed, three that look like no chord (a strum's
    first frames: one note), then A major: the labels from the first open frame on."""
    for _ in range(rest):
        recogniser.update(a_major(), gate_open=False)
    return decode([frame_of(None)] * 3 + [a_major()] * 6, recogniser)


def test_the_first_chord_after_a_rest_overturns_the_attack_a_frame_sooner() -> None:
    """After a rest, "no chord" is left as easily as it is entered (`none_stay`) for the
    first `coming_in` frames: the chord is heard on its second frame, not its third."""
    heard = coming_in(ChordRecognizer(), rest=20)
    sticky = coming_in(ChordRecognizer(ChordSettings(coming_in=0)), rest=20)
    assert heard[:4] == ["N"] * 4 and heard[4] == "A:maj", heard
    assert sticky[:5] == ["N"] * 5 and sticky[5] == "A:maj", sticky


def test_a_short_dip_of_the_gate_is_not_coming_in() -> None:
    """Only after a real rest (`rested` frames) is "no chord" left more easily."""
    recogniser = ChordRecognizer()
    decode([frame_of("G:maj")] * 20, recogniser)
    dip = coming_in(recogniser, rest=2)
    assert dip[:5] == ["N"] * 5 and dip[5] == "A:maj", dip


def test_root_and_fifth_alone_are_heard_as_root_and_fifth() -> None:
    """A and E fingerpicked, the third never played: the decoder must name a chord, but
    what was heard is root and fifth (`heard_part`), which the key estimator is given, so
    that a guess of A major does not make the key A major, which makes the next guess A
    major. With the C there, the whole chord was heard."""
    recogniser = ChordRecognizer()
    fifth = frame_of("A:maj")
    fifth.treble[1] = 0.0                                   # no C#
    for _ in range(4):
        recogniser.update(fifth)
    assert recogniser.reported is not None and recogniser.reported.root == 9
    assert recogniser.heard_part() == Chord(9, "5")
    for _ in range(4):
        recogniser.update(frame_of("A:min"))
    assert recogniser.heard_part() == Chord.parse("A:min")


def one_note(pitch_class: int, ringing: int | None = None, root: int | None = None) -> NoteFrame:
    """A frame with one note (and, fainter, the one before it still ringing; and `root`
    still ringing in the bass)."""
    treble, low = np.zeros(12), np.zeros(12)
    treble[pitch_class] = 1.0
    if ringing is not None and ringing != pitch_class:
        treble[ringing] += 0.15
    low[pitch_class] = 1.0
    if root is not None and root != pitch_class:
        low[pitch_class], low[root] = 0.6, 0.4
    return NoteFrame(treble, low, np.zeros(NOTES), 1.0)


@pytest.mark.parametrize("held", [0.0, 0.85])
def test_an_arpeggio_one_note_at_a_time_is_its_chord_and_a_melody_is_no_chord(
        held: float) -> None:
    """A minor arpeggiated (A, C, E, C, ... a new note every two frames, the last one
    faintly ringing, the A in the bass): no frame holds the chord, but the notes of the
    last frames do, and a guitarist's arpeggio is a chord, not a melody. A melody that
    walks up a scale holds no chord in its last frames, and stays no chord. Without the
    notes held (`held_decay` 0) the arpeggio was no chord on most frames."""
    notes = [9, 9, 0, 0, 4, 4, 0, 0] * 3
    arpeggio = decode([one_note(n, p, root=9) for n, p in zip(notes, [None, *notes[:-1]],
                                                               strict=True)],
                      ChordRecognizer(ChordSettings(held_decay=held)))
    heard = arpeggio[8:]
    melody = decode([one_note(n) for n in (0, 0, 2, 2, 4, 4, 5, 5, 7, 7, 9, 9, 11, 11)],
                    ChordRecognizer(ChordSettings(held_decay=held)))
    assert melody[4:].count("N") >= 8, melody
    if held:
        assert heard.count("A:min") >= 14, heard
    else:
        assert heard.count("N") > len(heard) // 2, heard
