"""End to end: `python -m performia.gui` in its own process, the page in headless Chromium."""

from __future__ import annotations

import math
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from performia.config import PROJECT_ROOT
from performia.events.snapshot import StateWriter, empty_state, shm_path
from performia.processes import Child, spawn

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOT_DOC = PROJECT_ROOT / "docs" / "gui-screenshot.png"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium")

PROGRESSION = ["E:min", "C:maj", "G:maj", "D:maj"]
PITCH_CLASS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
MELODY = [0, 3, 5, 7, 10, 12, 10, 7]          # minor pentatonic steps
NOTE_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]


def _chord_tones(name: str, octave: int) -> list[int]:
    root, quality = name.split(":")
    base = 12 * (octave + 1) + PITCH_CLASS[root]
    return [base, base + (3 if quality == "min" else 4), base + 7]


def _drum_hits(start: float, spb: float, k: int) -> list[dict[str, Any]]:
    t = start + k * spb / 2
    hits = [{"t": t, "midi": 42, "vel": 0.55, "dur": 0.0, "voice": "hat"}]
    if k % 4 == 0:
        hits.append({"t": t, "midi": 36, "vel": 1.0, "dur": 0.0, "voice": "kick"})
    if k % 4 == 2:
        hits.append({"t": t, "midi": 38, "vel": 0.9, "dur": 0.0, "voice": "snare"})
    return hits


