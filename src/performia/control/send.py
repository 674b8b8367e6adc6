"""`performia send`: one control command to a playing band, and its answer.

    python -m performia send /performia/tempo 100
    python -m performia send /performia/pattern/drums/kick "X...X...X...X..."
    python -m performia send /performia/chords "G:maj D:maj E:min C:maj"
    python -m performia send --get tempo
    python -m performia send --notify            # print what the band tells subscribers

Arguments are sent as OSC integers when they are whole numbers, floats when they are
numbers, strings otherwise (`--string` sends every argument as a string). Host, port and
the shared secret come from the config (`--config`), or `--host`, `--port`, `--secret`.
Exit status: 0 answered /performia/done (or a query's value), 1 refused or no answer,
2 a usage error.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from pathlib import Path
from typing import Any

from performia.conductor.control import AUTH_ADDRESS, DONE_ADDRESS, FAIL_ADDRESS
from performia.config import ConfigError, load_config
from performia.server.osc import OscArg, decode, encode_bundle, encode_message

EXIT_FAILED, EXIT_USAGE = 1, 2
RESUBSCRIBE_S = 1.0


def parse_arg(text: str) -> OscArg:
    """'100' → 100, '0.5' → 0.5, anything else → the string."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="performia send",
                                description="Send one control command to the playing band "
                                            "(docs/OSC_API.md) and print its answer.")
    p.add_argument("address", nargs="?", help="e.g. /performia/tempo")
    p.add_argument("args", nargs="*", help="its arguments")
    p.add_argument("--get", metavar="WHAT", help="ask: tempo, key, chord, chords, style, "
                                                 "mode, bar, patterns, agents, params, "
                                                 "session, error")
    p.add_argument("--notify", action="store_true",
                   help="subscribe and print what the band tells (Ctrl-C ends)")
    p.add_argument("--string", action="store_true", help="send every argument as a string")
    p.add_argument("--config", type=Path, help="config file (default config/performia.toml)")
    p.add_argument("--host", help="the control port's host (default: [osc] host)")
    p.add_argument("--port", type=int, help="the control port (default: [osc] control_port)")
    p.add_argument("--secret", help="the shared secret (default: [osc] control_secret)")
    p.add_argument("--timeout", type=float, default=1.0, help="seconds to wait for the answer")
    return p


def main(argv: list[str]) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    values: list[OscArg]
    if args.get:
        address, values = f"/performia/get/{args.get}", []
    elif args.notify:
        address, values = "/performia/notify", [1]
    elif args.address:
        address = args.address
        values = [str(v) if args.string else parse_arg(v) for v in args.args]
    else:
        parser.print_usage(sys.stderr)
        print("performia send: give an address, --get WHAT or --notify", file=sys.stderr)
        return EXIT_USAGE
    if not address.startswith("/"):
        print(f"performia send: {address!r} is not an OSC address (/performia/...)",
              file=sys.stderr)
        return EXIT_USAGE
    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(f"performia send: config error: {error}", file=sys.stderr)
        return EXIT_USAGE
    host = args.host or config.osc.host
    port = args.port or config.osc.control_port
    secret = config.osc.control_secret if args.secret is None else args.secret
    target = (host, port)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1" if host.startswith("127.") or host == "localhost"
                   else "0.0.0.0", 0))
        messages: list[tuple[str, list[Any]]] = [(address, values)]
        if secret:
            messages.insert(0, (AUTH_ADDRESS, [secret]))
            datagram = encode_bundle(None, messages)
        else:
            datagram = encode_message(address, values)
        sock.sendto(datagram, target)
        if args.notify:
            return _listen(sock, datagram, target)
        return _answer(sock, address, args.timeout, target, bool(secret))


def _answer(sock: socket.socket, address: str, timeout: float, target: tuple[str, int],
            authenticating: bool) -> int:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            print(f"performia send: no answer from {target[0]}:{target[1]} within "
                  f"{timeout:g} s: is the band playing, and is that its control port?",
                  file=sys.stderr)
            return EXIT_FAILED
        sock.settimeout(left)
        try:
            datagram, _ = sock.recvfrom(65536)
        except TimeoutError:
            continue
        for reply, values in decode(datagram):
            if authenticating and reply == DONE_ADDRESS and values[:1] == [AUTH_ADDRESS]:
                continue
            if reply == FAIL_ADDRESS:
                print(f"refused: {' '.join(str(v) for v in values[1:])}", file=sys.stderr)
                return EXIT_FAILED
            if reply == DONE_ADDRESS:
                print(f"done: {values[0]} (applied: {' '.join(str(v) for v in values[1:])})"
                      if address != "/performia/session/save" else
                      f"done: saved {' '.join(str(v) for v in values[1:])}")
                return 0
            print(f"{reply} {' '.join(str(v) for v in values)}")
            return 0


def _listen(sock: socket.socket, subscribe: bytes, target: tuple[str, int]) -> int:
    """Print what the band tells; subscribe again every few seconds (a band that was not
    playing yet, or a restarted conductor, does not know us)."""
    sock.settimeout(RESUBSCRIBE_S)
    try:
        while True:
            try:
                datagram, _ = sock.recvfrom(65536)
            except TimeoutError:
                sock.sendto(subscribe, target)
                continue
            for reply, values in decode(datagram):
                if reply != DONE_ADDRESS:
                    print(f"{reply} {' '.join(str(v) for v in values)}", flush=True)
    except KeyboardInterrupt:
        return 0
