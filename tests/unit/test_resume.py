"""A restarted conductor's plan: what it takes from the dead one's state snapshot
(plan.resume_from_snapshot) and the time base it carries on with (PerformancePlan.tempo_map)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from performia.config import load_config, replace
from performia.events.snapshot import empty_state
from performia.plan import PerformancePlan, resume_from_snapshot


def _plan(tempo: float = 120.0) -> PerformancePlan:
    return PerformancePlan(config=replace(load_config(), "timing", tempo=tempo),
                           start_time=1000.0)


def _state(**changes: Any) -> dict[str, Any]:
    state = empty_state()
    state.update(version=7, time=1010.0)
    state["pedal"] = {"down": False, "mode": "play"}
    state["harmony"].update(key="G:maj", progression=["G:maj", "E:min7", "C:maj7", "D:7"])
    state["transport"].update(bar=6, beat=1.0, bpm=120.0, beats_per_bar=4)
    for key, value in changes.items():
        state[key] = value
    return state


def test_mode_progression_and_key_are_carried_on() -> None:
    plan = _plan()
    resume = resume_from_snapshot(_state(), plan)
    assert resume == {"mode": "play", "progression": ["G:maj", "E:min7", "C:maj7", "D:7"],
                      "key": "G:maj"}
    resumed = PerformancePlan.from_json(json.dumps({**json.loads(plan.to_json()),
                                                    "resume": resume}))
    assert resumed.initial_mode == "play" and resumed.key == "G:maj"
    assert resumed.progression == ["G:maj", "E:min7", "C:maj7", "D:7"]
    assert resumed.tempo_map() == plan.tempo_map()        # the same tempo: the exact map


def test_a_changed_tempo_is_anchored_where_the_snapshot_was() -> None:
    plan = _plan(tempo=120.0)
    state = _state()
    state["transport"].update(bpm=90.0, bar=9, beat=3.5)   # beat 34.5 at t = 1010
    resume = resume_from_snapshot(state, plan)
    tempo = PerformancePlan(config=plan.config, start_time=plan.start_time,
                            resume=resume).tempo_map()
    assert tempo.bpm == 90.0
    assert tempo.beat_at(1010.0) == pytest.approx(34.5)
    assert tempo.beat_at(1012.0) == pytest.approx(37.5)


def test_nothing_published_gives_nothing() -> None:
    assert resume_from_snapshot(empty_state(), _plan()) == {}


@pytest.mark.parametrize("broken", [
    {"pedal": {"mode": "loud"}},
    {"harmony": {"key": "H:maj", "progression": ["X:min"]}},
    {"harmony": {"key": "G:maj", "progression": []}},
    {"transport": {"bpm": float("nan"), "bar": 1, "beat": 1.0, "beats_per_bar": 4}},
    {"transport": {"bpm": 5000.0, "bar": 1, "beat": 1.0, "beats_per_bar": 4}},
    {"transport": None},
])
def test_a_damaged_snapshot_only_loses_its_damaged_fields(
        broken: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    resume = resume_from_snapshot(_state(**broken), _plan())
    assert "bpm" not in resume
    for field, value in resume.items():
        assert value == resume_from_snapshot(_state(), _plan())[field]
    assert "the state snapshot has no usable" in caplog.text
