"""Issue 12's proof: `performia render` on a real supernova in non-real-time mode.

Deterministic (two renders, the same bytes); every drum hit on its exact sample against
`--events`; the stems are the instrument buses the master sums; a live run's `--events`
re-rendered with `--replay`; and the same take and seed offline and live give the same
notes (≥ 95 %, away from the live run's reported dropouts and late bundles)."""

from __future__ import annotations

import hashlib
import json
import math
import signal
from pathlib import Path

import numpy as np
import pytest

from performia.config import Config, replace
from performia.listen.rehearsal import TakeSpec, generate_take, load_samples, write_take
from performia.manager import Manager, RunOptions
from performia.render.job import RenderRequest, RenderResult, render
from performia.server.recorder import STEM_CHANNELS
from tests.audio import read_wav
from tests.conftest import RUN_ID, make_config, run_cli, write_config

pytestmark = pytest.mark.server

BPM, RATE = 120.0, 48000
KIT = {"kick", "snare", "hat", "openhat"}
SPEC = TakeSpec(progression=("G:maj", "E:min7", "C:maj7", "D:7"), key="G:maj", bpm=BPM,
                bars=8, lead_in=0.0, tail=0.5, seed=3)
# the master (sc/synthdefs/master.scd): each bus's gain, then `level`
GAINS = {"drums": 0.9, "bass": 0.8, "harmony": 0.7, "melody": 0.7, "input": 0.6, "test": 0.5}
LEVEL, CEILING = 0.9, 10 ** (-1 / 20)


def _config(name: str = "render") -> Config:
    config = make_config(RUN_ID + name)
    config = replace(config, "timing", tempo=BPM)
    config = replace(config, "band", key="G:maj", style="rock", seed=7)
    config = replace(config, "gui", enabled=False)
    return replace(config, "midi", port="")          # no pedal


