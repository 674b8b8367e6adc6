"""The state book (what listening writes), the band's one chord decision per step, and the
band anticipating, correcting and agreeing (keys and bass) on the offline clock."""

from __future__ import annotations

import dataclasses
import random
import threading

import numpy as np

from performia.band.agent import BandMemory, Step
from performia.band.bass import BassAgent
from performia.band.harmony import HarmonyAgent
from performia.band.styles import style
from performia.conductor.playalong import SongForm, play_along, score
from performia.events.note import NoteKind
from performia.state.book import StateBook, part_chord
from performia.state.context import HarmonicContext, Listening
from performia.state.decision import ChordDecision, decide
from performia.state.evidence import ChordEvidence
from performia.state.musical_state import MusicalState
from performia.theory import Chord, Key
from performia.timing.tempo import TempoMap

TEMPO = TempoMap(bpm=120, t0=0.0)          # a bar = 2 s, a beat = 0.5 s
C, G, AM, F, EM = (Chord.parse(x) for x in ("C", "G", "A:min", "F", "E:min"))
POP = [C, G, AM, F]


def make_book() -> StateBook:
    return StateBook(Key.parse("C:maj"), beat_at=TEMPO.beat_at, beats_per_bar=4, bpm=120)


def play_bars(book: StateBook, chords: list[Chord], latency: float = 0.3) -> None:
    """The guitarist plays one chord per bar; the book hears each change `latency` late and
    the band loop starts every bar a sixteenth before its line."""
    for index, chord in enumerate(chords):
        book.start_bar(index, TEMPO.time_at(index * 4))
        book.hear_chord(chord, TEMPO.time_at(index * 4) + latency)
    book.start_bar(len(chords), TEMPO.time_at(len(chords) * 4))


def test_the_state_is_replaced_whole_never_mutated() -> None:
    book = make_book()
    first = book.state
    book.hear_chord(C, 0.3)
    assert book.state is not first and first.heard_chord is None
    assert book.state.heard_chord == C and book.state.changes[-1].beat == 0
    book.hear_key(Key.parse("A:min"))
    book.hear_tempo(96.0, 0.8, 1.0)
    state = book.state
    assert state.key == Key.parse("A:min") and state.bpm == 96.0 and state.bpm_confidence == 0.8


def test_a_change_is_credited_to_the_beat_it_was_played_on() -> None:
    book = make_book()
    book.hear_chord(C, 0.3)                 # played on beat 0, heard 0.3 s later
    book.hear_chord(G, 2.0 + 0.2)           # played on beat 4
    book.hear_chord(AM, 3.0 + 0.45)         # played on beat 6 (heard late)
    assert [c.beat for c in book.state.changes] == [0, 4, 6]
    book.hear_chord(AM, 3.6)                # the same chord again: nothing new
    assert len(book.state.changes) == 3


def test_bars_are_committed_and_the_next_predicted() -> None:
    book = make_book()
    play_bars(book, POP * 2 + [C])
    state = book.state
    assert [b.chord for b in state.bars] == POP * 2 + [C]
    assert state.prediction is not None and state.prediction.bar == 9
    assert state.prediction.chord == G and state.prediction.confidence >= 0.9
    assert state.next_prediction is not None and state.next_prediction.chord == AM
    assert state.form is not None and state.form.length == 4
    assert book.start_bar(9, 18.0) is state         # the same bar again: nothing changes


def test_a_change_heard_after_its_bar_was_committed_corrects_it() -> None:
    book = make_book()
    play_bars(book, [C, G])
    book.hear_chord(F, TEMPO.time_at(7) + 0.3)       # played on beat 7 (bar 1), heard in bar 2
    assert book.state.bars[-1].changes == ((0, G), (2, F))   # the second half: F


def test_a_change_dated_by_the_ears_is_credited_to_its_strum() -> None:
    """Heard 0.8 s late (after the downbeat's second beat), dated by the ears to the
    strum on the downbeat: the bar is the new chord's, not the old one's with a change."""
    book = make_book()
    play_bars(book, [C])
    book.hear_chord(G, TEMPO.time_at(4) + 0.8, since=TEMPO.time_at(4) + 0.01)
    book.start_bar(2, TEMPO.time_at(8))
    assert book.state.bars[-1].changes == ((0, G),)


def test_a_late_change_without_a_date_still_takes_its_half_bar() -> None:
    """Heard 0.8 s late and not dated: credited to beat 1, but the half bar ends on G."""
    book = make_book()
    play_bars(book, [C])
    book.hear_chord(G, TEMPO.time_at(4) + 0.8)
    book.start_bar(2, TEMPO.time_at(8))
    assert book.state.bars[-1].changes == ((0, G),)


