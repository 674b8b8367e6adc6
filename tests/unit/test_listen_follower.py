"""The follower: readings in; harmonic context, listening state and events out."""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from performia.band.agent import HarmonicContext, Listening
from performia.listen.follower import Follower, FollowerSettings
from performia.listen.offline import readings_of
from performia.listen.readings import PitchReading, TakeEndReading
from performia.listen.rehearsal import TUNING, voicing
from performia.theory import Chord, Key

BAR = 2.0                                   # seconds per bar in these tests (120 BPM, 4/4)
RATE = 48000


def bar_at(time: float) -> float:
    return time / BAR


def strummed(label: str | None, seconds: float, level: float) -> npt.NDArray[np.float64]:
    """A chord on a plain harmonic 'guitar' (its guitar voicing, partials 0.6 each of the one
    below), struck every eighth note at 120 BPM; None: a quiet hiss."""
    n = int(round(seconds * RATE))
    rng = np.random.default_rng(zlib.crc32(f"{label}:{n}".encode()))   # the same every run
    out = rng.normal(0.0, 1e-4, n)
    if label is None:
        return out
    t = np.arange(n) / RATE
    since = t % (BAR / 8)
    envelope = np.exp(-since * 3.0)
    for string, fret in enumerate(voicing(Chord.parse(label))):
        if fret is None:
            continue
        freq = 440.0 * 2 ** ((TUNING[string] + fret - 69) / 12)
        for h in range(1, 9):
            if freq * h < 6000:
                out += 0.6 ** (h - 1) * np.sin(2 * np.pi * freq * h * t) * envelope
    return out * level / np.max(np.abs(out))


class Player:
    """Plays a chord sequence into a follower: the readings the server would send for it
    (spectrum and bands frames, and /pitch every 10 ms), in time order."""

    def __init__(self, follower: Follower) -> None:
        self.follower = follower
        self.audio = np.zeros(0)
        self.fed = -1.0
        self.events: list[dict[str, Any]] = []

    @property
    def t(self) -> float:
        return len(self.audio) / RATE

    def strum(self, label: str | None, seconds: float, level: float = 0.3) -> None:
        start = self.t
        self.audio = np.concatenate([self.audio, strummed(label, seconds, level)])
        for reading in readings_of(self.audio, RATE):
            if self.fed < reading.time <= self.t:
                self.events += self.follower.handle(reading)
                self.fed = reading.time
        amp = level if label else 0.0
        for k in range(int(seconds * 100)):
            self.events += self.follower.handle(
                PitchReading(start + k / 100, 1000, 0, 196.0, label is not None, amp))

    def kinds(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["kind"] == kind]

    def chords(self) -> list[str]:
        return [e["chord"] for e in self.kinds("chord") if e["chord"] != "N"]


def make(**settings: Any) -> tuple[Follower, HarmonicContext, Listening, Player]:
    harmony = HarmonicContext.from_labels("E:min", ["E:min", "C:maj", "G:maj", "D:maj"])
    listening = Listening()
    follower = Follower(harmony, listening, bar_at, FollowerSettings(**settings))
    return follower, harmony, listening, Player(follower)


def heard_at(player: Player, time: float) -> str:
    """The chord in force at `time` by the log (what the band was told)."""
    heard = "N"
    for event in player.kinds("chord"):
        if event["t"] <= time:
            heard = event["chord"]
    return heard


def test_heard_chords_update_the_context_and_log() -> None:
    # (how well chords are recognised is judged on sampled guitars: bench/bench_listening.py)
    follower, harmony, _, player = make()
    for label in ("G:maj", "E:min", "C:maj7", "D:7"):
        player.strum(label, BAR)
    assert [heard_at(player, (bar + 0.6) * BAR) for bar in range(4)] == \
        ["G:maj", "E:min", "C:maj7", "D:7"]
    assert harmony.heard_chord == Chord.parse("D:7")
    first = player.kinds("chord")[0]
    assert set(first) == {"t", "kind", "chord", "confidence", "since"}
    assert isinstance(first["t"], float) and first["t"] - 1.2 <= first["since"] <= first["t"]
    assert 0.0 < first["confidence"] <= 1.0


def test_key_is_heard() -> None:
    follower, harmony, _, player = make()
    for _ in range(3):
        for label in ("A:min", "F:maj7", "D:min7", "E:7"):
            player.strum(label, BAR)
    assert harmony.key == Key.parse("A:min")
    assert [e["key"] for e in player.kinds("key")] == ["A:min"]


def test_listening_state_follows_the_guitar() -> None:
    follower, _, listening, player = make()
    player.strum("G:maj", 1.0, level=0.4)
    assert listening.playing and listening.level == pytest.approx(0.4)
    assert listening.pitch == pytest.approx(196.0)
    player.strum(None, 0.3)
    assert listening.playing                                  # within the release time
    player.strum(None, 1.0)
    assert not listening.playing and listening.level < 0.01


