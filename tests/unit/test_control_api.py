"""The control API against a band loop in virtual time (the same loop the conductor runs,
on an offline clock): every command takes effect at the moment docs/OSC_API.md states —
the tempo at the next beat (re-anchored: nothing jumps), patterns, mutes, parameters,
key, chords and style at the next bar — and bad commands are refused with a reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from performia.band.band import make_band
from performia.conductor.band_loop import BandLoop
from performia.conductor.control import ControlError, Reply, UnknownCommandError
from performia.config import Config
from performia.control.band import BandControl
from performia.control.commands import ControlApi
from performia.control.member import Member
from performia.control.notify import Notifier
from performia.control.settings import BandSettings
from performia.events.note import NoteEvent, NoteKind
from performia.state.context import HarmonicContext
from performia.theory import Chord
from performia.timing.clock import OfflineClock
from performia.timing.tempo import TempoMap

T0 = 1000.0
SENDER = ("127.0.0.1", 9999)


@dataclass
class ListWriter:
    events: list[NoteEvent] = field(default_factory=list)
    dropped: int = 0

    @property
    def written(self) -> int:
        return len(self.events)

    def write_many(self, events: list[NoteEvent]) -> int:
        self.events.extend(events)
        return len(events)


@dataclass
class Rig:
    loop: BandLoop
    band: BandControl
    api: ControlApi
    writers: dict[str, ListWriter]
    lines: list[dict[str, Any]]
    notified: list[tuple[str, tuple[Any, ...]]]
    modes: list[str]

    @property
    def clock(self) -> OfflineClock:
        assert isinstance(self.loop.clock, OfflineClock)
        return self.loop.clock

    def at_beat(self, beat: float) -> None:
        """Run the band until the clock's now is at `beat` (old tempo: beats up to here)."""
        self.clock.advance_to(self.loop.clock.tempo.time_at(beat))

    def send(self, address: str, *args: Any) -> Reply | None:
        return self.api(address, list(args), SENDER)

    def notes(self, agent: str) -> list[NoteEvent]:
        return [e for e in self.writers[agent].events if e.kind != NoteKind.RELEASE]


@pytest.fixture
def rig() -> Rig:
    clock = OfflineClock(TempoMap(bpm=120.0, t0=T0), lookahead=0.003)
    members = [Member(agent) for agent in make_band("rock", 7)]
    writers = {m.name: ListWriter() for m in members}
    harmony = HarmonicContext.from_labels("E:min", ["E:min", "C:maj", "G:maj", "D:maj"])
    loop = BandLoop(agents=list(members), writers=dict(writers), clock=clock, harmony=harmony,
                    seed=7)
    lines: list[dict[str, Any]] = []
    loop.on_event = lines.append
    notified: list[tuple[str, tuple[Any, ...]]] = []
    band = BandControl(loop, BandSettings.from_config(Config()),
                       {m.name: m for m in members},
                       notify=lambda a, v: notified.append((a, v)))
    modes: list[str] = []
    api = ControlApi(band, modes.append, Notifier(lambda _d, _a: None),
                     lambda _d, _a: None)
    loop.begin(0.0)
    return Rig(loop, band, api, writers, lines, notified, modes)


def beats_of(rig: Rig, agent: str, voice: str) -> list[float]:
    tempo = rig.loop.clock.tempo
    return [round(tempo.beat_at(e.time), 6) for e in rig.notes(agent) if e.voice_name == voice]


