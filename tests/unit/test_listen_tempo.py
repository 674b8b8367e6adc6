"""Tempo from onset times."""

from __future__ import annotations

import numpy as np
import pytest

from performia.listen.tempo import TempoEstimator, TempoSettings


def strum_onsets(bpm: float, pattern: str, bars: int, beats_per_bar: int = 4,
                 jitter: float = 0.006, seed: int = 1) -> list[tuple[float, float]]:
    """(time, strength) of every strum of `pattern` (one bar of even steps; D accented)."""
    rng = np.random.default_rng(seed)
    bar = beats_per_bar * 60.0 / bpm
    return [(0.5 + b * bar + i * bar / len(pattern) + float(rng.normal(0, jitter)),
             (0.9 if step == "D" else 0.4) * float(rng.uniform(0.8, 1.0)))
            for b in range(bars) for i, step in enumerate(pattern) if step != "."]


@pytest.mark.parametrize(("bpm", "pattern", "beats"), [
    (96, "D.DU.UDU", 4), (132, "D.DU.UDU", 4), (120, "D.D.D.DU", 4), (80, "DDUUDU", 3),
    (110, "D.DU", 4), (150, "D.DUDUDU", 4), (70, "D..UD.DU", 4), (65, "D.DU.UDU", 4),
    (100, "D..U..D.", 4), (90, "DDDDDDDD", 4), (140, "D.DU.UDU", 4),
])
def test_tempo_within_two_bpm(bpm: float, pattern: str, beats: int) -> None:
    estimator = TempoEstimator()
    reported = [r for t, s in strum_onsets(bpm, pattern, 12, beats)
                if (r := estimator.update(t, s)) is not None]
    assert reported, "no tempo reported"
    assert all(abs(r - bpm) <= 2.0 for r in reported), reported
    assert estimator.bpm is not None and abs(estimator.bpm - bpm) <= 2.0


def test_tempo_without_strengths() -> None:
    estimator = TempoEstimator()
    for t, _ in strum_onsets(96, "D.D.D.D.", 8):
        estimator.update(t)
    assert estimator.bpm is not None and abs(estimator.bpm - 96) <= 2.0


def test_needs_enough_onsets() -> None:
    estimator = TempoEstimator(TempoSettings(min_onsets=8))
    results = [estimator.update(t) for t in (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5)]
    assert results == [None] * 7 and estimator.bpm is None


def test_follows_a_tempo_change_and_keeps_the_last_tempo_in_silence() -> None:
    estimator = TempoEstimator()
    onsets = strum_onsets(90, "D.DU.UDU", 8)
    end = onsets[-1][0]
    onsets += [(end + 1.0 + t, s) for t, s in strum_onsets(120, "D.DU.UDU", 8)]
    reported = [r for t, s in onsets if (r := estimator.update(t, s)) is not None]
    assert abs(reported[0] - 90) <= 2.0
    assert abs(reported[-1] - 120) <= 2.0
    # the guitar stops: nothing happens, the tempo stays
    assert estimator.bpm is not None and abs(estimator.bpm - 120) <= 2.0


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        TempoSettings(low=180.0, high=60.0)
    with pytest.raises(ValueError):
        TempoSettings(window=1.0)