def _notes(origin: float, now: float, bpm: float) -> dict[str, list[dict[str, Any]]]:
    """Recent and scheduled notes of a rock groove in E minor, 6 s back, 0.5 s ahead."""
    spb = 60.0 / bpm
    first = max(0, int((now - 6.0 - origin) / (spb / 2)))
    last = int((now + 0.5 - origin) / (spb / 2))
    lanes: dict[str, list[dict[str, Any]]] = {"drums": [], "bass": [], "harmony": [],
                                              "melody": []}
    for k in range(first, last + 1):          # k counts eighth notes
        t = origin + k * spb / 2
        chord = PROGRESSION[(k // 8) % len(PROGRESSION)]
        lanes["drums"] += _drum_hits(origin, spb, k)
        if k % 2 == 0:
            lanes["bass"].append({"t": t, "midi": _chord_tones(chord, 1)[0] + 12 * (k % 4 == 2),
                                  "vel": 0.85, "dur": spb * 0.8, "voice": "bass"})
        if k % 4 == 0:
            lanes["harmony"] += [{"t": t, "midi": m, "vel": 0.6, "dur": spb * 1.8,
                                  "voice": "keys"} for m in _chord_tones(chord, 3)]
        if k % 3 != 2:
            lanes["melody"].append({"t": t, "midi": 64 + MELODY[(k * 5) % len(MELODY)],
                                    "vel": 0.7, "dur": spb * 0.45, "voice": "lead"})
    return lanes


def band_state(origin: float, now: float, bpm: float = 112.0) -> dict[str, Any]:
    """A changing, band-like snapshot: what the audio-control side would publish."""
    state: dict[str, Any] = empty_state()
    beats = (now - origin) * bpm / 60.0
    bar, beat = 1 + int(beats // 4), 1 + beats % 4
    chord = PROGRESSION[(bar - 1) % len(PROGRESSION)]
    state["transport"].update(bar=bar, beat=round(beat, 3), bpm=bpm, beats_per_bar=4,
                              playing=True)
    state["harmony"].update(chord=chord, key="E:min", heard_chord=chord, heard_key="E:min",
                            progression=PROGRESSION)
    cents = 14.0 * math.sin(now * 1.7)
    midi = _chord_tones(chord, 2)[0]
    spb = 60.0 / bpm
    onsets = [origin + i * spb for i in range(int(beats) - 8, int(beats) + 1) if i >= 0]
    state["input"].update(pitch_hz=440.0 * 2 ** ((midi + cents / 100 - 69) / 12),
                          note=f"{NOTE_NAMES[midi % 12]}{midi // 12 - 1}", cents=cents,
                          level=0.45 + 0.3 * abs(math.sin(now * 3)), onsets=onsets)
    state["pedal"].update(down=(bar // 4) % 2 == 1, mode="listen" if (bar // 4) % 2 else "play")
    for agent, notes in _notes(origin, now, bpm).items():
        state["agents"][agent]["notes"] = notes
    state["agents"]["drums"]["state"] = {"pattern": "rock", "fill": beat > 4.5}
    state["agents"]["bass"]["state"] = {"style": "root-octave"}
    state["agents"]["harmony"]["state"] = {"voicing": "close", "chord": chord}
    state["agents"]["melody"]["state"] = {"phrase": bar % 8, "density": 0.6}
    state["levels"] = {name: 0.2 + 0.6 * abs(math.sin(now * (2 + i)))
                       for i, name in enumerate(state["levels"])}
    state["server"].update(cpu_avg=11.8 + math.sin(now), cpu_peak=19.5, ugens=312, synths=26,
                           xruns=0, late=0)
    state["events"].update(written=int((now - origin) * 40), dropped=0)
    state["latency"].update(lookahead_ms=3.0, answer_ms=18.0)
    return state


class BandPublisher:
    def __init__(self, name: str, hz: float = 60.0) -> None:
        self.writer = StateWriter(name)
        self.hz = hz
        self.origin = time.time()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="band-publisher", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(1.0 / self.hz):
            self.writer.publish(band_state(self.origin, time.time()))

    def __enter__(self) -> BandPublisher:
        self.writer.publish(band_state(self.origin, time.time()))
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.writer.close()
        self.writer.unlink()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_healthy(url: str, child: Child, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"the GUI process exited with {child.process.returncode}")
        try:
            health: dict[str, Any] = httpx.get(f"{url}/api/health", timeout=1.0).json()
            if health["ok"] and health["version"] > 0:
                return health
        except httpx.HTTPError:
            pass                                   # not listening yet
        time.sleep(0.1)
    raise TimeoutError(f"{url} not healthy after {timeout} s")


@pytest.fixture
def gui() -> Iterator[tuple[str, Child, list[str]]]:
    name = f"performia-test-{uuid.uuid4().hex[:10]}"
    port = _free_port()
    output: list[str] = []
    with BandPublisher(name):
        child = spawn("gui", [sys.executable, "-m", "performia.gui", "--state", name,
                              "--host", "127.0.0.1", "--port", str(port)],
                      on_line=output.append)
        try:
            yield f"http://127.0.0.1:{port}", child, output
        finally:
            if child.alive():
                child.stop(timeout=3.0)
    shm_path(name).unlink(missing_ok=True)


def test_the_page_shows_live_data_in_chromium(gui: tuple[str, Child, list[str]],
                                              tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    url, child, output = gui
    _wait_healthy(url, child)
    assert os.getpriority(os.PRIO_PROCESS, child.pid) >= min(19, os.nice(0) + 10)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(url + "/")
            page.wait_for_function("document.body.className === ''", timeout=15000)
            first = page.inner_text("#barbeat")
            page.wait_for_function(f"document.querySelector('#barbeat').textContent !== {first!r}",
                                   timeout=15000)
            page.wait_for_function("document.querySelector('#chord').textContent !== '—'")
            page.wait_for_timeout(2500)              # let the piano roll fill, the rate settle
            chord = page.inner_text("#chord")
            rate = int(page.inner_text("#rate"))
            note = page.inner_text("#note")
            shot = tmp_path / "gui.png"
            page.screenshot(path=str(shot))
            if os.environ.get("PERFORMIA_SAVE_SCREENSHOT"):
                SCREENSHOT_DOC.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SCREENSHOT_DOC))
        finally:
            browser.close()
    assert chord in {"Em", "C", "G", "D"}
    assert note != "—"
    assert rate >= 28, rate                        # ~30 frames/s reach the page
    assert shot.stat().st_size > 10_000
    os.kill(child.pid, signal.SIGTERM)
    assert child.process.wait(10) == 0, "\n".join(output)
    assert not child.alive()


def test_the_page_shows_no_connection_when_the_server_is_gone(
        gui: tuple[str, Child, list[str]]) -> None:
    from playwright.sync_api import sync_playwright

    url, child, _output = gui
    _wait_healthy(url, child)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(url + "/")
            page.wait_for_function("document.body.className === ''", timeout=15000)
            os.kill(child.pid, signal.SIGTERM)
            assert child.process.wait(10) == 0
            page.wait_for_function("document.body.classList.contains('offline')", timeout=10000)
            assert page.is_visible("#overlay")
            assert "NO CONNECTION" in page.inner_text("#overlay-title")
        finally:
            browser.close()
