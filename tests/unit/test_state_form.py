"""Form memory: the form found in the bars heard, and the next bar predicted from it."""

from __future__ import annotations

import pytest

from performia.state.form import (
    FormMemory,
    FormSettings,
    Voice,
    best_period,
    combine,
    likeness,
)
from performia.state.musical_state import BarChords
from performia.theory import Chord, Key

CONFIDENT = 0.6


def bar(*labels: str) -> BarChords:
    """'C' → C for the bar; 'D:min7', 'G:7' → two chords, the second from beat 2."""
    share = 4 // len(labels)
    return tuple((i * share, Chord.parse(label)) for i, label in enumerate(labels))


def heard(memory: FormMemory, labels: list[str], start: int = 0) -> None:
    for i, label in enumerate(labels):
        memory.hear_bar(start + i, bar(*label.split()))


def predictions(labels: list[str], key: str = "C:maj") -> list[tuple[str, str | None, float]]:
    """(truth, predicted chord label or None, confidence) for every bar, fed one by one."""
    memory = FormMemory(Key.parse(key))
    result = []
    for i, label in enumerate(labels):
        p = memory.predict(i)
        truth = bar(*label.split())
        result.append((str(truth == p.changes) if p else "None",
                       p.chord.label if p else None, p.confidence if p else 0.0))
        memory.hear_bar(i, truth)
    return result


POP = ["C", "G", "A:min", "F"]


def test_nothing_heard_no_confident_prediction() -> None:
    memory = FormMemory(Key.parse("C:maj"))
    assert memory.predict(0) is None
    heard(memory, ["C"])
    p = memory.predict(1)
    assert p is None or p.confidence < CONFIDENT
    assert memory.form() is None


def test_a_four_bar_form_is_predicted_from_its_second_pass() -> None:
    result = predictions(POP * 3)
    for i in range(5, 12):              # from the second bar of the second pass on
        right, _, confidence = result[i]
        assert right == "True" and confidence >= CONFIDENT, (i, result[i])
    assert result[11][2] > 0.95
    memory = FormMemory(Key.parse("C:maj"))
    heard(memory, POP * 2)
    form = memory.form()
    assert form is not None and form.length == 4 and form.position == 0


def test_an_eight_bar_form_with_a_repeated_first_half() -> None:
    form = ["C", "A:min", "F", "G", "C", "A:min", "D:min", "G"]
    result = predictions(form * 2)
    for i in range(9, 16):              # the second pass: F after C Am, then D:min after C Am
        right, _, confidence = result[i]
        assert right == "True" and confidence >= CONFIDENT, (i, result[i])
    memory = FormMemory(Key.parse("C:maj"))
    heard(memory, form * 2)
    found = memory.form()
    assert found is not None and found.length == 8


def test_a_twelve_bar_blues_second_chorus() -> None:
    blues = ["A:7"] * 4 + ["D:7"] * 2 + ["A:7"] * 2 + ["E:7", "D:7", "A:7", "E:7"]
    result = predictions(blues * 2, key="A:maj")
    for i in range(13, 24):
        right, _, confidence = result[i]
        assert right == "True" and confidence >= CONFIDENT, (i, result[i])
    memory = FormMemory(Key.parse("A:maj"))
    heard(memory, blues * 2)
    found = memory.form()
    assert found is not None and found.length == 12


def test_a_second_section_that_comes_back() -> None:
    verse = ["G", "E:min", "C", "D"]
    chorus = ["C", "D", "G", "G"]
    song = verse * 2 + chorus + verse
    result = predictions(song, key="G:maj")
    for i in range(13, 16):             # the verse is back: its second bar on
        right, _, confidence = result[i]
        assert right == "True" and confidence >= CONFIDENT, (i, result[i])
    memory = FormMemory(Key.parse("G:maj"))
    heard(memory, song)
    form = memory.form()
    assert form is not None and form.sections == "AABA"


def test_sections_are_named_by_first_appearance() -> None:
    a = ["G", "G", "C", "D", "G", "E:min", "C D", "G"]
    b = ["C", "C", "G", "G", "A:min", "A:min", "D", "D:7"]
    memory = FormMemory(Key.parse("G:maj"))
    heard(memory, (a * 2 + b + a) * 2)
    form = memory.form()
    assert form is not None and form.length == 32
    assert form.sections == "AABAAABA"


def test_changes_within_a_bar_are_predicted() -> None:
    form = ["D:min7", "G:7", "C:maj7", "E:min7 A:7"]
    result = predictions(form * 3)
    right, chord, confidence = result[11]
    assert right == "True" and chord == "E:min7" and confidence >= CONFIDENT
    memory = FormMemory(Key.parse("C:maj"))
    heard(memory, form * 2 + form[:3])
    p = memory.predict(11)
    assert p is not None and p.chord_at(0) == Chord.parse("E:min7")
    assert p.chord_at(2) == Chord.parse("A:7") and p.chord_at(3.5) == Chord.parse("A:7")


