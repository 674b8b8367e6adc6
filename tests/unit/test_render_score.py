"""The non-real-time score streamed to the server while the band decides (render/score.py):
taken in parts, the bytes are those of the whole score at once; a bundle that would have to
go before what the server already has is refused, never silently misplaced."""

from __future__ import annotations

import pytest

from performia.render.score import Score

BLOCK = 64 / 48000


def _filled() -> Score:
    score = Score(BLOCK)
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