def test_the_tempo_changes_at_the_next_beat_without_a_jump(rig: Rig) -> None:
    rig.at_beat(5.3)
    old = rig.loop.clock.tempo
    assert rig.send("/performia/tempo", 100) == Reply("/performia/done",
                                                     ("/performia/tempo", "beat"))
    rig.at_beat(5.9)
    assert rig.loop.clock.tempo.bpm == 120.0          # not before the beat
    rig.at_beat(7.0)
    new = rig.loop.clock.tempo
    assert new.bpm == 100.0 and new.b0 == 6.0          # re-anchored on the next beat
    assert new.time_at(6.0) == pytest.approx(old.time_at(6.0), abs=1e-9)
    line = next(x for x in rig.lines if x["kind"] == "control")
    assert line["what"] == "tempo" and line["beat"] == 6.0 and line["when"] == "beat"
    rig.clock.advance_to(new.time_at(12.0))
    hats = sorted(e.time for e in rig.notes("drums") if e.voice_name == "hat")
    before = [b - a for a, b in zip(hats, hats[1:], strict=False) if b <= old.time_at(6.0)]
    after = [b - a for a, b in zip(hats, hats[1:], strict=False) if a >= old.time_at(6.0)]
    assert max(before) == pytest.approx(0.25)         # eighths at 120
    assert min(after) == pytest.approx(0.3)           # eighths at 100


def test_a_pattern_a_mute_and_a_parameter_take_effect_at_the_next_bar(rig: Rig) -> None:
    rig.at_beat(1.3)
    rig.send("/performia/pattern/drums/kick", "X.X.X.X.X.X.X.X.")
    rig.send("/performia/agent/bass/mute", 1)
    rig.send("/performia/agent/harmony/octave", 1.0)
    rig.send("/performia/agent/melody/volume", 0.5)
    rig.at_beat(3.9)
    assert not rig.band.settings.patterns            # nothing before the bar line
    rig.at_beat(12.0)
    kicks = beats_of(rig, "drums", "kick")
    assert [b for b in kicks if 4 <= b < 8] == [4, 4.5, 5, 5.5, 6, 6.5, 7, 7.5]
    assert [b for b in kicks if b < 4] != [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5]
    bass = beats_of(rig, "bass", "bass")
    assert bass and max(bass) < 4.0                   # muted from the bar line
    releases = [e for e in rig.writers["bass"].events if e.kind == NoteKind.RELEASE]
    assert [rig.loop.clock.tempo.beat_at(e.time) for e in releases] == [pytest.approx(4.0)]
    keys = [e for e in rig.notes("harmony")]
    low_before = min(e.pitch for e in keys if rig.loop.clock.tempo.beat_at(e.time) < 4)
    low_after = min(e.pitch for e in keys if rig.loop.clock.tempo.beat_at(e.time) >= 4)
    assert low_after >= low_before + 7                # an octave up (voicings move a little)
    lead = [e for e in rig.notes("melody") if rig.loop.clock.tempo.beat_at(e.time) >= 4]
    assert all(e.velocity <= 0.5 for e in lead)
    whats = [x["what"] for x in rig.lines if x["kind"] == "control"]
    assert whats == ["pattern drums/kick", "mute bass", "octave harmony", "volume melody"]
    assert all(x["beat"] == 4.0 for x in rig.lines if x["kind"] == "control")


def test_key_chords_and_style_at_the_next_bar(rig: Rig) -> None:
    rig.at_beat(5.0)                                    # in bar 1
    rig.send("/performia/chords", "G:maj D:maj E:min C:maj")
    rig.send("/performia/key", "G:maj")
    rig.send("/performia/style", "funk")
    rig.at_beat(8.5)
    harmony = rig.loop.harmony
    assert harmony.key.label == "G:maj"
    assert [harmony.chord_at_bar(b).label for b in (2, 3, 4, 5, 6)] == [
        "G:maj", "D:maj", "E:min", "C:maj", "G:maj"]   # the first chord on the next bar
    assert rig.band.settings.progression == ("G:maj", "D:maj", "E:min", "C:maj")
    drums = rig.band.members["drums"].builtin
    assert drums.style.name == "funk"
    assert ("/performia/bar", (3,)) in rig.notified


def test_a_whole_new_progression_is_played_by_the_bass(rig: Rig) -> None:
    rig.at_beat(2.0)
    rig.send("/performia/chords", "A:min")
    rig.at_beat(16.0)
    bass = [e for e in rig.notes("bass") if rig.loop.clock.tempo.beat_at(e.time) >= 4]
    assert sum(Chord.parse("A:min").contains(e.pitch) for e in bass) >= 0.8 * len(bass)
    roots = [e.pitch % 12 for e in bass if rig.loop.clock.tempo.beat_at(e.time) % 4 == 0]
    assert len(roots) >= 3 and set(roots) == {9}       # the root on every downbeat


