"""The render's chroma computed ahead in a worker gives the very frames (and tuning) the
follower's own gate and NnlsChroma give in-process; a follower whose gate disagrees, or
that hears more frames than were computed, gets an error, never a silently wrong chord."""

from __future__ import annotations

import numpy as np
import pytest

from performia.listen.chroma import NnlsChroma
from performia.listen.follower import FollowerSettings
from performia.listen.frontend import CHORD_SPECTRUM, frames
from performia.listen.gate import NoiseGate
from performia.listen.rehearsal import TakeSpec, generate_take
from performia.render.chroma_ahead import ChromaAhead, ChromaAheadError

SETTINGS = FollowerSettings()


def _frames(bars: int) -> tuple[list[float], np.ndarray]:
    take = generate_take(TakeSpec(("G:maj", "C:maj7"), "G:maj", 120, bars=bars, seed=4))
    times, mags = frames(take.samples.reshape(-1), CHORD_SPECTRUM, take.sample_rate)
    return [float(t) for t in times], mags


def test_the_frames_computed_ahead_are_the_chromas_own() -> None:
    times, mags = _frames(2)
    ahead = ChromaAhead.start(times, mags, SETTINGS.gate, SETTINGS.chroma)
    gate, local = NoiseGate(SETTINGS.gate), NnlsChroma(SETTINGS.chroma)
    try:
        for time, magnitudes in zip(times, mags, strict=True):
            loud = gate.update(time, float(np.dot(magnitudes, magnitudes)))
            ours, theirs = local.frame(magnitudes, loud), ahead.frame(magnitudes, loud)
            for name in ("treble", "bass", "notes"):
                np.testing.assert_array_equal(getattr(ours, name), getattr(theirs, name))
            assert ours.energy == theirs.energy
            assert ahead.tuning == local.tuning
        ahead.finish()
        assert ahead.cpu_seconds > 0
        with pytest.raises(ChromaAheadError, match="more spectrum frames"):
            ahead.frame(mags[0], True)
    finally:
        ahead.close()
    assert not ahead._process.is_alive()


def test_a_gate_that_disagrees_stops_the_render() -> None:
    times, mags = _frames(1)
    ahead = ChromaAhead.start(times, mags, SETTINGS.gate, SETTINGS.chroma)
    try:
        loud = NoiseGate(SETTINGS.gate).update(times[0], float(np.dot(mags[0], mags[0])))
        with pytest.raises(ChromaAheadError, match="disagrees"):
            ahead.frame(mags[0], not loud)
    finally:
        ahead.close()
    assert not ahead._process.is_alive()

