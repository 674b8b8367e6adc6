"""Following rehearsal takes of known progressions, through a numpy copy of the server's
analysis (Chromagram on an 8192-point FFT every 2048 samples, C2 up six octaves): the chord
heard per bar, how soon a change is heard, the key, the tempo, and listen → play capture."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from performia.band.agent import HarmonicContext, Listening
from performia.listen.chords import ChordRecognizer
from performia.listen.follower import Follower
from performia.listen.key import KeyEstimator
from performia.listen.readings import ChromaReading, OnsetReading, PitchReading
from performia.listen.rehearsal import Take, TakeSpec, generate_take
from performia.listen.tempo import TempoEstimator
from performia.theory import Key

FFT_SIZE = 8192
HOP = 2048
TUNING_BASE = 65.40639132515              # C2, as in sc/synthdefs/analysis.scd
OCTAVES = 6

# Held out: the recogniser's settings were tuned on other seeds and progressions.
SPECS = {
    "G-96": TakeSpec(("G:maj", "E:min7", "C:maj7", "D:7"), "G:maj", 96, bars=8, seed=31),
    "Am-132": TakeSpec(("A:min", "F:maj7", "D:min7", "E:7"), "A:min", 132, bars=12,
                       pattern="D.DUxUDU", seed=32),
    "Em-120": TakeSpec(("E:min", "C:maj", "G:maj", "D:maj"), "E:min", 120, bars=8,
                       pattern="D.D.D.DU", seed=33),
    "D-108": TakeSpec(("D:maj", "B:min7", "G:maj7", "A:7"), "D:maj", 108, bars=8,
                      pattern="D.DU", seed=34),
    "C-84-3/4": TakeSpec(("C:maj", "A:min7", "F:maj", "G:7"), "C:maj", 84, bars=9,
                         beats_per_bar=3, pattern="D.DUDU", seed=35),
    "G-90-ringing": TakeSpec(("G:maj7", "E:min7", "A:min7", "D:7"), "G:maj", 90, bars=8,
                             pattern="D...D...", seed=36),
}
ONSET_DELAY = 0.015                       # the server reports a strum ~10–15 ms after it starts


def chroma_frames(samples: npt.NDArray[np.floating], rate: int) -> tuple[
        npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(frames × 12 chroma, frame times, input levels) as the server's Chromagram makes them:
    Hann window, power spectrum sampled at every semitone by linear interpolation between
    the two nearest bins, summed over the octaves. A frame's time is its window's end."""
    window = np.hanning(FFT_SIZE)
    freqs = TUNING_BASE * 2 ** (np.arange(12 * OCTAVES) / 12)
    position = freqs / (rate / FFT_SIZE)
    lower = position.astype(int)
    weight = position - lower
    classes = np.arange(freqs.size) % 12
    frames, times, levels = [], [], []
    for start in range(0, samples.size - FFT_SIZE, HOP):
        segment = samples[start:start + FFT_SIZE]
        power = np.abs(np.fft.rfft(segment * window)) ** 2
        values = power[lower] * (1 - weight) + power[lower + 1] * weight
        chroma = np.zeros(12)
        np.add.at(chroma, classes, values)
        frames.append(chroma)
        times.append((start + FFT_SIZE) / rate)
        levels.append(float(np.max(np.abs(segment[-1024:]))))
    return np.array(frames), np.array(times), np.array(levels)


@dataclass
class Heard:
    take: Take
    changes: list[tuple[float, str]]     # (time, chord label) as the recogniser reported
    per_bar: list[str | None]            # the chord heard longest in every bar
    keys: list[tuple[float, str]]


def per_bar(changes: list[tuple[float, str]], take: Take) -> list[str | None]:
    truth = take.truth
    bar = truth.beats_per_bar * 60.0 / truth.bpm
    result: list[str | None] = []
    for start in truth.bar_times:
        heard: dict[str, float] = {}
        for i, (t, label) in enumerate(changes):
            until = changes[i + 1][0] if i + 1 < len(changes) else truth.duration
            overlap = min(until, start + bar) - max(t, start)
            if overlap > 0:
                heard[label] = heard.get(label, 0.0) + overlap
        result.append(max(heard, key=lambda k: heard[k]) if heard else None)
    return result


@cache
def heard(name: str) -> Heard:
    take = generate_take(SPECS[name])
    frames, times, levels = chroma_frames(take.samples, take.sample_rate)
    recognizer = ChordRecognizer()
    keys = KeyEstimator()
    changes: list[tuple[float, str]] = []
    key_changes: list[tuple[float, str]] = []
    previous = None
    onsets = [t + ONSET_DELAY for t in take.truth.onsets]
    for chroma, time, level in zip(frames, times, levels, strict=True):
        while onsets and onsets[0] <= time:
            recognizer.onset(onsets.pop(0))
        chord = recognizer.update(chroma, float(level), float(time))
        if chord is not None:
            changes.append((float(time), chord.label))
        current = recognizer.current
        if current is not None and previous is not None and level > 0.005:
            key = keys.update(current, float(time - previous), float(time))
            if key is not None:
                key_changes.append((float(time), key.label))
        previous = time
    return Heard(take, changes, per_bar(changes, take), key_changes)


