"""Issue 5's proof on a real server: the band plays with rehearsal takes of known
progressions (triads and 7th chords, two keys, two tempos) played from t = 0. The chord heard
per bar matches the truth, the bass follows the heard chords, and the sustain pedal, sent
through a real JACK MIDI port, captures the progression (listen) and loops it (play)."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from performia.config import replace
from performia.listen.rehearsal import TakeSpec, TakeTruth, generate_take, write_take
from performia.manager import Manager, RunOptions
from performia.theory import Chord
from tests.conftest import RUN_ID, make_config

pytestmark = pytest.mark.server

TAKES = {
    "g-major-120": TakeSpec(progression=("G:maj", "E:min7", "C:maj7", "D:7"), key="G:maj",
                            bpm=120.0, bars=8, lead_in=0.0, tail=0.5, seed=3),
    "d-minor-96": TakeSpec(progression=("D:min", "Bb:maj7", "G:min7", "A:7"), key="D:min",
                           bpm=96.0, bars=8, lead_in=0.0, tail=0.5, pattern="D.D.DUDU",
                           seed=5),
}


def _play(tmp: Path, name: str, spec: TakeSpec, midi: Any = None) -> tuple[list[dict], TakeTruth]:
    take = write_take(tmp / f"{name}.wav", generate_take(spec))
    truth = TakeTruth.from_json(take.with_suffix(".json").read_text())
    config = make_config(RUN_ID + "listen")
    config = replace(config, "timing", tempo=spec.bpm)
    config = replace(config, "midi", port=f"Quantum 2626 {RUN_ID}")
    events = tmp / f"{name}.jsonl"
    manager = Manager(config, RunOptions(duration=truth.duration, events=events, input=take,
                                         gui=False))
    if midi is not None:
        threading.Thread(target=midi, args=(manager, truth), daemon=True).start()
    assert manager.run() == 0
    return [json.loads(line) for line in events.read_text().splitlines()], truth


def _heard_per_bar(events: list[dict], truth: TakeTruth) -> list[str | None]:
    """The chord heard for the longest time within each bar."""
    changes = [(e["t"], e["chord"]) for e in events if e.get("kind") == "chord"]
    bars = list(truth.bar_times) + [truth.bar_times[-1] + truth.beats_per_bar * 60 / truth.bpm]
    out: list[str | None] = []
    for start, end in zip(bars[:-1], bars[1:], strict=True):
        held: dict[str, float] = {}
        for i, (t, chord) in enumerate(changes):
            until = changes[i + 1][0] if i + 1 < len(changes) else float("inf")
            overlap = min(until, end) - max(t, start)
            if overlap > 0:
                held[chord] = held.get(chord, 0.0) + overlap
        out.append(max(held, key=lambda c: held[c]) if held else None)
    return out


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[list[dict], TakeTruth]]:
    tmp = tmp_path_factory.mktemp("takes")
    return {name: _play(tmp, name, spec) for name, spec in TAKES.items()}


def test_the_chord_heard_per_bar_matches_the_truth(
        played: dict[str, tuple[list[dict], TakeTruth]]) -> None:
    right = total = 0
    for events, truth in played.values():
        heard = _heard_per_bar(events, truth)
        right += sum(h == t for h, t in zip(heard, truth.chords, strict=True))
        total += len(truth.chords)
    assert total == 16
    assert right / total >= 0.9, f"{right}/{total} bars"


def test_the_key_and_tempo_are_heard(played: dict[str, tuple[list[dict], TakeTruth]]) -> None:
    for events, truth in played.values():
        keys = [e["key"] for e in events if e.get("kind") == "key"]
        tempos = [e["bpm"] for e in events if e.get("kind") == "tempo"]
        assert keys and keys[-1] == truth.key
        assert tempos and abs(tempos[-1] - truth.bpm) <= 2.0


def test_the_bass_follows_the_guitarist(
        played: dict[str, tuple[list[dict], TakeTruth]]) -> None:
    """Each bass note is a tone of the chord last heard, or of the chord the guitarist plays
    in that bar (the band anticipates the form's next chord on the downbeat, before it is
    heard: issue 11)."""
    for events, truth in played.values():
        changes = [(e["t"], Chord.parse(e["chord"])) for e in events
                   if e.get("kind") == "chord" and e["chord"] != "N"]
        bass = [e for e in events if e.get("agent") == "bass" and e.get("midi", 0) > 0]
        bar = truth.beats_per_bar * 60 / truth.bpm
        followed = total = 0
        for note in bass:
            heard = [c for t, c in changes if t <= note["t"]]
            bars = [i for i, start in enumerate(truth.bar_times)
                    if start <= note["t"] < start + bar]
            if not heard or not bars:
                continue
            total += 1
            played_now = Chord.parse(truth.chords[bars[-1]])
            followed += heard[-1].contains(note["midi"]) or played_now.contains(note["midi"])
        assert total >= 16
        assert followed / total >= 0.8, f"{followed}/{total} bass notes in the guitarist's chord"


def test_the_pedal_captures_and_loops_the_progression(tmp_path: Path) -> None:
    """Pedal down for bars 1–5 (listen), then up (play): the band loops what it heard."""
    os.environ["JACK_DEFAULT_SERVER"] = RUN_ID + "listen"     # the band's JACK, for mido
    os.environ["JACK_NO_START_SERVER"] = "1"
    import mido

    sent: list[str] = []

    def pedal(manager: Manager, truth: TakeTruth) -> None:
        manager.started.wait(60)
        backend = mido.Backend("mido.backends.rtmidi/UNIX_JACK", load=True)
        port = backend.open_output(f"Quantum 2626 {RUN_ID}", virtual=True)
        try:
            plan = manager.plan
            assert plan is not None
            bar = truth.beats_per_bar * 60 / truth.bpm
            time.sleep(max(0.0, plan.start_time + 0.5 * bar - time.time()))
            port.send(mido.Message("control_change", control=64, value=127))
            sent.append("down")
            time.sleep(max(0.0, plan.start_time + 4.9 * bar - time.time()))
            port.send(mido.Message("control_change", control=64, value=0))
            sent.append("up")
            time.sleep(2.0)
        finally:
            port.close()

    events, truth = _play(tmp_path, "pedal", TAKES["g-major-120"], midi=pedal)
    assert sent == ["down", "up"]
    modes = [e["mode"] for e in events if e.get("kind") == "mode"]
    assert modes[-2:] == ["listen", "play"]
    captured = [e for e in events if e.get("kind") == "progression"]
    assert captured, "nothing was captured in listen mode"
    chords = captured[-1]["chords"]
    assert len(chords) >= 4
    assert set(chords) <= set(truth.chords)
    assert sum(c == truth.chords[(captured[-1]["first_bar"] + i) % 4]
               for i, c in enumerate(chords)) >= 0.75 * len(chords)
