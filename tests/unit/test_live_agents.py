"""Live-coded agents for real: a watched folder, files written and edited on disk, the
agents' own process (performia.live.worker) computing bars. A file that does not compile,
that raises, that takes too long, or that loops forever is reported with its file and line
and never takes the previous version's place; the looping one costs a restart of the
agents' process, not a bar of the band."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from performia.control.settings import AGENT_VOICES, BAND
from performia.live.host import LiveError, LiveHost
from performia.live.protocol import BarNotes
from performia.live.watch import FolderWatcher

FOUR = '''
from performia.live.api import Note, Step
AGENT = "drums"

def step(s: Step) -> list[Note]:
    return [s.note("kick", 36, 0.9)] if s.on_beat else []
'''
EIGHTS = FOUR.replace("if s.on_beat", "if s.index % 2 == 0")


def context(bar_tempo: float = 120.0) -> dict[str, Any]:
    return {"bpm": bar_tempo, "beats_per_bar": 4, "key": "E:min", "chord": "E:min",
            "next_chord": "C:maj", "mode": "play", "playing": False, "seed": 1,
            "style": "rock",
            "agents": {a: {"muted": False, "params": {},
                           "patterns": {v: "X..." for v in AGENT_VOICES[a]}} for a in BAND}}


def wait_for(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("timed out")


class Live:
    def __init__(self, folder: Path, budget_ms: float = 1.0, timeout: float = 1.0) -> None:
        self.errors: list[LiveError] = []
        self.host = LiveHost(folder, budget_ms, timeout, self.errors.append).start()
        self.watcher = FolderWatcher(folder, self.host.offer, self.host.remove,
                                     self.host.report).start()
        self.bar = 0

    def bar_of(self, agent: str, digest: str | None = None) -> BarNotes:
        """Ask for the next bar and wait for `agent`'s notes (of version `digest`)."""
        self.bar += 1
        bar = self.bar
        self.host.request(bar, context())

        def ready() -> BarNotes | None:
            notes = self.host._results.get((agent, bar))
            if notes is not None and (digest is None or notes.digest == digest):
                return notes
            return None
        result: BarNotes = wait_for(ready)
        return result

    def close(self) -> None:
        self.watcher.close()
        self.host.close()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    folder = tmp_path / "agents"
    folder.mkdir()
    (folder / "drums.py").write_text(FOUR)
    running = Live(folder)
    yield running
    running.close()


def kicks(notes: BarNotes) -> list[int]:
    return sorted(index for index, planned in notes.steps.items() for _ in planned)


def test_a_file_plays_and_an_edit_replaces_it(live: Live) -> None:
    wait_for(lambda: live.host.playing.get("drums"))
    assert kicks(live.bar_of("drums")) == [0, 4, 8, 12]
    path = live.host.playing["drums"]
    Path(path).write_text(EIGHTS)
    wait_for(lambda: live.host.files[path].get("status") == "loaded"
             or kicks(live.bar_of("drums")) == list(range(0, 16, 2)))
    assert kicks(live.bar_of("drums")) == list(range(0, 16, 2))
    assert live.errors == []


@pytest.mark.parametrize(("text", "line", "words"), [
    ("def step(s):\n    return [\n", 2, "SyntaxError"),
    ("import no_such_module_here\n", 1, "ModuleNotFoundError"),
    ("AGENT = 'drums'\ndef step(s):\n    x = 1\n    return [s.note('kick', 36, 2.0)]\n", 4,
     "velocity"),
    ("AGENT = 'drums'\ndef step(s):\n    return 1 / 0\n", 3, "ZeroDivisionError"),
    ("AGENT = 'drums'\ndef step(s):\n    return [s.note('bass', 40)]\n", 2, "no voice"),
    ("AGENT = 'drums'\ndef step(s):\n    n = 0\n    while n < 2 * 10**5:\n        n += 1\n"
     "    return []\n", 2, "over the budget"),
])
def test_a_broken_version_is_reported_and_the_previous_one_plays(
        live: Live, text: str, line: int, words: str) -> None:
    wait_for(lambda: live.host.playing.get("drums"))
    good = live.bar_of("drums")
    path = live.host.playing["drums"]
    Path(path).write_text("from performia.live.api import Note, Step\n" * 0 + text)
    error = wait_for(lambda: live.errors and live.errors[-1])
    assert error.path == path and error.line == line and words in error.message, error
    after = live.bar_of("drums")
    assert after.digest == good.digest and kicks(after) == [0, 4, 8, 12]


def test_an_agent_that_loops_forever_costs_a_restart_not_the_band(live: Live) -> None:
    wait_for(lambda: live.host.playing.get("drums"))
    folder = live.host.folder
    (folder / "forever.py").write_text(
        "AGENT = 'melody'\n\ndef step(s):\n    if s.bar >= 2:\n        while True:\n"
        "            pass\n    return [s.note('lead', 76)]\n")
    wait_for(lambda: live.host.playing.get("melody"))
    live.bar_of("melody")                      # bar 1: it plays
    started = time.monotonic()
    live.host.request(2, context())            # bar 2: it never returns
    error = wait_for(lambda: live.errors and live.errors[-1], timeout=5.0)
    assert error.path == str(folder / "forever.py") and error.line in (5, 6), error
    assert "did not return within 1 s" in error.message
    assert time.monotonic() - started < 3.0
    # the drums (computed first: proven files go first) and the restarted process go on
    assert live.host._results.get(("drums", 2)) is not None
    notes = live.bar_of("drums")
    assert kicks(notes) == [0, 4, 8, 12]
    assert live.host.restarts == 1 and "melody" not in live.host.playing
    # saving the same looping text again does not load it again
    (folder / "forever.py").write_text((folder / "forever.py").read_text())
    live.bar_of("drums")
    assert "melody" not in live.host.playing


def test_a_deleted_file_gives_the_agent_back(live: Live) -> None:
    path = wait_for(lambda: live.host.playing.get("drums"))
    Path(path).unlink()
    wait_for(lambda: "drums" not in live.host.playing)
    assert live.host.bar_notes("drums", live.bar) is None
