"""One render, start to end: check the inputs and outputs, start the server (scsynth, or
supernova whose start-up overlaps the passes below), the analysis pass, the band's
decisions into the score (the chroma computed meanwhile in a worker), the audio pass, the
files. Every failure is a `RenderError` with one line; nothing is left
behind but complete files (and no process)."""

from __future__ import annotations

import re
import resource
import shutil
import tempfile
import time as wallclock
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from performia.config import Config
from performia.events.note import NoteEvent
from performia.listen.readings import SpectrumReading
from performia.listen.rehearsal import TakeError, load_samples, read_take
from performia.plan import ANSWER_RING
from performia.render import score as scores
from performia.render.chroma_ahead import ChromaAhead, ChromaAheadError
from performia.render.hearing import Hearing, hear, server_signal
from performia.render.nrt import NrtError, NrtRender, NrtSettings, render_executable
from performia.render.output import RawWav, check_writable, stem_sources, write_events, write_wav
from performia.render.performance import FOLLOWER, ModeChange, Played, perform
from performia.render.replay import ReplayError, load
from performia.server import synthdefs
from performia.transport.event_log import note_record

DEFAULT_BARS = 8          # the band alone, without --duration
TAIL = 0.5                # s rendered after the last note may start (releases, decays)
STEM_OUTPUTS = 32         # with stems, the instrument buses 16..31 are output buses
HANDOVER_MARGIN = 1.0     # s: the score is streamed to the server this far behind the band
# the -N server's real-time memory pool: every style renders in 8 MB (measured); the live
# server's 256 MB costs ~0.2 s of page faults at every render's start
RENDER_RT_MEMORY_KB = 32768

Progress = Callable[[str, float], None]


