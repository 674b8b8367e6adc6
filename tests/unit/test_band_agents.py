"""The band's musical decisions, 16 bars at 120 BPM over E:min C:maj G:maj D:maj."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest

from performia.band.agent import BandMemory, HarmonicContext, Listening, Step
from performia.band.band import BAND_ORDER, agent_seed, make_band, own_rng, play_step, set_intensity
from performia.band.harmony import chord_voicings, lead_voices, voice_movement
from performia.events.note import NoteEvent
from performia.theory import Chord
from performia.timing.tempo import TempoMap

TEMPO = TempoMap(bpm=120, t0=0.0)
PROGRESSION = ("E:min", "C:maj", "G:maj", "D:maj")
HARMONY = HarmonicContext.from_labels("E:min", PROGRESSION)
STYLE_NAMES = ("rock", "funk", "ballad", "jazz-swing")
STRAIGHT_STYLES = ("rock", "funk", "ballad")
BARS = 16
SIXTEENTHS = BARS * 16
EPS = 1e-9

ListeningAt = Callable[[float], Listening]


def make_step(beat: float, memory: BandMemory, listening: Listening) -> Step:
    return Step(beat=beat, length=0.25, time_at=TEMPO.time_at, beats_per_bar=4, bpm=120.0,
                harmony=HARMONY, listening=listening, memory=memory, rng=random.Random(0))


def play(style: str, seed: int = 1, intensity: float | None = None,
         listening_at: ListeningAt | None = None) -> list[NoteEvent]:
    """Run the band for 16 bars; checks every note falls inside the step that made it."""
    agents = make_band(style, seed, intensity)
    memory = BandMemory(horizon=4096)
    played: list[NoteEvent] = []
    for k in range(SIXTEENTHS):
        beat = k * 0.25
        listening = listening_at(beat) if listening_at else Listening()
        events = play_step(agents, own_rng(make_step(beat, memory, listening)))
        for event in events:
            assert TEMPO.time_at(beat) <= event.time < TEMPO.time_at(beat + 0.25), event
        played.extend(events)
    return played


def of(events: list[NoteEvent], agent: str) -> list[NoteEvent]:
    return [e for e in events if e.agent_name == agent]


def beat_of(time: float) -> float:
    return TEMPO.beat_at(time)


def chord_at(time: float) -> Chord:
    return HARMONY.chord_at_bar(int(beat_of(time) + EPS) // 4)


@pytest.fixture(scope="module", params=STYLE_NAMES)
def session(request: pytest.FixtureRequest) -> tuple[str, list[NoteEvent]]:
    return request.param, play(request.param)


# -- the band as a whole -------------------------------------------------------------------


def test_every_member_plays_in_every_style(session: tuple[str, list[NoteEvent]]) -> None:
    style, events = session
    for agent in BAND_ORDER:
        assert of(events, agent), f"{agent} is silent in {style}"


def test_make_band_order_seeds_and_errors() -> None:
    agents = make_band("rock", 5)
    assert [a.name for a in agents] == list(BAND_ORDER)
    seeds = [agent_seed(5, name) for name in BAND_ORDER]
    assert len(set(seeds)) == 4
    assert [getattr(a, "seed", None) for a in agents] == seeds
    with pytest.raises(ValueError, match="jazz-swing"):
        make_band("polka", 1)
    with pytest.raises(ValueError, match="intensity"):
        make_band("rock", 1, intensity=1.5)
    with pytest.raises(ValueError, match="intensity"):
        set_intensity(agents, -0.1)


def test_play_step_puts_notes_in_the_band_memory() -> None:
    agents = make_band("rock", 3)
    memory = BandMemory()
    events = play_step(agents, own_rng(make_step(0.0, memory, Listening())))
    kicks = [e for e in memory.recent("drums", since=0.0) if e.voice_name == "kick"]
    assert kicks and kicks[0] in events
    assert memory.recent("bass", since=0.0) == of(events, "bass")


@pytest.mark.parametrize("style", STYLE_NAMES)
def test_same_seed_same_music_different_seed_different_music(style: str) -> None:
    first = [e.pack() for e in play(style, seed=11)]
    again = [e.pack() for e in play(style, seed=11)]
    other = [e.pack() for e in play(style, seed=12)]
    assert first == again
    assert first != other


# -- drums ---------------------------------------------------------------------------------


@pytest.mark.parametrize("style", STRAIGHT_STYLES)
def test_straight_drums_sit_exactly_on_the_sixteenth_grid(style: str) -> None:
    drums = of(play(style), "drums")
    for hit in drums:
        k = round(hit.time / TEMPO.time_at(0.25))
        assert hit.time == TEMPO.time_at(k * 0.25), hit
        assert hit.pitch == {"kick": 36, "snare": 38, "hat": 42, "openhat": 46}[hit.voice_name]


def test_jazz_drums_swing_the_off_beat_eighths() -> None:
    drums = of(play("jazz-swing"), "drums")
    fractions = [beat_of(hit.time) % 1.0 for hit in drums]
    for fraction in fractions:
        assert min(abs(fraction - 0.0), abs(fraction - 0.62), abs(fraction - 1.0)) < EPS
    assert sum(abs(f - 0.62) < EPS for f in fractions) >= BARS   # the ride's skip notes


def test_backbeat_accents_are_louder_than_ghosts() -> None:
    snares = [e for e in of(play("funk"), "drums") if e.voice_name == "snare"]
    backbeat = [e.velocity for e in snares if round(beat_of(e.time) * 4) % 16 in (4, 12)]
    ghosts = [e.velocity for e in snares if round(beat_of(e.time) * 4) % 16 in (2, 7, 9)]
    assert backbeat and ghosts
    assert min(backbeat) > max(ghosts)


def test_fills_change_the_last_bar_of_each_phrase() -> None:
    snares = [e for e in of(play("rock"), "drums") if e.voice_name == "snare"]
    per_bar = [sum(1 for e in snares if int(beat_of(e.time) + EPS) // 4 == bar)
               for bar in range(BARS)]
    for fill_bar in (3, 7, 11, 15):
        assert per_bar[fill_bar] > per_bar[fill_bar - 1]


@pytest.mark.parametrize("style", STYLE_NAMES)
def test_intensity_changes_the_number_of_drum_hits(style: str) -> None:
    soft = len(of(play(style, intensity=0.1), "drums"))
    hard = len(of(play(style, intensity=0.95), "drums"))
    assert soft < hard


# -- bass ----------------------------------------------------------------------------------


def sounding_bass(bass: list[NoteEvent], time: float) -> NoteEvent | None:
    before = [e for e in bass if e.time <= time + EPS]
    return before[-1] if before else None


def test_bass_plays_the_bar_chord_on_at_least_90_percent_of_beats(
        session: tuple[str, list[NoteEvent]]) -> None:
    style, events = session
    bass = of(events, "bass")
    beats = [TEMPO.time_at(b) for b in range(BARS * 4)]
    in_chord = 0
    for time in beats:
        note = sounding_bass(bass, time)
        in_chord += note is not None and chord_at(time).contains(note.pitch)
    assert in_chord / len(beats) >= 0.9, style
    assert all(28 <= e.pitch <= 52 for e in bass)
    assert all(e.duration > 0.0 for e in bass)


@pytest.mark.parametrize("style", STRAIGHT_STYLES)
def test_bass_locks_to_the_kick(style: str) -> None:
    events = play(style)
    bass_times = {e.time for e in of(events, "bass")}
    kicks = [e.time for e in of(events, "drums") if e.voice_name == "kick"]
    locked = sum(1 for t in kicks if t in bass_times)
    assert locked / len(kicks) >= 0.9


def test_bass_approach_notes_lead_into_the_next_root() -> None:
    bass = of(play("rock", seed=4), "bass")
    approaches = 0
    for note, following in zip(bass, bass[1:], strict=False):
        position = round(beat_of(note.time) * 4) % 16
        if position == 14 and not chord_at(note.time).contains(note.pitch):
            approaches += 1
            assert round(beat_of(following.time) * 4) % 16 == 0     # next: the downbeat
            assert chord_at(following.time).root == following.pitch % 12
            assert abs(following.pitch - note.pitch) <= 2
    assert approaches >= 2


def test_rock_bass_notes_are_detached_eighths() -> None:
    bass = of(play("rock"), "bass")
    eighth = TEMPO.time_at(0.5)
    assert all(e.duration <= 0.8 * eighth * 4 + EPS for e in bass)
    assert sum(abs(e.duration - 0.8 * eighth) < 1e-6 for e in bass) > len(bass) / 2


# -- harmony -------------------------------------------------------------------------------


def stabs(events: list[NoteEvent]) -> list[tuple[float, tuple[int, ...]]]:
    keys = of(events, "harmony")
    times = sorted({e.time for e in keys})
    return [(t, tuple(sorted(e.pitch for e in keys if e.time == t))) for t in times]


def test_keys_play_chord_tones_with_smooth_voice_leading(
        session: tuple[str, list[NoteEvent]]) -> None:
    style, events = session
    chords = stabs(events)
    assert chords
    for time, voicing in chords:
        assert 3 <= len(voicing) <= 4
        assert all(52 <= note <= 76 for note in voicing)
        assert all(chord_at(time).contains(note) for note in voicing), (style, time, voicing)
        assert len({note % 12 for note in voicing}) >= 3
    changes = [voice_movement(a, b) for (_, a), (_, b) in zip(chords, chords[1:], strict=False)
               if a != b]
    assert changes and sum(changes) / len(changes) <= 7, (style, changes)


def test_ballad_pads_hold_the_whole_bar() -> None:
    chords = stabs(play("ballad"))
    bar_seconds = TEMPO.time_at(4.0)
    assert [time for time, _ in chords] == [TEMPO.time_at(bar * 4.0) for bar in range(BARS)]
    pads = of(play("ballad"), "harmony")
    assert all(e.duration >= 0.95 * bar_seconds for e in pads)


def test_rock_stabs_on_half_notes() -> None:
    positions = {round(beat_of(t) * 4) % 16 for t, _ in stabs(play("rock"))}
    assert {0, 8} <= positions <= {0, 8, 14}


def test_lead_voices_moves_to_the_nearest_voicing() -> None:
    e_minor = (59, 64, 67)
    c_major = lead_voices(Chord.parse("C:maj"), e_minor, 3)
    assert c_major == (60, 64, 67)
    assert voice_movement(e_minor, c_major) == 1
    for voicing in chord_voicings(Chord.parse("G:7"), 4):
        assert {n % 12 for n in voicing} == {7, 11, 2, 5}
    open_fifth = lead_voices(Chord.parse("D:5"), c_major, 4)   # the third in doubt
    assert {n % 12 for n in open_fifth} == {2, 9} and len(open_fifth) == 3


# -- melody --------------------------------------------------------------------------------


def test_lead_stays_in_the_key_and_its_register(session: tuple[str, list[NoteEvent]]) -> None:
    style, events = session
    lead = of(events, "melody")
    scale = HARMONY.key.scale
    assert sum(e.pitch % 12 in scale for e in lead) / len(lead) >= 0.9, style
    assert all(64 <= e.pitch <= 88 for e in lead)
    strong = [e for e in lead if round(beat_of(e.time) * 4) % 8 == 0]
    assert all(chord_at(e.time).contains(e.pitch) for e in strong), style


def test_lead_is_silent_while_the_guitarist_plays() -> None:
    listening = Listening(playing=True)
    for style in STYLE_NAMES:
        assert of(play(style, listening_at=lambda _beat: listening), "melody") == []


def guitar_solo(start: float, stop: float, pitch_hz: float = 0.0) -> ListeningAt:
    """The guitarist plays from beat `start` to beat `stop`, with onsets every half beat."""
    def at(beat: float) -> Listening:
        playing = start <= beat < stop
        last = min(beat, stop - 0.5)
        onset = TEMPO.time_at(math.floor(last * 2) / 2) if beat >= start else 0.0
        return Listening(playing=playing, last_onset_time=onset, pitch=pitch_hz)
    return at


@pytest.mark.parametrize("seed", range(5))
def test_lead_answers_in_the_gap_after_the_guitarist(seed: int) -> None:
    g4 = 440.0 * 2 ** ((67 - 69) / 12)
    # guitar over bars 2..5; bar 6 is a resting bar for the lead's own phrasing
    lead = of(play("rock", seed=seed, listening_at=guitar_solo(8.0, 24.0, g4)), "melody")
    quiet_until = TEMPO.time_at(24.0 - 0.5 + 1.0)    # one beat after the last onset
    assert not [e for e in lead if TEMPO.time_at(8.0) <= e.time < quiet_until]
    answer = [e for e in lead if quiet_until <= e.time < TEMPO.time_at(32.0)]
    assert answer, "the lead did not answer the guitarist"
    assert abs(answer[0].pitch - 67) <= 5              # it picks up where the guitar was


def test_lead_phrases_leave_space() -> None:
    lead = of(play("rock"), "melody")
    bars = {int(beat_of(e.time) + EPS) // 4 for e in lead}
    assert bars and all(bar % 4 in (0, 1) for bar in bars)   # 2 bars playing, 2 resting
