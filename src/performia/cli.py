"""Command line: `performia [--realtime] ...` plays; `doctor`, `build`, `render` are
subcommands."""

from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path

from performia.config import COME_IN_MODES, STYLES, Config, ConfigError, load_config, replace

EXIT_CONFIG = 2


def _run_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="performia",
        description="A live band that plays with a guitarist, on SuperCollider's supernova. "
                    "Subcommands: 'performia doctor' (what is missing and how to fix it), "
                    "'performia build' (compile the SynthDefs), 'performia render' (the band "
                    "along with a take, to a WAV, faster than real time).")
    p.add_argument("--realtime", action="store_true",
                   help="play live on the server (the default mode)")
    p.add_argument("--config", type=Path, help="config file (default config/performia.toml)")
    p.add_argument("--duration", metavar="SECONDS",
                   help="stop after this many seconds (default: until Ctrl-C)")
    p.add_argument("--record", type=Path, metavar="OUT.wav",
                   help="record the master output to this WAV file, on the server")
    p.add_argument("--stems", type=Path, metavar="STEMS.wav",
                   help="also record each instrument's bus and the master side by side "
                        "(15 channels, see docs/EVENTS.md)")
    p.add_argument("--events", type=Path, metavar="FILE",
                   help="write every note played as JSON lines (see docs/EVENTS.md)")
    p.add_argument("--input", type=Path, metavar="TAKE.wav",
                   help="play this guitar take as the input instead of the audio interface")
    add_timing_arguments(p)
    p.add_argument("--key", help="key, e.g. E:min or G:maj (overrides the config)")
    p.add_argument("--style", choices=STYLES, help="style preset (overrides the config)")
    p.add_argument("--seed", type=int, help="random seed: the same seed plays the same notes")
    p.add_argument("--session", type=Path, metavar="FILE",
                   help="restore this session file at start and save it on exit "
                        "(docs/OSC_API.md)")
    p.add_argument("--no-gui", action="store_true", help="do not start the browser view")
    p.add_argument("-v", "--verbose", action="store_true", help="log everything")
    return p


def add_timing_arguments(p: argparse.ArgumentParser) -> None:
    """--tempo, --beats-per-bar, --come-in, --follow (shared by the live run and `render`)."""
    p.add_argument("--tempo", type=float, metavar="BPM",
                   help="tempo (overrides the config); the band then counts in one bar at "
                        "this tempo and follows from there, unless --come-in says otherwise")
    p.add_argument("--beats-per-bar", type=int, metavar="N",
                   help="beats to the bar, 1..16 (overrides the config's [timing] "
                        "beats_per_bar; 3 for a waltz): the band plays it, its ears count it")
    p.add_argument("--come-in", choices=COME_IN_MODES,
                   help="how the band comes in: listen (find the guitarist's beat, come in on "
                        "a downbeat), count_in (one bar of clicks at the tempo), now (from "
                        "beat 0), pedal (the bar after the pedal); default: count_in with "
                        "--tempo, else the config's [timing] come_in")
    p.add_argument("--follow", type=float, metavar="0..1",
                   help="how much the band follows the guitarist's time (0 = it leads)")


def timing_overrides(args: argparse.Namespace) -> dict[str, object]:
    """The [timing] keys the command line sets."""
    timing: dict[str, object] = {}
    if args.tempo is not None:
        timing["tempo"] = args.tempo
        timing["come_in"] = "count_in"
    if args.beats_per_bar is not None:
        timing["beats_per_bar"] = args.beats_per_bar
    if args.come_in is not None:
        timing["come_in"] = args.come_in
    if args.follow is not None:
        timing["follow"] = args.follow
    return timing


def _duration(text: str | None) -> float | None:
    """--duration: a finite number of seconds > 0 (ValueError with the reason)."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError("must be a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError("must be a finite number of seconds > 0 (leave it out to play "
                         "until Ctrl-C)")
    return value


def _configure(args: argparse.Namespace) -> Config:
    config = load_config(args.config)
    timing = timing_overrides(args)
    band = {k: v for k, v in (("key", args.key), ("style", args.style), ("seed", args.seed))
            if v is not None}
    if args.session is not None:
        band["session"] = str(args.session.resolve())
    if timing:
        config = replace(config, "timing", **timing)
    if band:
        config = replace(config, "band", **band)
    if args.key is not None:
        from performia.theory import Key
        Key.parse(args.key)
    if args.no_gui:
        config = replace(config, "gui", enabled=False)
    return config


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    if args_list[:1] == ["doctor"]:
        from performia.doctor import main as doctor_main
        return doctor_main(args_list[1:])
    if args_list[:1] == ["build"]:
        return _build(args_list[1:])
    if args_list[:1] == ["send"]:
        from performia.control.send import main as send_main
        return send_main(args_list[1:])
    if args_list[:1] == ["render"]:
        from performia.render.command import main as render_main
        return render_main(args_list[1:])
    args = _run_parser().parse_args(args_list)
    try:
        duration = _duration(args.duration)
    except ValueError as error:
        print(f"performia: --duration {args.duration}: {error}", file=sys.stderr)
        return EXIT_CONFIG
    _setup_logging(args.verbose)
    try:
        config = _configure(args)
    except (ConfigError, ValueError) as error:
        print(f"performia: config error: {error}", file=sys.stderr)
        return EXIT_CONFIG
    if args.input is not None:
        from performia.listen.rehearsal import TakeError, read_take
        try:
            read_take(args.input)
        except TakeError as error:
            print(f"performia: --input: {error}", file=sys.stderr)
            return EXIT_CONFIG
    unwritable = _unwritable_output(args)
    if unwritable:
        print(f"performia: {unwritable}", file=sys.stderr)
        return EXIT_CONFIG
    from performia.manager import Manager, RunOptions
    options = RunOptions(duration=duration, record=args.record, stems=args.stems,
                         events=args.events,
                         input=args.input, gui=config.gui.enabled)
    try:
        return Manager(config, options).run()
    except Exception as error:  # the manager has already stopped everything it started
        logging.getLogger("performia").error("%s", error, exc_info=args.verbose)
        return 1


def _unwritable_output(args: argparse.Namespace) -> str | None:
    """The first of --record, --stems, --events that cannot be written, with its path and
    the reason, found before anything starts (not after the server has booted)."""
    from performia.render.output import check_writable
    for flag, path in (("--record", args.record), ("--stems", args.stems),
                       ("--events", args.events)):
        if path is None:
            continue
        try:
            if flag == "--events":
                path.parent.mkdir(parents=True, exist_ok=True)
            check_writable(path)
        except OSError as error:
            reason = (error.strerror or str(error)).removeprefix(f"{path}: ")
            return f"{flag} {path}: cannot be written ({reason})"
    return None


def _build(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="performia build",
                                     description="Compile sc/synthdefs/*.scd with sclang.")
    parser.add_argument("--force", action="store_true", help="recompile every source")
    args = parser.parse_args(argv)
    _setup_logging(False)
    from performia.server.synthdefs import SynthDefError, build
    try:
        result = build(force=args.force)
    except SynthDefError as error:
        print(f"performia: {error}", file=sys.stderr)
        return 1
    print(f"SynthDefs: {len(result.compiled)} sources compiled, "
          f"{len(result.up_to_date)} up to date")
    return 0
