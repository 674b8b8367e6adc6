"""Parsing the analysis synth's SendReply messages."""

from __future__ import annotations

import pytest

from performia.listen.readings import (
    ChromaReading,
    OnsetReading,
    PitchReading,
    TakeEndReading,
    parse,
)


def test_pitch() -> None:
    reading = parse("/pitch", [1000, 7, 196.5, 1.0, 0.25], 12.5)
    assert reading == PitchReading(time=12.5, node=1000, reply_id=7, freq=196.5, has_freq=True,
                                   amp=0.25)
    silent = parse("/pitch", [1000, 7, 196.0, 0.0, 0.0], 13.0)
    assert isinstance(silent, PitchReading) and not silent.has_freq


def test_onset_and_take_end() -> None:
    assert parse("/onset", [1000, 7, 0.4], 1.0) == OnsetReading(1.0, 1000, 7, 0.4)
    assert parse("/take_end", [1000, 7, 10.0], 2.0) == TakeEndReading(2.0, 1000, 7)


def test_chroma() -> None:
    values = [float(i) / 10 for i in range(12)]
    reading = parse("/chroma", [1000, 3, *values], 4.0)
    assert isinstance(reading, ChromaReading)
    assert reading.chroma == tuple(values) and reading.reply_id == 3


def test_readings_are_frozen() -> None:
    reading = parse("/onset", [1000, 7, 0.4], 1.0)
    with pytest.raises(AttributeError):
        setattr(reading, "amp", 1.0)  # noqa: B010


def test_ids_sent_as_floats_are_accepted() -> None:
    assert parse("/onset", [1000.0, 7.0, 0.4], 1.0) == OnsetReading(1.0, 1000, 7, 0.4)


@pytest.mark.parametrize(("address", "args", "complaint"), [
    ("/status.reply", [1, 2, 3], "not an analysis reply"),
    ("/pitch", [1000, 7, 196.0, 1.0], "4 arguments, expected 5"),
    ("/chroma", [1000, 7, *([0.1] * 11)], "13 arguments, expected 14"),
    ("/onset", [1000, 7, "loud"], "value 0 must be a number"),
    ("/onset", [1000, 7, float("nan")], "not finite"),
    ("/onset", [1000, 7, True], "must be a number"),
    ("/onset", [1000.5, 7, 0.4], "nodeID must be a whole number"),
    ("/onset", [1000, "x", 0.4], "replyID must be a whole number"),
    ("/onset", [], "0 arguments"),
])
def test_malformed_messages_raise_value_error(address: str, args: list[object],
                                              complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        parse(address, args, 0.0)