def test_a_flicker_and_a_seventh_that_comes_and_goes_make_one_chord() -> None:
    book = make_book()
    play_bars(book, [C])
    start = TEMPO.time_at(4)
    book.hear_chord(EM, start + 0.3, since=start)
    book.hear_chord(G, start + 0.6, since=start + 0.4)          # a flicker of a beat
    book.hear_chord(EM, start + 0.9, since=start + 0.75)
    book.hear_chord(Chord.parse("E:min7"), start + 1.4, since=start + 1.2)
    book.start_bar(2, TEMPO.time_at(8))
    assert book.state.bars[-1].changes == ((0, EM),)


def test_a_change_in_the_current_bar_repredicts_the_next() -> None:
    book = make_book()
    play_bars(book, POP * 2 + [C, G])
    assert book.state.next_prediction is not None
    assert book.state.next_prediction.chord == F      # bar 10 is Am, so bar 11 is F
    book.hear_chord(EM, TEMPO.time_at(40) + 0.3)      # bar 10: E minor, a surprise
    assert book.state.next_prediction is not None
    assert book.state.next_prediction.bar == 11


def test_readers_always_see_a_whole_state_while_listening_writes() -> None:
    book = make_book()
    seen: list[MusicalState] = []
    stop = threading.Event()

    def listen() -> None:
        for i in range(400):
            book.hear_chord(POP[i % 4], 0.3 + i * 2.0)
        stop.set()

    writer = threading.Thread(target=listen)
    writer.start()
    bar = 0
    while not stop.is_set():
        bar += 1
        book.start_bar(bar, bar * 2.0)
        seen.append(book.state)
    writer.join()
    for state in seen:
        assert state.changes == tuple(sorted(state.changes, key=lambda c: c.beat))
        assert state.prediction is None or state.prediction.bar == state.bar


# -- the decision ----------------------------------------------------------------------------


def decided(book: StateBook, beat: float, fallback: Chord = C) -> ChordDecision:
    return decide(book.state, beat, TEMPO.time_at, fallback)


def test_confident_prediction_is_played_on_the_downbeat() -> None:
    book = make_book()
    play_bars(book, POP * 2 + [C])                    # bar 9 should be G; heard: still C
    on_the_one = decided(book, 36.0)
    assert on_the_one.chord == G and on_the_one.sure and on_the_one.next_chord == AM


def test_the_band_plays_only_the_part_of_a_chord_it_is_sure_of() -> None:
    book = make_book()
    play_bars(book, POP * 2 + [C])
    power = Chord.parse("G:5")
    book._state = dataclasses.replace(book.state, played_as=((G, power),))   # third in doubt
    on_the_one = decided(book, 36.0)
    assert on_the_one.chord == power and on_the_one.sure and on_the_one.next_chord == AM
    assert decided(book, 32.0).next_chord == power


def test_a_surprise_is_followed_as_soon_as_it_is_heard() -> None:
    book = make_book()
    play_bars(book, POP * 2 + [C])
    assert decided(book, 36.0).chord == G
    book.hear_chord(EM, TEMPO.time_at(36) + 0.3)      # the guitarist plays E minor
    assert decided(book, 36.75).chord == EM


def test_a_planned_change_that_never_comes_falls_back_to_what_is_heard() -> None:
    book = make_book()
    play_bars(book, POP * 2 + [C])                    # bar 9 predicted G, guitarist stays on C
    assert decided(book, 36.5).chord == G             # 0.25 s: not heard yet, trust the form
    assert decided(book, 37.0).chord == C             # 0.5 s: no change heard, it is still C


def test_without_a_confident_prediction_the_band_is_unsure_until_it_has_heard() -> None:
    book = make_book()
    play_bars(book, [C, G])                           # nothing repeats yet
    early = decided(book, 8.0)
    assert not early.sure
    assert decided(book, 9.0).sure                    # half a second of bar 2 heard: still G
    book.hear_chord(F, TEMPO.time_at(8) + 0.3)
    later = decided(book, 8.75)
    assert later.sure and later.chord == F
    nothing = decide(make_book().state, 0.0, TEMPO.time_at, AM)
    assert nothing.chord == AM and not nothing.sure


# -- the band ----------------------------------------------------------------------------------


