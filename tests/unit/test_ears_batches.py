"""When the conductor's ears take their readings (conductor/listening.taken_at), the model
the offline render follows: a reading that comes while the ears wait wakes them; the
readings that come while they sleep are taken together at their next wake-up."""

from __future__ import annotations

import pytest

from performia.conductor.listening import taken_at


def test_a_reading_after_a_pause_is_taken_on_arrival() -> None:
    assert taken_at([1.0, 2.0, 3.5], every=0.03) == [1.0, 2.0, 3.5]


def test_readings_that_come_while_the_ears_sleep_wait_for_their_next_wake_up() -> None:
    arrivals = [1.0, 1.01, 1.02, 1.03, 1.035, 1.05, 1.061, 1.2]
    assert taken_at(arrivals, every=0.03) == pytest.approx(
        [1.0, 1.03, 1.03, 1.03, 1.06, 1.06, 1.09, 1.2])


def test_no_reading_is_taken_before_it_arrives_nor_later_than_one_wake_up() -> None:
    arrivals = [0.5 + 0.0107 * k for k in range(500)] + [7.0 + 0.0021 * k for k in range(300)]
    taken = taken_at(arrivals, every=0.03)
    assert all(0.0 <= t - a <= 0.03 + 1e-9 for a, t in zip(arrivals, taken, strict=True))
    assert taken == sorted(taken)
    wake_ups = len(set(taken))
    assert wake_ups < len(arrivals) / 2       # one wake-up for several readings