def _live_config() -> Config:
    """The live run the render is compared with, and the render of it: JACK with 1,024-frame
    periods (21 ms: this VM's few-ms vCPU stalls are then no dropout; at 64 frames a 16-s
    run had 20-100) and the band deciding 50 ms ahead (a bundle must reach the server before
    the period holding its time is computed). The comparison is of the musical code, not of
    the latency."""
    config = replace(_config("renderlive"), "jack", period=1024)
    return replace(config, "timing", latency_ms=50.0)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def take(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_take(tmp_path_factory.mktemp("take") / "take.wav", generate_take(SPEC))


@pytest.fixture(scope="module")
def rendered(take: Path, tmp_path_factory: pytest.TempPathFactory,
             built_synthdefs: None) -> tuple[dict[str, Path], RenderResult]:
    out = tmp_path_factory.mktemp("render")
    files = {"out": out / "band.wav", "stems": out / "stems.wav", "events": out / "events.jsonl"}
    result = render(RenderRequest(config=_config(), out=files["out"], input=take,
                                  stems=files["stems"], events=files["events"]))
    return files, result


def test_two_renders_are_byte_identical(rendered: tuple[dict[str, Path], RenderResult],
                                        take: Path, tmp_path: Path) -> None:
    first, _ = rendered
    again = {"out": tmp_path / "other-name.wav", "stems": tmp_path / "s.wav",
             "events": tmp_path / "e.jsonl"}
    render(RenderRequest(config=_config(), out=again["out"], input=take, stems=again["stems"],
                         events=again["events"]))
    for key in ("out", "stems", "events"):
        assert _digest(first[key]) == _digest(again[key]), key


def test_the_render_plays_the_take_and_the_band(
        rendered: tuple[dict[str, Path], RenderResult], take: Path) -> None:
    files, result = rendered
    rate, stems = read_wav(files["stems"])
    assert rate == RATE
    samples, _ = load_samples(take)
    assert stems.shape[0] == samples.shape[0] + RATE // 2      # the take, and 0.5 s of tail
    guitar = stems[:samples.shape[0], STEM_CHANNELS["input"]]
    assert np.array_equal(guitar, samples[:, 0].astype(np.float64))   # from sample 0, exact
    for name in ("drums", "bass", "harmony"):
        assert result.notes[name] > 8
        channel = stems[:, STEM_CHANNELS[name]]
        assert float(np.sqrt(np.mean(channel ** 2))) > 0.005, name
    assert 0.1 < result.peak <= CEILING + 1e-6
    assert set(result.chords) >= {"G:maj", "E:min7", "D:7"}


def test_drum_hits_start_on_their_exact_samples(
        rendered: tuple[dict[str, Path], RenderResult]) -> None:
    files, _ = rendered
    _, stems = read_wav(files["stems"])
    marks = np.nonzero(stems[:, STEM_CHANNELS["drum_marks"]] > 0.5)[0]
    played = _lines(files["events"])
    expected = sorted({round(e["t"] * RATE) for e in played if e.get("voice") in KIT})
    assert len(expected) > 60
    assert marks.tolist() == expected           # 0 samples of error, none missing or extra


def test_the_stems_sum_to_the_mix_before_the_ceiling(take: Path, tmp_path: Path) -> None:
    """The stems are the instrument buses (and the guitar's) before the master's gains;
    master = ceiling(compander(level · Σ gain · stem)). With the master's level turned down
    so that the compander stays under its threshold (0.5), it passes the mix unchanged, and
    the mix recovered from the master (atanh of the ceiling's tanh) is the stems' sum to
    float rounding."""
    stems = tmp_path / "stems.wav"
    level = 0.05
    render(RenderRequest(config=_config(), out=tmp_path / "out.wav", input=take, stems=stems,
                         duration=6.0, master_controls=(("level", level),)))
    _, audio = read_wav(stems)
    mix = level * sum(gain * audio[:, STEM_CHANNELS[name]:STEM_CHANNELS[name] + 2]
                      for name, gain in GAINS.items())
    master = audio[:, STEM_CHANNELS["master"]:STEM_CHANNELS["master"] + 2]
    assert 0.01 < float(np.abs(mix).max()) < 0.45        # heard, and the compander idle
    unlimited = CEILING * np.arctanh(master / CEILING)
    error = np.abs(unlimited - mix)
    assert float(error.max()) < 1e-6, f"stems vs master: max error {error.max():.2e}"


def test_errors_are_one_line_and_leave_no_file(tmp_path: Path, take: Path) -> None:
    config = write_config(tmp_path / "performia.toml", _config())
    out = tmp_path / "out.wav"
    missing = run_cli("render", "--config", str(config), "--input", str(tmp_path / "no.wav"),
                      "--out", str(out))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\0\0\0\0WAVEjunk")
    bad = run_cli("render", "--config", str(config), "--input", str(broken), "--out", str(out))
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    blocked = run_cli("render", "--config", str(config), "--input", str(take), "--out",
                      str(tmp_path / "no" / "such" / "dir" / "out.wav"))
    assert blocked.returncode == 2 and "cannot write" in blocked.stderr
    failing = write_config(tmp_path / "failing.toml",
                           replace(_config(), "server", render_executable="false"))
    dead = run_cli("render", "--config", str(failing), "--input", str(take), "--out", str(out))
    assert dead.returncode == 1 and len(dead.stderr.strip().splitlines()) == 1, dead.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.wav", "failing.toml",
                                                         "performia.toml"]


def test_a_waltz_on_the_command_line_is_counted_in_three(tmp_path: Path,
                                                         built_synthdefs: None) -> None:
    """`--beats-per-bar 3 --tempo 96`: a bar of three clicks, the band from bar 1 (its first
    kick on the fourth beat, 1.875 s), and its ears count the guitarist's beats 0, 1, 2."""
    waltz = TakeSpec(progression=("C:maj", "A:min7", "F:maj", "G:7"), key="C:maj", bpm=96.0,
                     bars=8, beats_per_bar=3, pattern="DDUDDU", lead_in=0.0, tail=0.5, seed=5)
    take = write_take(tmp_path / "waltz.wav", generate_take(waltz))
    config = write_config(tmp_path / "performia.toml", _config("waltz"))
    events = tmp_path / "band.jsonl"
    done = run_cli("render", "--config", str(config), "--input", str(take), "--out",
                   str(tmp_path / "band.wav"), "--events", str(events), "--tempo", "96",
                   "--beats-per-bar", "3", "--quiet")
    assert done.returncode == 0, done.stderr
    lines = _lines(events)
    drums = [line for line in lines if line.get("agent") == "drums"]
    clicks = [line["t"] for line in drums if line["t"] < 1.875 - 1e-6]
    assert clicks == pytest.approx([0.0, 0.625, 1.25])
    assert min(line["t"] for line in drums if line["voice"] == "kick") == pytest.approx(1.875)
    heard = {line["beat"] for line in lines if line.get("kind") == "beat"}
    assert heard == {0, 1, 2}
    wrong = run_cli("render", "--config", str(config), "--input", str(take), "--out",
                    str(tmp_path / "no.wav"), "--beats-per-bar", "0")
    assert wrong.returncode == 2 and "beats_per_bar" in wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1