@pytest.mark.parametrize("name", list(SPECS))
def test_no_take_falls_apart(name: str) -> None:
    result = heard(name)
    truth = result.take.truth.chords
    right = sum(h == t for h, t in zip(result.per_bar, truth, strict=True))
    assert right / len(truth) >= 0.85, list(zip(truth, result.per_bar, strict=True))


def test_at_least_ninety_percent_of_all_bars_and_the_variety_required() -> None:
    right = total = 0
    qualities, keys, tempos = set(), set(), set()
    for name, spec in SPECS.items():
        result = heard(name)
        truth = result.take.truth.chords
        right += sum(h == t for h, t in zip(result.per_bar, truth, strict=True))
        total += len(truth)
        qualities |= {label.split(":")[1] for label in truth}
        keys.add(spec.key)
        tempos.add(spec.bpm)
    assert {"maj", "min", "7", "min7", "maj7"} <= qualities
    assert len(keys) >= 2 and len(tempos) >= 2
    assert right / total >= 0.9


def test_chord_changes_are_heard_within_a_beat() -> None:
    delays: list[float] = []
    for name in SPECS:
        result = heard(name)
        truth = result.take.truth
        beat = 60.0 / truth.bpm
        for bar, start in enumerate(truth.bar_times):
            label = truth.chords[bar]
            if bar and label != truth.chords[bar - 1]:
                hits = [t for t, heard_label in result.changes
                        if t >= start - 0.05 and heard_label == label]
                delays.append((hits[0] - start) / beat if hits else np.inf)
    assert np.percentile(delays, 90) <= 1.0, sorted(delays)
    assert np.median(delays) <= 0.75


@pytest.mark.parametrize("name", list(SPECS))
def test_key_of_the_take(name: str) -> None:
    result = heard(name)
    assert result.keys, "no key reported"
    assert {label for _, label in result.keys} == {result.take.truth.key}


@pytest.mark.parametrize("name", [n for n in SPECS if n != "G-90-ringing"])
def test_tempo_from_the_strums(name: str) -> None:
    """(Two strums a bar, as in the ringing take, say too little about the beat.)"""
    take = heard(name).take
    rng = np.random.default_rng(7)
    estimator = TempoEstimator()
    reported = [r for t in take.truth.onsets
                if (r := estimator.update(t + float(rng.normal(0, 0.004)))) is not None]
    assert reported and all(abs(r - take.truth.bpm) <= 2.0 for r in reported), reported


def test_follower_captures_the_progression_of_a_take() -> None:
    """Pedal down for the whole take (listen), up at the end of its last bar (play): the
    captured loop is the take's progression, aligned with the bars."""
    take = heard("Am-132").take
    truth = take.truth
    bar_seconds = truth.beats_per_bar * 60.0 / truth.bpm
    harmony = HarmonicContext.from_labels("E:min", ["E:min", "C:maj", "G:maj", "D:maj"])
    listening = Listening()
    events: list[dict[str, Any]] = []
    follower = Follower(harmony, listening, lambda t: (t - truth.bar_times[0]) / bar_seconds,
                        on_event=events.append)
    follower.set_mode("listen", 0.0)
    frames, times, levels = chroma_frames(take.samples, take.sample_rate)
    onsets = iter(truth.onsets)
    next_onset = next(onsets, None)
    pedal_up = truth.bar_times[-1] + bar_seconds
    for chroma, time, level in zip(frames, times, levels, strict=True):
        if time > pedal_up:
            break
        follower.handle(PitchReading(float(time), 1000, 0, 0.0, False, float(level)))
        while next_onset is not None and next_onset + ONSET_DELAY <= time:
            follower.handle(OnsetReading(next_onset + ONSET_DELAY, 1000, 0, 0.5))
            next_onset = next(onsets, None)
        follower.handle(ChromaReading(float(time), 1000, 0, tuple(chroma)))
    follower.set_mode("play", pedal_up)
    progression = [e for e in events if e["kind"] == "progression"][-1]
    assert progression["first_bar"] == 0
    assert progression["chords"] == list(truth.chords)
    assert [harmony.chord_at_bar(b).label for b in range(4)] == list(truth.chords[:4])
    assert harmony.key == Key.parse("A:min")
    tempo = [e["bpm"] for e in events if e["kind"] == "tempo"]
    assert tempo and abs(tempo[-1] - truth.bpm) <= 2.0