def test_a_surprise_bar_lowers_the_confidence() -> None:
    memory = FormMemory(Key.parse("C:maj"))
    heard(memory, POP * 2 + ["C", "G"])
    before = memory.predict(10)
    assert before is not None and before.chord == Chord.parse("A:min")
    heard(memory, ["E:min"], start=10)                  # the guitarist plays E minor instead
    after = memory.predict(11)
    assert after is not None and after.chord == Chord.parse("F")
    assert after.confidence < before.confidence - 0.1
    heard(memory, ["F", "C", "G"], start=11)            # and the form goes on
    back = memory.predict(14)
    assert back is not None and back.chord == Chord.parse("A:min")


def test_a_shared_form_is_a_weak_prior_only() -> None:
    memory = FormMemory(Key.parse("C:maj"))
    heard(memory, ["D:min7", "G:7"])                    # ii V in C: I comes next
    p = memory.predict(2)
    assert p is not None and p.chord.root == 0 and p.confidence < CONFIDENT


def test_a_bar_heard_again_corrects_it_and_bars_go_forward() -> None:
    memory = FormMemory(Key.parse("C:maj"))
    heard(memory, ["C", "G"])
    memory.hear_bar(1, bar("A:min"))
    assert [b.chord.label for b in memory.bars] == ["C:maj", "A:min"]
    with pytest.raises(ValueError, match="after bar"):
        memory.hear_bar(0, bar("C"))
    with pytest.raises(ValueError, match="downbeat"):
        memory.hear_bar(2, ((1, Chord.parse("C")),))


def test_history_is_bounded() -> None:
    memory = FormMemory(Key.parse("C:maj"), FormSettings(history=16))
    heard(memory, POP * 10)
    assert len(memory.bars) == 16
    assert memory.predict(40) is not None


def test_period_and_combination_details() -> None:
    settings = FormSettings()
    assert best_period([bar("C")], settings) is None
    voices = [Voice({bar("C"): 1.0}, 0.9), Voice({bar("G"): 1.0}, 0.3)]
    decided = combine(voices)
    assert decided is not None and decided[0] == bar("C")
    assert 0.7 < decided[1] < 0.9                       # a dissenting voice takes some off
    assert combine([]) is None


def test_bars_are_compared_by_their_triads_and_the_usual_one_is_predicted() -> None:
    """E minor heard once as E:min7: still the same form; the prediction is the bar as the
    guitarist played it most often (the latest when even)."""
    memory = FormMemory(Key.parse("G:maj"))
    g, d, c = (Chord.parse(x) for x in ("G", "D", "C"))
    em, em7 = Chord.parse("E:min"), Chord.parse("E:min7")
    for bar, chord in enumerate([g, d, em7, c, g, d, em, c, g, d]):
        memory.hear_bar(bar, ((0, chord),))
    prediction = memory.predict(10)
    assert prediction is not None and prediction.changes == ((0, em),)
    assert prediction.confidence > 0.8
    found = memory.form()
    assert found is not None and found.length == 4

    memory.hear_bar(10, ((0, em),))
    memory.hear_bar(11, ((0, c),))
    memory.hear_bar(12, ((0, g),))
    memory.hear_bar(13, ((0, d),))
    memory.hear_bar(14, ((0, em7),))       # E:min7 once more: 2 against 2, the latest wins
    memory.hear_bar(15, ((0, c),))
    memory.hear_bar(16, ((0, g),))
    memory.hear_bar(17, ((0, d),))
    later = memory.predict(18)
    assert later is not None and later.changes == ((0, em7),)
    memory.hear_bar(18, ((0, em),))
    memory.hear_bar(19, ((0, c),))
    memory.hear_bar(20, ((0, g),))
    memory.hear_bar(21, ((0, d),))
    last = memory.predict(22)
    assert last is not None and last.changes == ((0, em),)   # 3 E:min against 2 E:min7


def test_a_half_bar_misheard_once_still_counts_for_the_form() -> None:
    """The first pass's G bar was heard as G then B minor (a half bar misheard): the second
    pass still finds the four-bar form and plays its next bar with confidence."""
    memory = FormMemory(Key.parse("C:maj"))
    heard(memory, ["C", "G B:min", "A:min", "F", "C", "G"])
    prediction = memory.predict(6)
    assert prediction is not None and prediction.chord == Chord.parse("A:min")
    assert prediction.confidence >= CONFIDENT
    assert likeness(bar("G", "B:min"), bar("G")) == 0.5
    assert likeness(bar("G"), bar("G")) == 1.0 and likeness(bar("C"), bar("G")) == 0.0