def step_at(beat: float, decision: ChordDecision, memory: BandMemory) -> Step:
    return Step(beat=beat, length=0.25, time_at=TEMPO.time_at, beats_per_bar=4, bpm=120.0,
                harmony=HarmonicContext(Key.parse("C:maj"), [C]), listening=Listening(),
                memory=memory, rng=random.Random(3), decision=decision)


def test_a_surprise_mid_bar_releases_the_keys_and_moves_the_bass() -> None:
    keys, bass = HarmonyAgent(style("ballad")), BassAgent(style("ballad"))
    memory = BandMemory()
    events = []
    for k in range(16):
        chord = C if k < 6 else EM                    # the surprise lands on the 7th sixteenth
        decision = ChordDecision(chord, C)
        step = step_at(k * 0.25, decision, memory)
        events += [(k, e) for e in keys.step(step) + bass.step(step)]
    at_surprise = [e for k, e in events if k == 6]
    kinds = [(e.agent_name, e.kind) for e in at_surprise]
    assert ("harmony", NoteKind.RELEASE) in kinds and ("bass", NoteKind.RELEASE) in kinds
    assert {e.pitch % 12 for e in at_surprise if e.kind != NoteKind.RELEASE
            and e.agent_name == "harmony"} <= set(EM.pitch_classes)
    assert [e.pitch % 12 for e in at_surprise if e.kind != NoteKind.RELEASE
            and e.agent_name == "bass"] == [EM.root]


def test_unsure_keys_wait_and_the_bass_plays_roots() -> None:
    keys, bass = HarmonyAgent(style("rock")), BassAgent(style("rock"))
    memory = BandMemory()
    decision = ChordDecision(G, C, sure=False, next_sure=False)
    played = []
    for k in range(16):
        step = step_at(k * 0.25, decision, memory)
        assert keys.step(step) == []
        played += bass.step(step)
    assert played and all(e.pitch % 12 == G.root for e in played)


def test_the_band_lands_the_changes_on_the_one_two_forms() -> None:
    blues = ["A:7"] * 4 + ["D:7"] * 2 + ["A:7"] * 2 + ["E:7", "D:7", "A:7", "E:7"]
    songs = [SongForm.parse("pop", "rock", "C:maj", ["C", "G", "A:min", "F"] * 3),
             SongForm.parse("blues", "rock", "A:maj", blues * 2),
             SongForm.parse("jazz", "jazz-swing", "C:maj",
                            ["D:min7", "G:7", "C:maj7", "C:maj7", "E:min7 A:7", "D:min7 G:7",
                             "C:maj7", "C:maj7"] * 3)]
    for song in songs:
        for bpm in (96.0, 120.0):
            scores = score(play_along(song, bpm, latency=0.3))
            label = f"{song.name} at {bpm}"
            assert scores.predictable >= 7, label
            assert scores.right_share >= 0.9, (label, scores)
            assert scores.median_correction <= 1.0, (label, scores)
            assert scores.agreement >= 0.95 or scores.agreement_besides_approaches >= 0.95, (
                label, scores)
            assert scores.agreement_besides_approaches >= 0.98, (label, scores)


def test_without_the_form_the_band_is_a_bar_behind() -> None:
    song = SongForm.parse("pop", "rock", "C:maj", ["C", "G", "A:min", "F"] * 3)
    scores = score(play_along(song, 120.0, latency=0.3, anticipate=False))
    assert scores.right_share < 0.5


def test_a_strum_just_before_a_half_bar_ends_belongs_to_the_next_one() -> None:
    g = Chord.parse("G:maj")
    # silence, then G struck an eighth before the half bar's end: the half had no chord
    assert part_chord([(3.87, g)], 2.0, 4.0, least_hold=0.5) is None
    # ... but a G that held a beat of it, or that followed another chord, is its chord
    assert part_chord([(3.0, g)], 2.0, 4.0, least_hold=0.5) == g
    d = Chord.parse("D:maj")
    assert part_chord([(0.0, d), (3.87, g)], 2.0, 4.0, least_hold=0.5) == d


