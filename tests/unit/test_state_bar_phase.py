"""Is the band turned around (state/bar_phase.py): where the guitarist's changes fall."""

from __future__ import annotations

from performia.state.bar_phase import turned_around


def test_changes_on_the_bands_beat_three_say_it_is_half_a_bar_off() -> None:
    changes = [2.0 + 4 * k for k in range(6)]              # every change on beat 2 (0-based)
    assert turned_around(changes, 26.0, 4) == 2


def test_changes_on_the_one_or_on_both_halves_say_nothing() -> None:
    assert turned_around([4.0 * k for k in range(6)], 24.0, 4) is None
    ii_v = [x for k in range(4) for x in (4.0 * k, 4.0 * k + 2)]   # two chords a bar
    assert turned_around(ii_v, 16.0, 4) is None


def test_flickers_and_old_changes_do_not_count() -> None:
    # three real changes on beat 1 long ago, then changes on the one; flickers on beat 3
    changes = [1.0, 5.0, 9.0, 40.0, 43.0, 43.4, 44.0, 48.0, 52.0]
    assert turned_around(changes, 56.0, 4) is None
    assert turned_around([1.1, 5.0, 8.9], 12.0, 4) == 1     # rounding to the nearest beat
    assert turned_around([1.0, 5.0], 12.0, 4) is None        # too few
    assert turned_around([0.0, 1.0, 2.0], 3.0, 1) is None    # one beat a bar: no phase
