"""Control and live coding under load: does a reload or a control message ever make a note
late? Runs the band on supernova, alternating a quiet run with a loaded one:

- quiet: the band alone (live coding on, one drum file, never saved);
- loaded: the drum file saved every bar (two versions in turn), and 100 control messages
  a second from another process (tempo nudges on the beat; intensity, a pattern and a
  mute on the bar; queries now), for the whole run.

For each run: the late bundles and dropouts (xruns) supernova reports, the messages sent,
answered /performia/done, and applied (the "control" lines of --events plus the queries
answered), the reloads (bars whose drums changed version) and the bars the built-in
drums played because the file's notes were not ready.

Usage: python bench/bench_control.py [--seconds 60] [--pairs 2] [--rate 100] [--no-saves]
                                    [--lookahead-ms MS]
Target: loaded runs have no more late bundles than the quiet runs beside them, and every
message is applied. A late bundle reported within 0.25 s of a dropout (xrun) is the
dropout's (supernova resyncs its clock there, and bundles that were on time become late);
the others are counted apart ("away from any dropout").
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from common import RAM_DIR

from performia.config import load_config, replace
from performia.manager import Manager, RunOptions

BPM = 120.0
BESIDE_A_DROPOUT = 0.25   # s: a late bundle reported this close to a dropout is the dropout's
BAR = 4 * 60 / BPM

DRUMS = """
from performia.live.api import Note, Step

AGENT = "drums"


def step(s: Step) -> list[Note]:
    notes = []
    if s.on_beat:
        notes.append(s.note("kick", 36, 0.9))
    if s.index % 2 == 0:
        notes.append(s.note("{hat}", 42, 0.6))
    return notes
"""

SENDER = """
import socket, sys, threading, time
sys.path.insert(0, sys.argv[4])
from performia.server.osc import decode, encode_message
port, rate, seconds = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", 0))
counts = {"done": 0, "fail": 0, "answer": 0}
def listen():
    while True:
        try:
            data, _ = sock.recvfrom(65536)
        except OSError:
            return
        for address, _ in decode(data):
            key = {"/performia/done": "done", "/performia/fail": "fail"}.get(address, "answer")
            counts[key] += 1
sock.settimeout(0.2)
while True:                       # until the control port answers (the band may start late)
    sock.sendto(encode_message("/performia/get/bar", []), ("127.0.0.1", port))
    try:
        sock.recvfrom(65536)
        break
    except OSError:
        continue
sock.settimeout(None)
threading.Thread(target=listen, daemon=True).start()
messages = [("/performia/tempo", [119.5]), ("/performia/agent/bass/intensity", [0.6]),
            ("/performia/tempo", [120.5]), ("/performia/pattern/drums/kick", ["X...X..."]),
            ("/performia/get/tempo", []), ("/performia/agent/melody/mute", [1]),
            ("/performia/tempo", [120.0]), ("/performia/agent/melody/mute", [0]),
            ("/performia/agent/bass/intensity", [0.7]), ("/performia/get/bar", [])]
start, sent, queries = time.time(), 0, 0
while time.time() - start < seconds:
    address, args = messages[sent % len(messages)]
    sock.sendto(encode_message(address, args), ("127.0.0.1", port))
    sent += 1
    queries += address.startswith("/performia/get/")
    time.sleep(max(0.0, start + sent / rate - time.time()))