def test_a_realign_keeps_the_bars_played_before_the_new_bar_count() -> None:
    """Before it comes in, the band's clock (120 BPM) is re-anchored onto a guitarist at 150
    whose bars it counts from 2 on: the six bars they played before are heard again on the
    new clock (as bars −4 .. 1), so the form is known at once and the next bar predicted."""
    clock = {"map": TEMPO}
    book = StateBook(Key.parse("C:maj"), beat_at=lambda t: clock["map"].beat_at(t),
                     beats_per_bar=4, bpm=120)
    theirs = TempoMap(bpm=150, t0=0.0)                       # a bar = 1.6 s
    for index, chord in enumerate(POP + POP[:2]):
        book.hear_chord(chord, theirs.time_at(index * 4) + 0.3)
        band_bar = int(clock["map"].beat_at(theirs.time_at(index * 4)) // 4)
        book.start_bar(band_bar, TEMPO.time_at(band_bar * 4))
    now = theirs.time_at(6 * 4)                              # their seventh bar begins
    clock["map"] = TempoMap(bpm=150, t0=now, b0=8.0)         # ... and is the band's bar 2
    state = book.realign(2, now)
    assert [(b.bar, b.chord) for b in state.bars] == \
        list(zip(range(-4, 2), POP + POP[:2], strict=True))
    assert state.prediction is not None and state.prediction.bar == 2
    assert state.prediction.chord == AM and state.prediction.confidence >= 0.8


def test_bars_of_melody_or_rest_are_left_out_of_the_form() -> None:
    """The ears hear no chord for two bars (a melody; the band keeps its last chord): those
    bars are not bars of the form, so when the guitarist comes back with the first chord of
    the form the band expects the second, not the chord it kept through the rest."""
    book = make_book()
    play_bars(book, POP)
    book.hear_no_chord(TEMPO.time_at(16) + 0.3)             # bars 4 and 5: a melody
    for bar in (5, 6):
        book.start_bar(bar, TEMPO.time_at(bar * 4))
    assert book.state.heard_chord == F                      # kept through the melody
    book.hear_chord(C, TEMPO.time_at(24) + 0.3)             # bar 6: the form again
    state = book.start_bar(7, TEMPO.time_at(28))
    assert [(b.bar, b.chord) for b in state.bars] == [(0, C), (1, G), (2, AM), (3, F), (6, C)]
    assert state.prediction is not None and state.prediction.bar == 7
    assert state.prediction.chord == G


def test_a_flicker_of_no_chord_keeps_the_bar() -> None:
    book = make_book()
    play_bars(book, POP[:2])
    book.hear_no_chord(TEMPO.time_at(8) + 0.5)              # a quarter of a beat of nothing
    book.hear_chord(AM, TEMPO.time_at(8) + 0.62)
    state = book.start_bar(3, TEMPO.time_at(12))
    assert [b.chord for b in state.bars] == [C, G, AM]


def heard_with_frames(no_chord_by: float) -> list[tuple[int, Chord]]:
    """POP with the ears' frames (every 0.1 s, each chord 1 better than the rest), then two
    bars heard as no chord whose frames favour "no chord" over the F kept by `no_chord_by`
    (log-likelihood a frame), then C: the form's bars as the book committed them."""
    book = make_book()
    vocabulary: list[Chord | None] = [C, G, AM, F, None]
    book.evidence = ChordEvidence(vocabulary)

    def frames(favoured: Chord | None, margin: float, start: float, end: float) -> None:
        for time in np.arange(start, end, 0.1):
            scores = np.zeros(len(vocabulary))
            scores[vocabulary.index(favoured)] = margin
            book.hear_scores(float(time), scores)

    for index, chord in enumerate(POP):
        book.start_bar(index, TEMPO.time_at(index * 4))
        book.hear_chord(chord, TEMPO.time_at(index * 4) + 0.3)
        frames(chord, 1.0, TEMPO.time_at(index * 4), TEMPO.time_at(index * 4 + 4))
    book.start_bar(4, TEMPO.time_at(16))
    book.hear_no_chord(TEMPO.time_at(16) + 0.3)
    frames(None, no_chord_by, TEMPO.time_at(16), TEMPO.time_at(24))
    book.start_bar(5, TEMPO.time_at(20))
    book.start_bar(6, TEMPO.time_at(24))
    book.hear_chord(C, TEMPO.time_at(24) + 0.3)
    frames(C, 1.0, TEMPO.time_at(24), TEMPO.time_at(28))
    state = book.start_bar(7, TEMPO.time_at(28))
    return [(b.bar, b.chord) for b in state.bars]


def test_an_arpeggio_heard_as_no_chord_keeps_its_bar_a_melody_does_not() -> None:
    """Single notes that the frames find about as much a chord as not (an arpeggio: "no
    chord" better by 0.2 a frame) keep the chord the band kept; a melody (1.5) is left out."""
    assert heard_with_frames(0.2) == [(0, C), (1, G), (2, AM), (3, F), (4, F), (5, F), (6, C)]
    assert heard_with_frames(1.5) == [(0, C), (1, G), (2, AM), (3, F), (6, C)]
