"""The non-real-time score streamed to the server while the band decides (render/score.py):
taken in parts, the bytes are those of the whole score at once; a bundle that would have to
go before what the server already has is refused, never silently misplaced."""

from __future__ import annotations

import struct

import pytest

from performia.render.score import Score, ScsynthGrid, SupernovaClock

BLOCK = 64 / 48000


def _filled() -> Score:
    score = Score(BLOCK, SupernovaClock(BLOCK))
    score.at_start([("/g_new", [1, 0, 0])])
    for when, node in ((0.5, 1000), (0.1, 1001), (0.5, 1002), (2.0, 1003), (1.0, 1004)):
        score.add(when, [("/n_set", [node, "gate", 0.0])])
    return score


def test_a_score_taken_in_parts_is_the_score_at_once() -> None:
    whole = _filled().encode()
    streamed = _filled()
    parts = [streamed.take(streamed.offset - BLOCK), streamed.take(streamed.offset + 0.5),
             streamed.take(streamed.offset + 0.5), streamed.take()]
    assert parts[2] == b""                      # nothing new before the same time
    assert b"".join(parts) == whole


def test_a_bundle_before_what_was_handed_over_is_refused() -> None:
    score = _filled()
    score.take(score.offset + 1.5)
    score.add(1.5, [("/n_set", [2000, "gate", 0.0])])      # at the line: fine
    with pytest.raises(ValueError, match="handed to the server"):
        score.add(1.2, [("/n_set", [2001, "gate", 0.0])])


def _where_scsynth_plays(tag: bytes, rate: int = 48000, frames: int = 64) -> int:
    """The sample a bundle with this timetag starts on in scsynth -N: its scheduling loop
    (SC_World.cpp, World_NonRealTimeSynthesis) in integer timetag units."""
    whole, fraction = struct.unpack(">II", tag)
    sched = (whole << 32) + fraction
    to_samples = rate * (1.0 / 4294967296.0)
    increment = int(frames / to_samples)
    block = max(0, -(-sched // increment) - 1)       # the first block whose end >= sched
    offset = int((sched - block * increment) * to_samples + 0.5)
    return block * frames + min(offset, frames - 1)


@pytest.mark.parametrize("sample", [0, 1, 63, 64, 65, 128, 24000, 24001, 48000 * 600,
                                    48000 * 600 + 64, 48000 * 3600 + 17])
def test_scsynth_timetags_land_on_their_sample_at_any_length(sample: int) -> None:
    assert _where_scsynth_plays(ScsynthGrid(48000, 64).timetag(sample / 48000)) == sample


def test_plain_seconds_would_land_a_block_early_on_a_block_boundary() -> None:
    # why the grid: an exact boundary runs in the block before, on its last sample
    assert _where_scsynth_plays(SupernovaClock(BLOCK).timetag(128 / 48000)) == 127
