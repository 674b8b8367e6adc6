"""Issue 4's proof: 16 bars at 120 BPM, recorded as stems. Every instrument is heard, every
drum hit starts on its exact sample, the bass plays the chord of its bar, nothing clips, and
the server's node count is back to its baseline after the last note."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from performia.config import replace
from performia.listen.rehearsal import write_wav_float
from performia.manager import Manager, RunOptions
from performia.server.recorder import STEM_CHANNELS
from performia.theory import Chord
from tests.audio import merge_split_hits, read_wav, rounding_allowance, undisturbed
from tests.conftest import RUN_ID, make_config

pytestmark = pytest.mark.server

BARS, BPM, RATE = 16, 120.0, 48000
SECONDS = BARS * 4 * 60 / BPM


@pytest.fixture(scope="module")
def sixteen_bars(tmp_path_factory: pytest.TempPathFactory) -> tuple[Manager, Path, list[dict]]:
    out = tmp_path_factory.mktemp("band")
    config = make_config(RUN_ID + "band")
    config = replace(config, "timing", tempo=BPM)
    config = replace(config, "band", style="rock", seed=7)
    config = replace(config, "gui", enabled=False)
    # its own chart, not the guitar's; no pedal (no JACK MIDI client polling for one)
    config = replace(config, "midi", initial_mode="play", port="")
    silence = out / "silence.wav"          # the band alone: the guitar is silent
    write_wav_float(silence, np.zeros(RATE * 40, dtype=np.float32), RATE)
    takes = []
    for take in range(3):    # an xrun (a dropout) resyncs the server clock: try again
        stems, events = out / f"stems{take}.wav", out / f"events{take}.jsonl"
        manager = Manager(config, RunOptions(duration=SECONDS + 0.3, stems=stems,
                                             events=events, input=silence, gui=False))
        assert manager.run() == 0
        reports = len(manager.server_log.report_times())
        takes.append((reports, take, manager, stems, events))
        if reports == 0:
            break
    _, _, manager, stems, events = min(takes, key=lambda t: (t[0], t[1]))  # the least disturbed
    played = [json.loads(line) for line in events.read_text().splitlines()]
    return manager, stems, played


def test_every_instrument_is_heard(sixteen_bars: tuple[Manager, Path, list[dict]]) -> None:
    _, stems, _ = sixteen_bars
    _, audio = read_wav(stems)
    for name in ("drums", "bass", "harmony", "melody"):
        stem = audio[:, STEM_CHANNELS[name]:STEM_CHANNELS[name] + 2]
        rms = float(np.sqrt(np.mean(stem ** 2)))
        assert rms > 0.005, f"{name} bus is silent (rms {rms:.5f})"


def test_master_never_clips(sixteen_bars: tuple[Manager, Path, list[dict]]) -> None:
    _, stems, _ = sixteen_bars
    _, audio = read_wav(stems)
    master = audio[:, STEM_CHANNELS["master"]:STEM_CHANNELS["master"] + 2]
    assert 0.1 < np.abs(master).max() <= 10 ** (-1 / 20) + 1e-6   # peak ≤ −1 dBFS


def test_drum_hits_start_on_their_exact_samples(
        sixteen_bars: tuple[Manager, Path, list[dict]]) -> None:
    _, stems, played = sixteen_bars
    _, audio = read_wav(stems)
    marks = np.nonzero(audio[:, STEM_CHANNELS["drum_marks"]] > 0.5)[0]
    kit = {"kick", "snare", "hat", "openhat"}      # (reactive answers are off the grid)
    expected = sorted({round(e["t"] * RATE) for e in played if e.get("voice") in kit
                       and e["t"] * RATE < audio.shape[0]})
    assert len(expected) > 100
    server_log = sixteen_bars[0].server_log
    if server_log.xruns == 0 and server_log.late == 0:
        assert marks.tolist() == expected             # 0 samples of error, none missing or extra
        sixteenth = RATE * 60 / BPM / 4
        assert all(m % sixteenth == 0 for m in marks)  # and all on the rock grid
        return
    # Every take had a dropout (these VMs stall now and then): supernova resyncs its clock
    # at each, so the spacing across one is the dropout's; every other spacing is exact.
    # a late bundle, or one that the resync after a dropout makes late by the server's
    # clock, can split a kick+hat pair into two marks, a block or (after a stall) a few
    # apart: no two hits of a groove are closer than a sixteenth, so marks closer than
    # half the closest two hits are one hit
    hits = merge_split_hits(marks, within=int(np.diff(expected).min()) // 2)
    assert len(hits) == len(expected)                 # none missing, none extra
    plan = sixteen_bars[0].plan
    assert plan is not None
    start = plan.start_time
    reports = [t - start for t in server_log.report_times()]
    times = np.array(expected) / RATE
    clean = undisturbed(times, reports)
    allowed = rounding_allowance(times, reports)
    errors = np.diff(hits) - np.diff(expected)
    # every spacing left undisturbed is exact ...
    wrong = np.nonzero(clean & (np.abs(errors) > allowed))[0]
    assert wrong.size == 0, (
        f"undisturbed spacings off: {[(round(times[i], 3), int(errors[i])) for i in wrong]} "
        f"(s, samples); xrun reports {[round(t - start, 3) for t in server_log.xrun_times]}, "
        f"late {[round(t - start, 3) for t in server_log.late_times]}")
    # ... and there must be enough of them to judge (a bar and a half): how many depends on
    # this VM, which has had from 2 to 15 dropouts a second (docs/PERFORMANCE.md); below
    # that the take says nothing either way (as tests/test_event_path.py)
    checked = int(np.count_nonzero(clean))
    if checked < 24:
        pytest.skip(f"only {checked} undisturbed spacings (all exact) among "
                    f"{len(reports)} xrun/late reports: the machine stalls too often to "
                    "measure more")


def test_bass_plays_the_chord_of_its_bar(
        sixteen_bars: tuple[Manager, Path, list[dict]]) -> None:
    manager, _, played = sixteen_bars
    progression = [Chord.parse(c) for c in manager.config.band.progression]
    bass = sorted((e for e in played if e.get("agent") == "bass"), key=lambda e: e["t"])
    in_chord = total = 0
    for beat in range(BARS * 4):
        t = beat * 60 / BPM
        sounding = [e for e in bass if e["t"] <= t + 1e-9 and e["t"] + e["dur"] > t]
        if not sounding:
            continue
        total += 1
        chord = progression[(beat // 4) % len(progression)]
        in_chord += chord.contains(sounding[-1]["midi"])
    assert total >= BARS * 4 * 0.75
    assert in_chord / total >= 0.9, f"{in_chord}/{total} beats in the chord"


def test_no_synth_is_left_hanging(sixteen_bars: tuple[Manager, Path, list[dict]]) -> None:
    manager, _, _ = sixteen_bars
    assert manager.final_synths == manager.baseline_synths