def test_when_the_guitar_stops_nothing_is_reset() -> None:
    follower, harmony, _, player = make()
    for label in ("A:min", "F:maj7", "D:min7", "E:7") * 2:
        player.strum(label, BAR)
    key, heard = harmony.key, harmony.heard_chord
    progression = list(harmony.progression)
    player.strum(None, 12.0)
    assert player.kinds("chord")[-1]["chord"] == "N"          # the log says: no chord now
    assert (harmony.key, harmony.heard_chord) == (key, heard)  # the band keeps what it heard
    assert harmony.progression == progression


def test_listen_then_play_captures_one_chord_per_bar() -> None:
    follower, harmony, listening, player = make()
    player.strum("E:min", BAR * 2)                            # bars 0–1: before the pedal
    events = follower.set_mode("listen", player.t)             # pedal down at bar 2
    assert listening.mode == "listen" and events[0]["kind"] == "mode"
    for label in ("G:maj", "E:min", "C:maj7", "D:7", "G:maj", "E:min", "C:maj7", "D:7"):
        player.strum(label, BAR)                              # bars 2–9
    assert [c.label for c in follower.captured()] == \
        ["G:maj", "E:min", "C:maj7", "D:7", "G:maj", "E:min", "C:maj7", "D:7"]
    events = follower.set_mode("play", player.t)               # pedal up at bar 10
    assert listening.mode == "play"
    progression = [e for e in events if e["kind"] == "progression"]
    assert progression and progression[0]["first_bar"] == 2
    assert progression[0]["chords"][:4] == ["G:maj", "E:min", "C:maj7", "D:7"]
    # the loop lines up with the song's bars: bar 2 plays the first chord captured
    assert harmony.chord_at_bar(2) == Chord.parse("G:maj")
    assert harmony.chord_at_bar(10) == Chord.parse("G:maj")
    assert harmony.chord_at_bar(13) == Chord.parse("D:7")
    assert follower.captured() == []                          # ready for the next take


def test_bars_the_guitar_hardly_plays_are_not_captured() -> None:
    follower, harmony, _, player = make()
    follower.set_mode("listen", player.t)
    player.strum(None, BAR * 0.75)
    player.strum("A:min", BAR * 0.25)                        # a pickup: a quarter of bar 0
    for label in ("A:min", "F:maj7"):
        player.strum(label, BAR)
    player.strum(None, BAR * 3)                               # stops; pedal still down
    events = follower.set_mode("play", player.t)
    assert events[-1]["chords"] == ["A:min", "F:maj7"] and events[-1]["first_bar"] == 1
    assert [harmony.chord_at_bar(b).label for b in (1, 2, 3, 4)] == \
        ["A:min", "F:maj7", "A:min", "F:maj7"]


def test_play_without_anything_captured_keeps_the_progression() -> None:
    follower, harmony, _, player = make()
    before = list(harmony.progression)
    follower.set_mode("listen", 0.0)
    player.strum(None, BAR * 2)
    events = follower.set_mode("play", player.t)
    assert [e["kind"] for e in events] == ["mode"]
    assert harmony.progression == before


def test_unknown_mode_is_refused() -> None:
    follower, *_ = make()
    with pytest.raises(ValueError, match="unknown listening mode"):
        follower.set_mode("jam", 0.0)


def test_other_listeners_are_ignored_when_a_reply_id_is_set() -> None:
    follower, _, listening, _ = make(reply_id=5)
    assert follower.handle(TakeEndReading(1.0, 1000, 4)) == []
    assert not follower.take_ended
    assert follower.handle(TakeEndReading(1.0, 1000, 5))[0]["kind"] == "take_end"


def test_take_end_and_event_sink() -> None:
    sink: list[dict[str, Any]] = []
    harmony = HarmonicContext.from_labels("C:maj", ["C:maj"])
    follower = Follower(harmony, Listening(), bar_at, on_event=sink.append)
    follower.handle(TakeEndReading(30.0, 1000, 0))
    assert follower.take_ended and sink == [{"t": 30.0, "kind": "take_end"}]


def test_a_failing_sink_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    def broken(event: dict[str, Any]) -> None:
        raise RuntimeError("disk full")

    harmony = HarmonicContext.from_labels("C:maj", ["C:maj"])
    follower = Follower(harmony, Listening(), bar_at, on_event=broken)
    assert follower.handle(TakeEndReading(1.0, 1000, 0))
    assert "events sink failed" in caplog.text


def test_the_beat_tracker_hears_the_harmony_change_on_the_bar_lines() -> None:
    """The label changes that are changes of the harmony reach the beat tracker with the
    time they began (the strum), which tells it the bar and the beats."""
    follower, _, _, player = make()
    for label in ("G:maj", "E:min", "C:maj7", "D:7", "G:maj"):
        player.strum(label, BAR)
    changes = follower.rhythm.tracker.chord_changes
    assert len(changes) == 5, changes
    assert all(abs(change - bar * BAR) <= 0.12 for bar, change in enumerate(changes)), changes


def test_the_tracker_counts_the_bands_meter() -> None:
    harmony = HarmonicContext.from_labels("E:min", ["E:min"])
    follower = Follower(harmony, Listening(), bar_at, FollowerSettings.in_meter(3))
    assert follower.rhythm.tracker.beats_per_bar == 3
    assert Follower(harmony, Listening(), bar_at).rhythm.tracker.beats_per_bar == 4