# -- a live run of the same take, then the same offline --------------------------------------


@pytest.fixture(scope="module")
def live(take: Path, tmp_path_factory: pytest.TempPathFactory
         ) -> tuple[Manager, list[dict], Path]:
    out = tmp_path_factory.mktemp("live")
    events = out / "live.jsonl"
    duration = SPEC.bars * 4 * 60 / BPM + SPEC.tail
    for _attempt in range(3):       # a loaded machine stalls the audio: try again
        manager = Manager(_live_config(), RunOptions(duration=duration, events=events,
                                                            input=take, gui=False))
        assert manager.run() == 0
        lines = _lines(events)
        if _clean(manager, lines):
            break
    return manager, lines, events


def test_a_run_leaves_the_signal_handlers_as_it_found_them(
        live: tuple[Manager, list[dict], Path]) -> None:
    """The manager asks Ctrl-C and SIGTERM to stop the show while it runs, and puts the
    process's own handlers back after: a process forked later (a pool, the render's chroma
    worker) still dies of SIGTERM (a pool's worker that did not hung the suite once)."""
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    assert signal.getsignal(signal.SIGINT) == signal.default_int_handler


def _clean(manager: Manager, lines: list[dict]) -> bool:
    """The live run heard the take from its start, played from beat 0, hardly disturbed."""
    first_note = min((e["t"] for e in lines if "agent" in e), default=math.inf)
    first_heard = min((e["t"] for e in lines if e.get("kind") == "chord"), default=math.inf)
    log = manager.server_log
    return first_note < 0.01 and first_heard < 0.2 and log.xruns + log.late <= 5


def _notes(lines: list[dict]) -> list[dict]:
    """Notes decided on the band's clock (answers are stamped when an accent arrived)."""
    return [e for e in lines if "agent" in e and e["voice"] != "answer" and e["vel"] > 0]


def test_live_and_offline_play_the_same_notes(live: tuple[Manager, list[dict], Path],
                                              take: Path, tmp_path: Path) -> None:
    manager, live_lines, _ = live
    plan = manager.plan
    assert plan is not None
    live_chords = {e["chord"] for e in live_lines if e.get("kind") == "chord"}
    duration = SPEC.bars * 4 * 60 / BPM + SPEC.tail
    events = tmp_path / "offline.jsonl"
    # on a loaded machine the live conductor can start late: the band then came in at the
    # first sixteenth it could still decide; offline it comes in there too
    first = min(e["t"] for e in live_lines if "agent" in e)
    first_beat = round(first * BPM / 60 * 4) / 4
    render(RenderRequest(config=_live_config(), out=tmp_path / "offline.wav",
                         input=take, events=events, duration=duration, first_beat=first_beat))
    offline = {(e["agent"], e["voice"], e["midi"], round(e["t"] * RATE))
               for e in _notes(_lines(events))}
    reports = [t - plan.start_time for t in manager.server_log.report_times()]
    compared = [e for e in _notes(live_lines) if e["t"] < duration - 0.5
                and not any(-0.05 <= e["t"] - r <= 0.5 for r in reports)]
    offline_chords = {e["chord"] for e in _lines(events) if e.get("kind") == "chord"}
    assert live_chords <= offline_chords          # whatever live heard, offline heard too
    if not _clean(manager, live_lines):
        # Measured on a loaded 2-core VM: a conductor that comes up seconds late misses the
        # take's first readings, and with dozens of xruns the dummy driver's clock drifts
        # from the conductor's (its replies arrived 25..70 ms later than offline, growing):
        # the band then decides on other readings, and no note-for-note comparison holds.
        log = manager.server_log
        pytest.skip(f"no undisturbed live run in 3 tries ({log.xruns} xruns, {log.late} late "
                    "bundles, or a late start): live and offline not compared note by note")
    same = [e for e in compared
            if (e["agent"], e["voice"], e["midi"], round(e["t"] * RATE)) in offline]
    assert len(compared) > 100
    share = len(same) / len(compared)
    assert share >= 0.95, f"{len(same)}/{len(compared)} live notes played offline"


