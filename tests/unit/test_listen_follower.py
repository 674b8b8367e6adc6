"""The follower: readings in; harmonic context, listening state and events out."""

from __future__ import annotations

from typing import Any

import pytest

from performia.band.agent import HarmonicContext, Listening
from performia.listen.follower import Follower, FollowerSettings
from performia.listen.readings import ChromaReading, OnsetReading, PitchReading, TakeEndReading
from performia.theory import Chord, Key

from .test_listen_chords import chroma_of

BAR = 2.0                                   # seconds per bar in these tests (120 BPM, 4/4)
FRAME = 2048 / 48000


def bar_at(time: float) -> float:
    return time / BAR


class Player:
    """Feeds a follower what the analysis would report for a strummed chord sequence."""

    def __init__(self, follower: Follower) -> None:
        self.follower = follower
        self.t = 0.0
        self.events: list[dict[str, Any]] = []

    def strum(self, label: str | None, seconds: float, level: float = 0.3) -> None:
        """`label` sounding for `seconds` (None: silence): pitch every 10 ms, a chroma frame
        every FRAME, an onset every half beat."""
        end = self.t + seconds
        next_chroma, next_onset = self.t, self.t
        while self.t < end:
            amp = level if label else 0.0005
            self.events += self.follower.handle(PitchReading(self.t, 1000, 0, 196.0, True, amp))
            if label and self.t >= next_onset:
                self.events += self.follower.handle(OnsetReading(self.t, 1000, 0, level))
                next_onset += BAR / 8
            if self.t >= next_chroma:
                chroma = tuple(chroma_of(label) if label else [0.001] * 12)
                self.events += self.follower.handle(ChromaReading(self.t, 1000, 0, chroma))
                next_chroma += FRAME
            self.t = round(self.t + 0.01, 6)

    def kinds(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["kind"] == kind]


def make(**settings: Any) -> tuple[Follower, HarmonicContext, Listening, Player]:
    harmony = HarmonicContext.from_labels("E:min", ["E:min", "C:maj", "G:maj", "D:maj"])
    listening = Listening()
    follower = Follower(harmony, listening, bar_at, FollowerSettings(**settings))
    return follower, harmony, listening, Player(follower)


def test_heard_chords_update_the_context_and_log() -> None:
    follower, harmony, _, player = make()
    for label in ("G:maj", "E:min7", "C:maj7", "D:7"):
        player.strum(label, BAR)
    assert [e["chord"] for e in player.kinds("chord")] == ["G:maj", "E:min7", "C:maj7", "D:7"]
    assert harmony.heard_chord == Chord.parse("D:7")
    first = player.kinds("chord")[0]
    assert set(first) == {"t", "kind", "chord"} and isinstance(first["t"], float)


def test_key_tempo_and_onset_events() -> None:
    follower, harmony, _, player = make()
    for _ in range(3):
        for label in ("A:min", "F:maj7", "D:min7", "E:7"):
            player.strum(label, BAR)
    assert harmony.key == Key.parse("A:min")
    assert [e["key"] for e in player.kinds("key")] == ["A:min"]
    tempos = player.kinds("tempo")
    assert tempos and abs(tempos[-1]["bpm"] - 120.0) <= 2.0   # onsets every eighth note
    assert follower.bpm == tempos[-1]["bpm"]
    onsets = player.kinds("onset")
    assert len(onsets) == 3 * 4 * 8 and onsets[0]["amp"] == pytest.approx(0.3)


def test_listening_state_follows_the_guitar() -> None:
    follower, _, listening, player = make(release=0.5)
    player.strum("G:maj", 1.0, level=0.4)
    assert listening.playing and listening.level == pytest.approx(0.4)
    assert listening.pitch == pytest.approx(196.0)
    assert listening.last_onset_time == pytest.approx(0.75, abs=0.02)
    player.strum(None, 0.3)
    assert listening.playing                                  # within the release time
    player.strum(None, 0.5)
    assert not listening.playing and listening.level < 0.01


def test_when_the_guitar_stops_nothing_is_reset() -> None:
    follower, harmony, _, player = make()
    for label in ("A:min", "F:maj7", "D:min7", "E:7") * 2:
        player.strum(label, BAR)
    key, heard, tempo = harmony.key, harmony.heard_chord, follower.bpm
    progression = list(harmony.progression)
    player.strum(None, 20.0)
    assert (harmony.key, harmony.heard_chord, follower.bpm) == (key, heard, tempo)
    assert harmony.progression == progression


def test_listen_then_play_captures_one_chord_per_bar() -> None:
    follower, harmony, listening, player = make()
    player.strum("E:min", BAR * 2)                            # bars 0–1: before the pedal
    events = follower.set_mode("listen", player.t)             # pedal down at bar 2
    assert listening.mode == "listen" and events[0]["kind"] == "mode"
    for label in ("G:maj", "E:min7", "C:maj7", "D:7", "G:maj", "E:min7", "C:maj7", "D:7"):
        player.strum(label, BAR)                              # bars 2–9
    assert [c.label for c in follower.captured()] == \
        ["G:maj", "E:min7", "C:maj7", "D:7", "G:maj", "E:min7", "C:maj7", "D:7"]
    events = follower.set_mode("play", player.t)               # pedal up at bar 10
    assert listening.mode == "play"
    progression = [e for e in events if e["kind"] == "progression"]
    assert progression and progression[0]["first_bar"] == 2
    assert progression[0]["chords"][:4] == ["G:maj", "E:min7", "C:maj7", "D:7"]
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
    assert follower.handle(OnsetReading(1.0, 1000, 4, 0.5)) == []
    assert listening.last_onset_time == 0.0
    assert follower.handle(OnsetReading(1.0, 1000, 5, 0.5))[0]["kind"] == "onset"


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
    assert follower.handle(OnsetReading(1.0, 1000, 0, 0.5))
    assert "events sink failed" in caplog.text
