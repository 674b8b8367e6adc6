"""Offline render speed: a 32-bar four-instrument render with --input (a generated strummed
take at 120 BPM, 64 s), timed end to end in this process (the package already imported),
and how the time splits: the analysis pass (the server's front end in numpy), the band's
decisions (the live follower, state book, band loop and agents on the offline clock, and
the score), the audio pass (scsynth -N, or supernova -N whose start-up, ~1 s of spin
calibration, runs while the passes above do), and writing the files.

Usage: python bench/bench_render.py [--runs 3] [--bars 32] [--stems] [--server supernova]
Target: >= 30x real time (issue 12).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from performia.config import load_config, replace
from performia.listen.rehearsal import TakeSpec, generate_take, write_take
from performia.render.job import RenderRequest, RenderResult, render

BPM = 120.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--bars", type=int, default=32)
    parser.add_argument("--stems", action="store_true", help="also write the 15-channel stems")
    parser.add_argument("--server", default="", help="the -N server (default: the config's "
                        "render_executable, scsynth)")
    args = parser.parse_args()
    config = load_config()
    if args.server:
        config = replace(config, "server", render_executable=args.server)
    config = replace(config, "timing", tempo=BPM)
    config = replace(config, "band", key="G:maj", style="rock", seed=1)
    with tempfile.TemporaryDirectory(prefix="bench-render-") as tmp:
        work = Path(tmp)
        spec = TakeSpec(progression=("G:maj", "E:min7", "C:maj7", "D:7"), key="G:maj", bpm=BPM,
                        bars=args.bars, lead_in=0.0, tail=0.0, seed=1)
        take = write_take(work / "take.wav", generate_take(spec))
        results: list[RenderResult] = []
        for run in range(args.runs):
            request = RenderRequest(config=config, out=work / "band.wav", input=take,
                                    stems=work / "stems.wav" if args.stems else None,
                                    events=work / "events.jsonl",
                                    duration=args.bars * 4 * 60 / BPM)
            result = render(request)
            results.append(result)
            print(f"run {run + 1}: {result.seconds:.1f} s in {result.wall:.2f} s = "
                  f"{result.speed:.1f}x real time | analysis {result.analysis:.2f} s, band "
                  f"{result.decisions:.2f} s, audio {result.audio:.2f} s (the server's "
                  f"synthesis {result.synthesis:.2f} s), files {result.files:.2f} s | CPU: "
                  f"analysis {result.cpu_analysis:.2f} s, band {result.cpu_decisions:.2f} s, "
                  f"chroma worker {result.cpu_chroma:.2f} s, server {result.cpu_server:.2f} s")
        best = max(results, key=lambda r: r.speed)
        median = statistics.median(r.speed for r in results)
        print(f"{args.bars} bars ({best.seconds:.0f} s), notes {sum(best.notes.values())}: "
              f"median {median:.1f}x, best {best.speed:.1f}x real time (target >= 30x)")


if __name__ == "__main__":
    main()