def test_replay_renders_the_notes_of_a_live_run(live: tuple[Manager, list[dict], Path],
                                                take: Path, tmp_path: Path) -> None:
    _, live_lines, log = live
    out, stems, events = tmp_path / "mix.wav", tmp_path / "stems.wav", tmp_path / "re.jsonl"
    result = render(RenderRequest(config=_config(), out=out, input=take, stems=stems,
                                  events=events, replay=log))
    played = [e for e in live_lines if "agent" in e]
    replayed = [e for e in _lines(events) if "agent" in e]
    key = lambda e: (e["t"], e["agent"], e["voice"], e["midi"], e["vel"], e["dur"])  # noqa: E731
    assert sorted(map(key, replayed)) == sorted(map(key, played))
    assert set(result.chords) == {e["chord"] for e in live_lines if e.get("kind") == "chord"}
    _, audio = read_wav(stems)
    marks = np.nonzero(audio[:, STEM_CHANNELS["drum_marks"]] > 0.5)[0]
    expected = sorted({round(e["t"] * RATE) for e in played if e["voice"] in KIT})
    assert marks.tolist() == expected
    last = max(e["t"] + e["dur"] for e in played)
    assert math.isclose(result.seconds, max(last, SPEC.bars * 4 * 60 / BPM + SPEC.tail),
                        abs_tol=1e-3)


def test_supernova_renders_the_same_notes_on_the_same_samples(take: Path, tmp_path: Path) -> None:
    """The render's -N server is scsynth (no start-up calibration); supernova, its fallback,
    starts every note and the take on the same samples (its timetags make up for its
    one-block OffsetOut lag): the drum marks and the take are identical, and the pitched
    stems (no noise in them) too until the first release (supernova -N runs a release, a
    plain /n_set, a block after the block that holds its time; scsynth in that block, as
    the live server does)."""
    stems, events = {}, {}
    for server in ("scsynth", "supernova"):
        config = replace(_config(), "server", render_executable=server)
        stems[server], events[server] = tmp_path / f"{server}.wav", tmp_path / f"{server}.jsonl"
        render(RenderRequest(config=config, out=tmp_path / f"{server}-band.wav", input=take,
                             stems=stems[server], events=events[server], duration=4.0))
    assert _digest(events["scsynth"]) == _digest(events["supernova"])
    _, ours = read_wav(stems["scsynth"])
    _, theirs = read_wav(stems["supernova"])
    assert ours.shape == theirs.shape
    for name in ("drum_marks", "input"):
        channel = STEM_CHANNELS[name]
        assert np.array_equal(ours[:, channel], theirs[:, channel]), name
    pitched = [e for e in _lines(events["scsynth"]) if e.get("agent") in ("bass", "harmony")]
    lookahead = _config().timing.latency_ms / 1000     # a release-all closes the gates then
    first_release = round(min(e["t"] + e["dur"] if e["vel"] > 0 else e["t"] - lookahead
                              for e in pitched) * RATE)
    assert first_release > 4000
    for name in ("bass", "harmony"):
        ours_, theirs_ = (x[:first_release - 64, STEM_CHANNELS[name]] for x in (ours, theirs))
        assert float(np.sqrt(np.mean(ours_ ** 2))) > 0.005, name
        assert np.allclose(ours_, theirs_, atol=1e-6), name
