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
from performia.control.band import BandControl
from performia.control.settings import AGENT_VOICES
from performia.events.health import HealthReader
from performia.events.note import NoteKind
from performia.events.snapshot import StateWriter, empty_state
from performia.processes import set_background_realtime
from performia.server.osc import OscClient, OscTimeoutError
from performia.state.book import StateBook
from performia.state.musical_state import BarChords, MusicalState, Prediction

log = logging.getLogger(__name__)

NOTE_HISTORY_SECONDS = 4.0
METER_ORDER = ("drums", "bass", "harmony", "melody", "input", "test", "master", "master")
NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
NO_CHORD = "N"              # the recogniser hears no chord (silence, a single-note melody)
HEARD_BEATS = 8             # beats heard published (the page pulses on the newest)
FORM_BARS = 16              # bars heard published (the page shows the last 6 or 12)


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
            lookahead_ms: float, ears: Ears | None = None,
            band: BandControl | None = None) -> dict[str, Any]:
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
    state["heard"] = heard_now(loop, ears, state["harmony"]["heard_key"])
    state["form"] = form_now(loop.book)
    if band is not None:
        control_state(state, band)
    return state


def heard_now(loop: BandLoop, ears: Ears | None, key: str | None) -> dict[str, Any]:
    """What is heard of the guitarist: the chord with its quality and the recogniser's
    confidence, the key, the tempo and the beat. Every figure the listening side does not
    have (yet) is None; the attributes are read with defaults, so a follower without a
    rhythm (or a rhythm without a confidence) publishes None, not an error."""
    follower = getattr(ears, "follower", None)
    recogniser = getattr(follower, "chords", None)
    chord: str | None = None
    confidence: float | None = None
    if recogniser is not None and getattr(recogniser, "started", False):
        current = getattr(recogniser, "current", None)
        chord = getattr(current, "label", None) or NO_CHORD
        confidence = _fraction(getattr(recogniser, "confidence", None))
    elif loop.harmony.heard_chord is not None:
        chord = loop.harmony.heard_chord.label
    rhythm = getattr(follower, "rhythm", None)
    bpm = _number(getattr(rhythm, "bpm", None))
    bpm_confidence = _fraction(getattr(rhythm, "confidence", None))
    book_state = loop.book.state if loop.book is not None else None
    if (bpm is None or bpm <= 0) and book_state is not None and book_state.bpm_time > 0:
        bpm, bpm_confidence = book_state.bpm, _fraction(book_state.bpm_confidence)
    beats_per_bar = loop.clock.tempo.beats_per_bar
    beats = _recent_times(getattr(rhythm, "beats", None), max(HEARD_BEATS, 2 * beats_per_bar + 1))
    downbeats = _recent_times(getattr(rhythm, "downbeats", None), 4)
    beat_in_bar: int | None = None       # None too when the last downbeat is 2 bars old
    if beats and downbeats and beats[0] - 1e-3 <= downbeats[-1] <= beats[-1] + 1e-3:
        since = sum(1 for t in beats if t >= downbeats[-1] - 1e-3)
        beat_in_bar = (since - 1) % beats_per_bar + 1
    quality: str | None = None
    if chord is not None and chord != NO_CHORD:
        quality = chord.partition(":")[2] or "maj"
    return {"chord": chord, "quality": quality, "confidence": confidence, "key": key,
            "key_confidence": _fraction(getattr(getattr(follower, "keys", None),
                                                "confidence", None)),
            "bpm": round(bpm, 2) if bpm is not None and bpm > 0 else None,
            "bpm_confidence": bpm_confidence,
            "beats": beats[-HEARD_BEATS:], "downbeats": downbeats,
            "beat_time": beats[-1] if beats else None, "beat_in_bar": beat_in_bar,
            "beats_per_bar": beats_per_bar}