class RenderError(Exception):
    """A render that cannot be done: `str()` is one line; `status` the exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RenderRequest:
    config: Config
    out: Path
    input: Path | None = None
    stems: Path | None = None
    events: Path | None = None
    replay: Path | None = None
    duration: float | None = None
    modes: tuple[ModeChange, ...] = ()
    master_controls: tuple[tuple[str, float], ...] = ()   # the master synth's, by name
    first_beat: float = 0.0     # where the band comes in (a late live start, to compare)


@dataclass
class RenderResult:
    seconds: float                       # song seconds rendered (the file is TAIL longer)
    wall: float = 0.0
    analysis: float = 0.0               # wall seconds of each pass
    decisions: float = 0.0
    audio: float = 0.0                  # from the score's hand-over to the server's end
    synthesis: float = 0.0              # the server's synthesis time (supernova's log)
    files: float = 0.0
    cpu_analysis: float = 0.0           # CPU seconds (independent of other load)
    cpu_decisions: float = 0.0
    cpu_server: float = 0.0             # the server's user + system time
    cpu_chroma: float = 0.0             # the chroma worker's (render/chroma_ahead.py)
    peak: float = 0.0
    notes: dict[str, int] = field(default_factory=dict)
    chords: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)

    @property
    def speed(self) -> float:
        return self.seconds / self.wall if self.wall > 0 else float("inf")


def render(request: RenderRequest, progress: Progress | None = None) -> RenderResult:
    started = wallclock.perf_counter()
    cpu_started = wallclock.process_time()
    config = request.config
    rate, block = config.server.sample_rate, config.server.block_size
    for path in (request.out, request.stems, request.events):
        if path is not None:
            try:
                check_writable(path)
            except OSError as error:
                raise RenderError(f"cannot write {path}: {error.strerror or error}", 2) from None
    take = _take(request.input, rate)
    replay = None
    if request.replay is not None:
        try:
            replay = load(request.replay)
        except ReplayError as error:
            raise RenderError(f"--replay: {error}", 2) from None
    if not synthdefs.compiled_defs():
        raise RenderError(f"no compiled SynthDefs in {synthdefs.BUILD_DIR}: run "
                          "'python -m performia build'", 2)
    duration = request.duration
    if duration is None:
        if replay is not None:
            duration = max(replay.end, take[1] if take else 0.0)
        elif take is not None:
            duration = take[1]
        else:
            duration = DEFAULT_BARS * config.timing.beats_per_bar * 60.0 / config.timing.tempo
    frames = round((duration + TAIL) * rate)
    cut = scores.SONG_START_BLOCKS * block   # output frames before the song's sample 0
    settings = NrtSettings(render_executable(config.server.render_executable,
                                             config.server.executable), rate, block,
                           STEM_OUTPUTS if request.stems else 2,
                           rt_memory_kb=min(config.server.rt_memory_kb, RENDER_RT_MEMORY_KB),
                           max_nodes=config.server.max_nodes,
                           audio_buses=config.server.audio_buses)
    result = RenderResult(seconds=duration)
    workdir = Path(tempfile.mkdtemp(prefix="performia-render-"))
    nrt = NrtRender(settings, workdir)
    try:
        children = _children_cpu()
        nrt.start()
        score = scores.Score(block / rate, scores.server_clock(settings.supernova, rate, block))
        scores.setup(score, request.input, take[2] if take else 1, synthdefs.BUILD_DIR,
                     request.master_controls, config.band.seed)
        nrt.open_score()
        # SynthDefs, tree, the take's buffer: loaded while the analysis runs (with supernova
        # a note at the song's t = 0 goes in a block before it: score.Score)
        nrt.send(score.take(score.offset - score.block))
        _report(progress, "analysis", 0.0)
        hearing = None
        if take is not None and replay is None:
            hearing = hear(take[0], rate, block)
        result.analysis = wallclock.perf_counter() - started
        result.cpu_analysis = wallclock.process_time() - cpu_started
        cpu_mark = wallclock.process_time()
        _report(progress, "band", 0.0)
        mark = wallclock.perf_counter()
        dispatcher = scores.ScoreDispatcher(score, config.timing.latency_ms / 1000.0)

        def decided(song_time: float) -> None:       # the server renders while the band decides
            nrt.send(score.take(score.offset + song_time - HANDOVER_MARGIN))
            _report(progress, "band", min(song_time / duration, 1.0))

        def send(event: NoteEvent, ring: str) -> None:
            dispatcher.send(event, dispatcher.source(ring))

        if replay is not None:
            played = Played()
            for ring, event in replay.notes:
                if event.time < duration:
                    send(event, ring)
                    played.notes.append((ring, event))
                    played.lines.append(note_record(event, 0.0))
            played.lines = _merge(replay.heard, played.lines, duration)
            played.chords = [str(line["chord"]) for line in replay.heard
                             if line.get("kind") == "chord"]       # what the live run heard
        else:
            played = _perform_ahead(request, hearing, duration, send, decided, result)
        dispatcher.release_everything(duration)
        scores.finish(score, (frames + cut) / rate)
        nrt.send(score.take())
        nrt.close_score()
        result.decisions = wallclock.perf_counter() - mark
        result.cpu_decisions = wallclock.process_time() - cpu_mark
        mark = wallclock.perf_counter()
        nrt.wait(lambda seconds: _report(progress, "audio", min(seconds / (duration + TAIL),
                                                                1.0)))
        result.audio = wallclock.perf_counter() - mark
        result.cpu_server = _children_cpu() - children - result.cpu_chroma
        # supernova logs its synthesis time; scsynth's CPU is all synthesis (no calibration)
        result.synthesis = _synthesis_seconds(nrt.log_path) or result.cpu_server
        mark = wallclock.perf_counter()
        _report(progress, "files", 1.0)
        result.peak, result.written = _write(request, nrt.output, played, cut, frames)
        result.files = wallclock.perf_counter() - mark
    except (NrtError, ChromaAheadError) as error:
        raise RenderError(str(error), 1) from None
    except OSError as error:
        raise RenderError(f"render failed: {error}", 1) from None
    finally:
        nrt.abort()
        shutil.rmtree(workdir, ignore_errors=True)
    result.notes = dict(Counter(_agent_of(ring, event) for ring, event in played.notes
                                if event.velocity > 0))
    result.chords = played.chords
    result.wall = wallclock.perf_counter() - started
    return result


def _perform_ahead(request: RenderRequest, hearing: Hearing | None, duration: float,
                   send: Callable[[NoteEvent, str], None], decided: Callable[[float], None],
                   result: RenderResult) -> Played:
    """The band's decisions (`perform`), the follower's chroma computed meanwhile."""
    chroma = _chroma_ahead(hearing)
    try:
        played = perform(request.config, hearing, duration, send, request.modes,
                         request.first_beat, decided=decided, chroma=chroma)
        if chroma is not None:
            chroma.finish()
            result.cpu_chroma = chroma.cpu_seconds
        return played
    finally:
        if chroma is not None:
            chroma.close()


def _chroma_ahead(hearing: Hearing | None) -> ChromaAhead | None:
    """The follower's chroma of every /spectrum frame, started in a worker."""
    spectra = [r for r in hearing.readings if isinstance(r, SpectrumReading)] if hearing else []
    if not spectra:
        return None
    return ChromaAhead.start([r.time for r in spectra], [r.magnitudes for r in spectra],
                             FOLLOWER.gate, FOLLOWER.chroma)


