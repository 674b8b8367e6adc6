"""The snapshot the GUI shows, composed from the conductor's objects and published at the
GUI's frame rate by a normal-priority thread (never the clock's)."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from performia.conductor.band_loop import BandLoop
from performia.conductor.listening import Ears
from performia.events.health import HealthReader
from performia.events.note import NoteKind
from performia.events.snapshot import StateWriter, empty_state
from performia.processes import set_background_realtime
from performia.server.osc import OscClient, OscTimeoutError

log = logging.getLogger(__name__)

NOTE_HISTORY_SECONDS = 4.0
METER_ORDER = ("drums", "bass", "harmony", "melody", "input", "test", "master", "master")
NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


class ServerFigures:
    """Levels (from the master's /meter replies) and load (/status), kept up to date."""

    def __init__(self, client: OscClient) -> None:
        self.client = client
        self.levels: dict[str, float] = {}
        self.status: dict[str, float] = {}
        client.on("/meter", self._on_meter)

    def _on_meter(self, _address: str, args: list[Any]) -> None:
        peaks = args[2::2]
        levels: dict[str, float] = {}
        for name, peak in zip(METER_ORDER, peaks, strict=False):
            levels[name] = max(levels.get(name, 0.0), float(peak))
        self.levels = levels

    def poll_status(self) -> None:
        try:
            reply = self.client.request("/status", reply="/status.reply", timeout=0.5)
        except OscTimeoutError:
            log.warning("the server did not answer /status")
            return
        self.status = {"ugens": int(reply[1]), "synths": int(reply[2]),
                       "cpu_avg": round(float(reply[5]), 1), "cpu_peak": round(float(reply[6]), 1)}


def compose(loop: BandLoop, figures: ServerFigures | None, health: HealthReader | None,
            lookahead_ms: float, ears: Ears | None = None) -> dict[str, Any]:
    state = empty_state()
    now = time.time()
    tempo = loop.clock.tempo
    beat = tempo.beat_at(now)
    position = tempo.position(max(beat, 0.0))
    state["transport"] = {"bar": position.bar + 1, "beat": round(position.beat + 1, 3),
                          "bpm": tempo.bpm, "beats_per_bar": tempo.beats_per_bar,
                          "playing": beat >= 0}
    harmony = loop.harmony
    state["harmony"] = {
        "chord": harmony.chord_at_bar(max(position.bar, 0)).label, "key": harmony.key.label,
        "heard_chord": harmony.heard_chord.label if harmony.heard_chord else None,
        "heard_key": None, "progression": [c.label for c in harmony.progression]}
    for agent in state["agents"]:
        notes = loop.memory.recent(agent, since=now - NOTE_HISTORY_SECONDS)
        state["agents"][agent]["notes"] = [
            {"t": round(n.time, 4), "midi": n.pitch, "vel": round(n.velocity, 3),
             "dur": round(n.duration, 3), "voice": n.voice_name} for n in notes
            if n.kind != NoteKind.RELEASE]
        state["agents"][agent]["state"] = {"failures": loop.failures.get(agent, 0)}
    listening = loop.listening
    state["input"]["level"] = round(listening.level, 3)
    if listening.pitch > 0:
        state["input"].update(_tuner(listening.pitch))
    state["pedal"] = {"down": listening.mode == "listen", "mode": listening.mode}
    if figures is not None:
        state["levels"].update({k: round(v, 4) for k, v in figures.levels.items()
                                if k in state["levels"]})
        state["server"].update(figures.status)
    if health is not None:
        counters = health.read()
        state["server"]["xruns"], state["server"]["late"] = counters["xruns"], counters["late"]
    written = sum(w.written for w in loop.writers.values())
    state["events"] = {"written": written,
                       "dropped": sum(w.dropped for w in loop.writers.values()) + loop.dropped}
    state["latency"]["lookahead_ms"] = lookahead_ms
    if ears is not None:
        state["input"]["onsets"] = list(ears.onsets)
        state["harmony"]["heard_key"] = harmony.key.label if listening.playing else None
        state["agents"]["drums"]["state"]["answers"] = ears.answered
    return state


def _tuner(hz: float) -> dict[str, Any]:
    midi = 69 + 12 * math.log2(hz / 440.0)
    nearest = round(midi)
    return {"pitch_hz": round(hz, 2), "note": f"{NOTE_NAMES[nearest % 12]}{nearest // 12 - 1}",
            "cents": round((midi - nearest) * 100, 1)}


class Publisher:
    """Publishes `compose(...)` at `fps` from its own thread, at the lowest real-time priority
    (a normal-priority thread holding the GIL while preempted would stall the band)."""

    def __init__(self, writer: StateWriter, make_state: Callable[[], dict[str, Any]],
                 fps: int, figures: ServerFigures | None = None) -> None:
        self.writer = writer
        self.make_state = make_state
        self.period = 1.0 / fps
        self.figures = figures
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="state-publisher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        set_background_realtime("state publisher")
        last_status = 0.0
        while not self._stop.wait(self.period):
            now = time.monotonic()
            if self.figures is not None and now - last_status > 0.5:
                last_status = now
                self.figures.poll_status()
            try:
                self.writer.publish(self.make_state())
            except Exception:
                log.exception("could not publish the state snapshot")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