time.sleep(1.0)
print(sent, queries, counts["done"], counts["fail"], counts["answer"], flush=True)
"""


def run(seconds: float, loaded: bool, rate: float, saves: bool = True,
        lookahead_ms: float | None = None) -> dict[str, Any]:
    out = Path(tempfile.mkdtemp(prefix="performia-bench-control-", dir=RAM_DIR))
    folder = out / "agents"
    folder.mkdir()
    drums = folder / "drums.py"
    drums.write_text(DRUMS.format(hat="hat"))
    config = load_config()
    config = replace(config, "timing", tempo=BPM)
    if lookahead_ms is not None:
        config = replace(config, "timing", latency_ms=lookahead_ms)
    config = replace(config, "band", agents_dir=str(folder), answer_accents=False)
    config = replace(config, "gui", enabled=False)
    config = replace(config, "midi", initial_mode="play", port="")
    events = out / "events.jsonl"
    manager = Manager(config, RunOptions(duration=seconds, events=events, gui=False))
    result: dict[str, Any] = {"saves": 0}

    def load(start: float) -> None:
        sender = subprocess.Popen(
            [sys.executable, "-c", SENDER, str(config.osc.control_port), str(rate),
             str(seconds - 3.0), str(Path(__file__).resolve().parents[1] / "src")],
            stdout=subprocess.PIPE, text=True)
        version = 0
        while saves and time.time() < start + seconds - 3.0:
            time.sleep(max(0.0, start + (result["saves"] + 1.5) * BAR - time.time()))
            version += 1
            drums.write_text(DRUMS.format(hat="hat" if version % 2 else "openhat"))
            result["saves"] += 1
            result.setdefault("save_times", []).append(time.time())
        stdout, _ = sender.communicate(timeout=seconds + 30)
        result["sender"] = [int(v) for v in stdout.split()]

    def when_started() -> None:
        manager.started.wait(60)
        assert manager.plan is not None
        if loaded:
            load(manager.plan.start_time)

    thread = threading.Thread(target=when_started, daemon=True)
    thread.start()
    try:
        manager.run()
        thread.join(60)
        played = [json.loads(line) for line in events.read_text().splitlines()]
    finally:
        shutil.rmtree(out, ignore_errors=True)
    control = sum(1 for e in played if e.get("kind") == "control")
    tempo = [(0.0, 0.0, BPM)] + [(e["t"], e["beat"], float(e["value"])) for e in played
                                 if e.get("kind") == "control" and e["what"] == "tempo"]

    def bar_of(t: float) -> int:          # the tempo map, rebuilt from the changes applied
        t0, b0, bpm = [seg for seg in tempo if seg[0] <= t + 1e-9][-1]   # the last applied
        return int((b0 + (t - t0) * bpm / 60 + 1e-6) // 4)
    versions = []
    first = min((bar_of(e["t"]) for e in played if e.get("agent") == "drums"), default=0)
    for bar in range(first, first + int(seconds / BAR) - 3):
        voices = {e["voice"] for e in played if e.get("agent") == "drums"
                  and bar_of(e["t"]) == bar}
        versions.append("v1" if voices == {"kick", "hat"} else
                        "v2" if voices == {"kick", "openhat"} else "built-in")
    played_bars = versions[1:]            # the first bar: the band may come in mid-bar
    log = manager.server_log
    alone = [t for t in log.late_times
             if not any(abs(t - x) <= BESIDE_A_DROPOUT for x in log.xrun_times)]
    saved = result.get("save_times", [])
    after_save = [t - max(x for x in saved if x <= t) for t in alone if any(x <= t for x in saved)]
    if after_save:
        print("late bundles away from dropouts, s after the last save:",
              " ".join(f"{a:.2f}" for a in sorted(after_save)), flush=True)
    result.update(late=log.late, xruns=log.xruns, late_alone=len(alone),
                  control_lines=control,
                  reloads=sum(1 for a, b in zip(played_bars, played_bars[1:], strict=False)
                              if a != b and "built-in" not in (a, b)),
                  builtin_bars=played_bars.count("built-in"), bars=len(played_bars))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--no-saves", action="store_true",
                        help="load with the control messages only (to tell the causes apart)")
    parser.add_argument("--lookahead-ms", type=float,
                        help="decide each step this far ahead (default: the config's)")
    args = parser.parse_args()
    totals = {"quiet": [0, 0, 0], "loaded": [0, 0, 0]}
    ok = True
    for pair in range(args.pairs):
        for loaded in (False, True):
            name = "loaded" if loaded else "quiet"
            r = run(args.seconds, loaded, args.rate, saves=not args.no_saves,
                    lookahead_ms=args.lookahead_ms)
            totals[name][0] += r["late"]
            totals[name][1] += r["xruns"]
            totals[name][2] += r["late_alone"]
            line = (f"pair {pair + 1} {name:6s}: late bundles {r['late']:3d} ({r['late_alone']} "
                    f"away from any dropout), xruns {r['xruns']:3d}, built-in drum bars "
                    f"{r['builtin_bars']}/{r['bars']}")
            if loaded:
                sent, queries, done, fail, answers = r["sender"]
                applied = r["control_lines"] + answers
                line += (f"; saves {r['saves']}, reloads heard {r['reloads']}; messages sent "
                         f"{sent}, done {done}, refused {fail}, applied {applied} "
                         f"({r['control_lines']} changes + {answers} answers)")
                ok = ok and done + answers == sent and applied == sent and fail == 0
            print(line, flush=True)
    print(f"total late bundles: quiet {totals['quiet'][0]} (xruns {totals['quiet'][1]}; "
          f"{totals['quiet'][2]} late away from any dropout), loaded {totals['loaded'][0]} "
          f"(xruns {totals['loaded'][1]}; {totals['loaded'][2]} late away from any dropout)")
    print("every message applied" if ok else "NOT every message applied")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
