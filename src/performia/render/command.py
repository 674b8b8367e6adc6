"""`python -m performia render ...`: the arguments, the progress bar, the summary."""

from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path
from typing import TextIO

from performia.cli import add_timing_arguments, timing_overrides
from performia.config import STYLES, ConfigError, load_config, replace
from performia.render.job import RenderError, RenderRequest, RenderResult, peak_dbfs, render
from performia.render.performance import ModeChange

EXIT_USAGE = 2
BAR_WIDTH = 30
PHASES = ("analysis", "band", "audio", "files")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="performia render",
        description="Render the band playing along with a take (or alone) to a WAV, faster "
                    "than real time, with supernova's non-real-time mode (docs/RENDER.md).")
    p.add_argument("--input", type=Path, metavar="TAKE.wav",
                   help="the guitar take (mono or stereo WAV/AIFF); without it the band "
                        "plays alone, from the config's progression")
    p.add_argument("--out", type=Path, required=True, metavar="OUT.wav",
                   help="the master, stereo 32-bit float")
    p.add_argument("--stems", type=Path, metavar="STEMS.wav",
                   help="every instrument's bus beside the master (15 channels, the live "
                        "layout of docs/EVENTS.md)")
    p.add_argument("--events", type=Path, metavar="FILE",
                   help="every note played and everything heard, as JSON lines "
                        "(docs/EVENTS.md)")
    p.add_argument("--replay", type=Path, metavar="PERFORMANCE.jsonl",
                   help="render the notes of a live run's --events log instead of playing")
    add_timing_arguments(p)
    p.add_argument("--key", help="key, e.g. E:min (overrides the config)")
    p.add_argument("--style", choices=STYLES, help="style preset (overrides the config)")
    p.add_argument("--seed", type=int, help="random seed: the same seed plays the same notes")
    p.add_argument("--duration", type=float, metavar="SECONDS",
                   help="seconds to render (default: the take's length, the replayed notes', "
                        "or 8 bars for the band alone)")
    p.add_argument("--mode", action="append", default=[], metavar="SECONDS:MODE",
                   help="a scripted pedal: switch the listening mode at that time, e.g. "
                        "--mode 2:listen --mode 10:play (repeatable)")
    p.add_argument("--config", type=Path, help="config file (default config/performia.toml)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no summary")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="performia: %(message)s")
    try:
        request = _request(args)
    except (ConfigError, ValueError) as error:
        print(f"performia render: {error}", file=sys.stderr)
        return EXIT_USAGE
    bar = ProgressBar(sys.stderr) if not args.quiet and sys.stderr.isatty() else None
    try:
        result = render(request, bar.update if bar else None)
    except RenderError as error:
        if bar is not None:
            bar.clear()
        print(f"performia render: {error}", file=sys.stderr)
        return error.status
    except KeyboardInterrupt:
        if bar is not None:
            bar.clear()
        print("performia render: interrupted, nothing written", file=sys.stderr)
        return 130
    if bar is not None:
        bar.clear()
    if not args.quiet:
        print(summary(result))
    return 0


def _request(args: argparse.Namespace) -> RenderRequest:
    if args.duration is not None and (not math.isfinite(args.duration) or args.duration <= 0):
        raise ValueError("--duration must be a finite number of seconds > 0")
    config = load_config(args.config)
    timing = timing_overrides(args)
    if timing:
        config = replace(config, "timing", **timing)
    band = {k: v for k, v in (("key", args.key), ("style", args.style), ("seed", args.seed))
            if v is not None}
    if band:
        config = replace(config, "band", **band)
    if args.key is not None:
        from performia.theory import Key
        Key.parse(args.key)
    modes = tuple(sorted((ModeChange.parse(m) for m in args.mode), key=lambda m: m.time))
    return RenderRequest(config=config, out=args.out, input=args.input, stems=args.stems,
                         events=args.events, replay=args.replay, duration=args.duration,
                         modes=modes)


class ProgressBar:
    """One line on a terminal, redrawn in place."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.shown = ""

    def update(self, phase: str, fraction: float) -> None:
        done = PHASES.index(phase) if phase in PHASES else 0
        whole = (done + (fraction if phase == "audio" else 0.0)) / len(PHASES)
        if phase == "audio":
            whole = (2 + fraction) / len(PHASES)
        filled = round(BAR_WIDTH * whole)
        line = f"\rrendering [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {whole:4.0%} {phase}"
        if line != self.shown:
            self.stream.write(line)
            self.stream.flush()
            self.shown = line

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r" + " " * len(self.shown) + "\r")
            self.stream.flush()
            self.shown = ""


def summary(result: RenderResult) -> str:
    notes = ", ".join(f"{agent} {count}" for agent, count in sorted(result.notes.items()))
    changes = [c for i, c in enumerate(result.chords) if i == 0 or c != result.chords[i - 1]]
    heard = " ".join(changes[:24]) + (" …" if len(changes) > 24 else "")
    return "\n".join([
        f"rendered {result.seconds:.1f} s in {result.wall:.2f} s ({result.speed:.1f}× real "
        f"time): analysis {result.analysis:.2f} s, band {result.decisions:.2f} s, audio "
        f"{result.audio:.2f} s (the server's synthesis {result.synthesis:.2f} s), files "
        f"{result.files:.2f} s",
        f"peak {peak_dbfs(result.peak):.1f} dBFS",
        f"notes: {notes or 'none'}",
        f"chords heard: {heard or 'none'}",
        "wrote " + ", ".join(str(p) for p in result.written),
    ])