def _take(path: Path | None, rate: int) -> tuple[Any, float, int] | None:
    """(what the server hears at its rate, seconds, channels), or None without a take."""
    if path is None:
        return None
    try:
        read_take(path)
        samples, info = load_samples(path)
    except TakeError as error:
        raise RenderError(f"--input: {error}", 2) from None
    signal = server_signal(samples, info.sample_rate, rate)
    return signal, signal.size / rate, info.channels


def _merge(heard: list[dict[str, object]], notes: list[dict[str, Any]],
           duration: float) -> list[dict[str, Any]]:
    kept = [dict(line) for line in heard if float(line.get("t", 0.0)) < duration]  # type: ignore[arg-type]
    both = [(float(line["t"]), i, line) for i, line in enumerate(kept + notes)]
    return [line for _, _, line in sorted(both, key=lambda x: (x[0], x[1]))]


def _agent_of(ring: str, event: NoteEvent) -> str:
    return "answers" if ring == ANSWER_RING else event.agent_name


def _write(request: RenderRequest, raw_path: Path, played: Played, cut: int,
           frames: int) -> tuple[float, list[Path]]:
    try:
        raw = RawWav.open(raw_path)
    except (OSError, ValueError) as error:
        raise NrtError(f"the server wrote no usable output ({error})") from None
    if raw.samples.shape[0] < frames + cut:
        raise NrtError(f"the server's output is short: {raw.samples.shape[0]} frames, "
                       f"expected {frames + cut}")
    written = []
    peak = write_wav(request.out, raw, [0, 1], cut, frames)
    written.append(request.out)
    if request.stems is not None:
        write_wav(request.stems, raw, stem_sources(), cut, frames)
        written.append(request.stems)
    if request.events is not None:
        write_events(request.events, played.lines)
        written.append(request.events)
    del raw
    return peak, written


def _synthesis_seconds(log_path: Path) -> float:
    try:
        text = log_path.read_text(errors="replace")
    except FileNotFoundError:
        return 0.0
    found = re.search(r"Non-rt synthesis finished in ([0-9.]+)s", text)
    return float(found.group(1)) if found else 0.0


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _report(progress: Progress | None, phase: str, fraction: float) -> None:
    if progress is not None:
        progress(phase, fraction)


def peak_dbfs(peak: float) -> float:
    return float(20.0 * np.log10(peak)) if peak > 0 else float("-inf")