@pytest.mark.parametrize(("address", "args", "words"), [
    ("/performia/tempo", [float("nan")], "one number"),
    ("/performia/tempo", [1000], "between 20 and 400"),
    ("/performia/tempo", ["fast"], "one number"),
    ("/performia/key", ["H:maj"], "unknown note"),
    ("/performia/style", ["polka"], "rock, funk"),
    ("/performia/chords", ["G:maj X:min"], "unknown note"),
    ("/performia/agent/tuba/mute", [1], "unknown agent"),
    ("/performia/agent/bass/mute", [2], "1 (on) or 0 (off)"),
    ("/performia/agent/bass/wobble", [0.5], "unknown parameter"),
    ("/performia/agent/bass/intensity", [1.5], "between 0 and 1"),
    ("/performia/agent/bass/octave", [0.5], "whole number"),
    ("/performia/pattern/drums/cowbell", ["X..."], "no voice"),
    ("/performia/pattern/drums/kick", ["X..Y"], "bad character"),
    ("/performia/mode", ["sing"], "listen, play, follow"),
    ("/performia/get/weather", [], "tempo, key"),
    ("/performia/session/save", ["/etc/passwd"], "ends in .json"),
])
def test_bad_commands_are_refused_with_the_reason(rig: Rig, address: str, args: list[Any],
                                                  words: str) -> None:
    with pytest.raises(ControlError, match=words.replace("(", r"\(").replace(")", r"\)")):
        rig.api(address, args, SENDER)
    assert rig.band.inbox.waiting == 0


def test_unknown_addresses_list_the_known_ones(rig: Rig) -> None:
    with pytest.raises(UnknownCommandError, match="/performia/tempo"):
        rig.send("/performia/volume", 1)


def test_queries_answer_from_the_state_in_force(rig: Rig) -> None:
    rig.at_beat(1.0)
    rig.send("/performia/pattern/drums/kick", "X...")
    rig.send("/performia/agent/bass/octave", -1)
    rig.at_beat(4.5)
    assert rig.send("/performia/get/tempo") == Reply("/performia/tempo", (120.0,))
    assert rig.send("/performia/get/key") == Reply("/performia/key", ("E:min",))
    assert rig.send("/performia/get/bar") == Reply("/performia/bar", (2,))
    patterns = rig.send("/performia/get/patterns")
    assert patterns is not None and patterns.args[:2] == ("drums/kick", "X...")
    agents = rig.send("/performia/get/agents")
    assert agents is not None and agents.args[:3] == ("drums", 0, "built-in")
    assert rig.send("/performia/get/params") == Reply("/performia/params",
                                                      ("bass/octave", -1.0))
    chord = rig.send("/performia/get/chord")
    assert chord == Reply("/performia/chord", ("C:maj",))
    assert rig.send("/performia/mode", "listen") == Reply("/performia/done",
                                                         ("/performia/mode", "now"))
    assert rig.modes == ["listen"]


def test_the_gui_state_shows_patterns_mutes_and_sources(rig: Rig) -> None:
    from performia.conductor.state import compose
    rig.at_beat(1.0)
    rig.send("/performia/pattern/drums/kick", "X...")
    rig.send("/performia/agent/bass/mute", 1)
    rig.at_beat(4.5)
    state = compose(rig.loop, None, None, 3.0, None, rig.band)
    assert state["control"]["patterns"]["drums/kick"] == "X..."
    assert state["control"]["overrides"] == ["drums/kick"]
    assert state["control"]["muted"] == ["bass"]
    assert state["agents"]["bass"]["state"]["muted"] is True
    assert state["agents"]["drums"]["state"]["source"] == "built-in"
    assert state["live"] == {"enabled": False}
