"""The project's own rehearsal takes (the guitar a run plays when there is no interface)
through the live chain offline (listen/offline.hear_take: the server's front end in numpy,
then the very Follower the conductor runs): the chord in each bar, the key, the tempo, and
no look-ahead. How well the ears hear sampled guitars is judged on the held-out corpus
(bench/bench_listening.py, tests/test_listening_corpus.py); these takes guard the default
run."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from performia.listen.offline import Heard, hear_take
from performia.listen.rehearsal import Take, TakeSpec, generate_take

SPECS = {
    "G-96": TakeSpec(("G:maj", "E:min7", "C:maj7", "D:7"), "G:maj", 96, bars=8, seed=31),
    "Em-120": TakeSpec(("E:min", "C:maj", "G:maj", "D:maj"), "E:min", 120, bars=8,
                       pattern="D.D.D.DU", seed=33),
    "C-84-3/4": TakeSpec(("C:maj", "A:min7", "F:maj", "G:7"), "C:maj", 84, bars=9,
                         beats_per_bar=3, pattern="D.DUDU", seed=35),
}


@cache
def take(name: str) -> Take:
    return generate_take(SPECS[name])


@cache
def heard(name: str) -> Heard:
    t = take(name)
    return hear_take(t.samples, t.sample_rate)


def label_at(changes: list[tuple[float, str]], time: float) -> str:
    label = "N"
    for when, chord in changes:
        if when <= time:
            label = chord
    return label


@pytest.mark.parametrize("name", sorted(SPECS))
def test_the_chord_of_each_bar_is_heard_by_60_percent_of_the_bar(name: str) -> None:
    truth = take(name).truth
    bar = truth.beats_per_bar * 60 / truth.bpm
    heard_labels = [label_at(heard(name).chords, start + 0.6 * bar) for start in truth.bar_times]
    right = sum(h == t for h, t in zip(heard_labels, truth.chords, strict=True))
    assert right >= len(truth.chords) - 1, list(zip(truth.chords, heard_labels, strict=True))


@pytest.mark.parametrize("name", sorted(SPECS))
def test_the_key_is_heard(name: str) -> None:
    keys = heard(name).keys
    assert keys and keys[-1][1] == take(name).truth.key


def test_the_tempo_is_heard_from_the_strums() -> None:
    tempos = heard("Em-120").tempos
    assert tempos and abs(tempos[-1][1] - 120.0) <= 2.4


def test_no_look_ahead() -> None:
    """Noise after time T changes nothing the ears reported up to T."""
    t = take("G-96")
    cut = 6.0
    other = t.samples.reshape(-1).astype(np.float64).copy()
    rng = np.random.default_rng(5)
    other[int(cut * t.sample_rate):] = rng.normal(0, 0.2, other.size - int(cut * t.sample_rate))
    full, noisy = heard("G-96"), hear_take(other, t.sample_rate)
    before = [c for c in full.chords if c[0] <= cut]
    assert before and [c for c in noisy.chords if c[0] <= cut] == before
    assert [k for k in noisy.keys if k[0] <= cut] == [k for k in full.keys if k[0] <= cut]
    assert [b for b in noisy.beats if b <= cut - 0.5] == [b for b in full.beats if b <= cut - 0.5]
