"""`python -m performia.gui --state NAME [--host H] [--port P] [--fps F]`: the GUI process.

Lowers its own priority first, waits for the state segment, then serves the read-only GUI
with uvicorn until SIGTERM or SIGINT, and exits with status 0.
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
import threading
from collections.abc import Callable, Sequence

import uvicorn

from performia.events.snapshot import StateReader
from performia.gui.app import create_app
from performia.processes import EXIT_PORT_TAKEN, set_low_priority
from performia.signals import SignalWatcher

log = logging.getLogger("performia.gui")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m performia.gui",
                                     description="Read-only live GUI for Performia.")
    parser.add_argument("--state", required=True, help="shared-memory snapshot name")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5001)
    parser.add_argument("--fps", type=int, default=30, help="WebSocket frames per second")
    parser.add_argument("--wait", type=float, default=30.0,
                        help="seconds to wait for the snapshot segment to appear")
    parser.add_argument("--stall", type=float, default=3.0,
                        help="seconds without progress after which a client is dropped")
    return parser.parse_args(argv)


def install_stop_handlers(stop: threading.Event) -> SignalWatcher:
    """SIGTERM and SIGINT set `stop` (on the watcher's thread: see performia.signals).
    uvicorn takes over both while serving and re-raises them when it returns; they then land
    here, harmlessly, and the process exits with 0."""
    def stopping(name: str) -> Callable[[], None]:
        def on_signal() -> None:
            log.info("GUI: %s, stopping", name)
            stop.set()
        return on_signal

    return SignalWatcher({sig: stopping(sig.name) for sig in (signal.SIGTERM, signal.SIGINT)},
                         name="gui-signals")


def wait_for_state(name: str, timeout: float, stop: threading.Event) -> StateReader | None:
    """The reader once the segment is ready; None when asked to stop or out of time."""
    remaining = timeout
    while remaining > 0 and not stop.is_set():
        try:
            return StateReader.wait_exists(name, timeout=min(0.25, remaining))
        except TimeoutError:
            remaining -= 0.25
    if not stop.is_set():
        log.error("GUI: snapshot segment %r did not appear within %.1f s", name, timeout)
    return None


def listen_on(host: str, port: int, backlog: int) -> socket.socket:
    """The listening socket of the page (OSError when the port is taken)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


def serve(reader: StateReader, args: argparse.Namespace) -> int:
    app = create_app(reader, fps=args.fps, stall_s=args.stall)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning",
                            access_log=False, timeout_graceful_shutdown=2, lifespan="on")
    try:
        sock = listen_on(args.host, args.port, config.backlog)
    except OSError as error:
        # the manager reads this exit status: "cannot start", reported once with its fix
        log.error("GUI: cannot listen on %s:%d: %s", args.host, args.port, error.strerror)
        return EXIT_PORT_TAKEN
    server = uvicorn.Server(config)
    # only now, bound and listening: connections wait in the backlog until uvicorn accepts
    log.warning("GUI: http://%s:%d/ (snapshot %r, %d fps)", args.host, args.port,
                args.state, args.fps)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    set_low_priority("gui")
    args = parse_args(argv)
    stop = threading.Event()
    install_stop_handlers(stop)
    reader = wait_for_state(args.state, args.wait, stop)
    if reader is None:
        return 0 if stop.is_set() else 1
    try:
        if not stop.is_set():
            return serve(reader, args)
    finally:
        reader.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
