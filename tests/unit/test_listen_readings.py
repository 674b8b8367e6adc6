"""Parsing the analysis synth's SendReply messages."""

from __future__ import annotations

import numpy as np
import pytest

from performia.listen.frontend import CHORD_SPECTRUM, ONSET_BANDS
from performia.listen.readings import (
    BandsReading,
    PitchReading,
    SpectrumReading,
    TakeEndReading,
    parse,
)


def test_pitch() -> None:
    reading = parse("/pitch", [1000, 7, 196.5, 1.0, 0.25], 12.5)
    assert reading == PitchReading(time=12.5, node=1000, reply_id=7, freq=196.5, has_freq=True,
                                   amp=0.25)
    silent = parse("/pitch", [1000, 7, 196.0, 0.0, 0.0], 13.0)
    assert isinstance(silent, PitchReading) and not silent.has_freq


def test_take_end() -> None:
    assert parse("/take_end", [1000, 7, 10.0], 2.0) == TakeEndReading(2.0, 1000, 7)


@pytest.mark.parametrize(("address", "kind", "bins"), [
    ("/spectrum", SpectrumReading, CHORD_SPECTRUM.bins),
    ("/bands", BandsReading, ONSET_BANDS.bins),
])
def test_spectrum_frames(address: str, kind: type, bins: int) -> None:
    values = [float(i) / 10 for i in range(bins)]
    reading = parse(address, [1000, 3, *values], 4.0)
    assert isinstance(reading, kind)
    assert reading.reply_id == 3 and reading.time == 4.0
    np.testing.assert_array_equal(reading.magnitudes, values)
    with pytest.raises(ValueError):
        reading.magnitudes[0] = 1.0          # read-only: readers on other threads share it


def test_readings_are_frozen() -> None:
    reading = parse("/pitch", [1000, 7, 196.5, 1.0, 0.25], 1.0)
    with pytest.raises(AttributeError):
        setattr(reading, "amp", 1.0)  # noqa: B010


def test_ids_sent_as_floats_are_accepted() -> None:
    assert parse("/take_end", [1000.0, 7.0, 3.0], 1.0) == TakeEndReading(1.0, 1000, 7)


BAD_FRAME = [0.1] * (ONSET_BANDS.bins - 1)


@pytest.mark.parametrize(("address", "args", "complaint"), [
    ("/status.reply", [1, 2, 3], "not an analysis reply"),
    ("/pitch", [1000, 7, 196.0, 1.0], "4 arguments, expected 5"),
    ("/spectrum", [1000, 7, *([0.1] * 11)], "13 arguments, expected 802"),
    ("/pitch", [1000, 7, "loud", 1.0, 0.2], "value 0 must be a number"),
    ("/pitch", [1000, 7, float("nan"), 1.0, 0.2], "not finite"),
    ("/pitch", [1000, 7, True, 1.0, 0.2], "must be a number"),
    ("/bands", [1000, 7, *BAD_FRAME, float("nan")], "not a finite magnitude"),
    ("/bands", [1000, 7, *BAD_FRAME, float("inf")], "not a finite magnitude"),
    ("/bands", [1000, 7, *BAD_FRAME, -1.0], "not a finite magnitude"),
    ("/bands", [1000, 7, *BAD_FRAME, "loud"], "must be a number"),
    ("/bands", [1000, 7, *BAD_FRAME, "1.0"], "must be a number"),
    ("/take_end", [1000.5, 7, 0.4], "nodeID must be a whole number"),
    ("/take_end", [1000, "x", 0.4], "replyID must be a whole number"),
    ("/take_end", [], "0 arguments"),
])
def test_malformed_messages_raise_value_error(address: str, args: list[object],
                                              complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        parse(address, args, 0.0)