def form_now(book: StateBook | None) -> dict[str, Any]:
    """The form as the state book knows it: the last bars heard, the bar the band is in
    with the chords heard in it so far, the predictions for it and the next bar, and the
    form found (None until something repeats). Bar numbers are 1-based, as in `transport`;
    a bar's chords are [{"beat": 1-based beat it starts on, "chord": label}, ...]."""
    form: dict[str, Any] = {"bar": None, "bars": [], "current": [], "prediction": None,
                            "next": None, "length": None, "strength": None,
                            "sections": None, "position": None}
    if book is None:
        return form
    state = book.state
    form["bars"] = [{"bar": heard.bar + 1, "chords": _chords(heard.changes)}
                    for heard in state.bars[-FORM_BARS:]]
    if state.bar >= 0:
        form["bar"] = state.bar + 1
        form["current"] = _heard_in_bar(state, state.bar)
    form["prediction"] = _prediction(state.prediction)
    form["next"] = _prediction(state.next_prediction)
    if state.form is not None:
        form.update(length=state.form.length, strength=round(state.form.strength, 3),
                    sections=state.form.sections or None,
                    position=state.form.position + 1)
    return form


def _chords(changes: BarChords) -> list[dict[str, Any]]:
    return [{"beat": beat + 1, "chord": chord.label} for beat, chord in changes]


def _prediction(prediction: Prediction | None) -> dict[str, Any] | None:
    if prediction is None:
        return None
    return {"bar": prediction.bar + 1, "chord": prediction.chord.label,
            "chords": _chords(prediction.changes),
            "confidence": round(prediction.confidence, 3)}


def _heard_in_bar(state: MusicalState, bar: int) -> list[dict[str, Any]]:
    """The chords heard so far in `bar` (the one sounding at its downbeat, then the
    changes the guitarist played in it)."""
    start = bar * state.beats_per_bar
    chords: list[dict[str, Any]] = []
    opening = state.last_change(start)
    if opening is not None and opening.chord is not None:
        chords.append({"beat": 1, "chord": opening.chord.label})
    for change in state.changes:
        if not start < change.beat < start + state.beats_per_bar or change.chord is None:
            continue
        if chords and chords[-1]["chord"] == change.chord.label:
            continue
        chords.append({"beat": change.beat - start + 1 if chords else 1,
                       "chord": change.chord.label})
    return chords


def _number(value: Any) -> float | None:
    """`value` as a finite float, or None (absent, not a number, NaN)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _fraction(value: Any) -> float | None:
    number = _number(value)
    return None if number is None else round(min(max(number, 0.0), 1.0), 3)


def _recent_times(values: Any, count: int) -> list[float]:
    """The last `count` times of a sequence another thread may be appending to."""
    if values is None:
        return []
    try:
        tail = list(values[-count:])
    except (TypeError, KeyError, IndexError):
        try:
            tail = list(values)[-count:]
        except TypeError:
            return []
    times = [_number(t) for t in tail]
    return [round(t, 4) for t in times if t is not None]


def control_state(state: dict[str, Any], band: BandControl) -> None:
    """What the control API and live coding changed (docs/OSC_API.md, "The GUI"): the
    settings in force, each agent's mute, patterns and source, live-coding errors."""
    settings = band.settings
    state["control"] = {
        "tempo": settings.tempo, "key": settings.key, "style": settings.style,
        "progression": list(settings.progression),
        "patterns": {f"{agent}/{voice}": settings.pattern_text(agent, voice)
                     for agent, voices in AGENT_VOICES.items() for voice in voices},
        "overrides": sorted(settings.patterns),
        "muted": [name for name, a in settings.agents.items() if a.muted],
        "params": {name: dict(a.params) for name, a in settings.agents.items() if a.params},
        "applied": band.applied, "waiting": band.inbox.waiting}
    live = band.live
    for name, member in band.members.items():
        if name in state["agents"]:
            state["agents"][name]["state"].update({
                "muted": settings.agents[name].muted,
                "source": member.playing_live or "built-in",
                "step_ms": round(member.last_ms, 3), "overruns": member.overruns})
    if live is None:
        state["live"] = {"enabled": False}
        return
    error = live.last_error
    state["live"] = {
        "enabled": True, "dir": str(live.folder), "files": dict(live.files),
        "playing": dict(live.playing), "late_bars": live.late, "restarts": live.restarts,
        "errors": live.errors,
        "last_error": None if error is None else {
            "file": error.path, "line": error.line, "message": error.message,
            "time": error.time}}


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
