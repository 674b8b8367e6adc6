"""The folder of live-coded agents, watched (watchfiles: inotify on Linux, no polling by
hand). Every `*.py` file directly in the folder (not starting with `_` or `.`) is an agent
file: at start each is read and offered to the live host, then again each time it is
saved; a deleted file gives its agent back to the built-in one.

The watching thread runs at SCHED_FIFO 1 (every thread of the conductor that can take the
GIL does); reading a small file here never holds up the band loop (the read releases the
GIL)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

import watchfiles

from performia.processes import set_background_realtime

log = logging.getLogger(__name__)
logging.getLogger("watchfiles").setLevel(logging.WARNING)   # not a line per save

MAX_FILE_BYTES = 256 * 1024
DEBOUNCE_MS = 200             # an editor's burst of writes counts as one save
STEP_MS = 50


def is_agent_file(path: Path) -> bool:
    return path.suffix == ".py" and not path.name.startswith(("_", "."))


class FolderWatcher:
    def __init__(self, folder: Path, offer: Callable[[str, str], None],
                 remove: Callable[[str], None],
                 report: Callable[[str, int, str], None]) -> None:
        self.folder = folder.resolve()
        self.offer = offer
        self.remove = remove
        self.report = report
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="live-watch", daemon=True)

    def start(self) -> FolderWatcher:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)

    def files(self) -> list[Path]:
        return sorted(p for p in self.folder.iterdir() if p.is_file() and is_agent_file(p))

    def _run(self) -> None:
        set_background_realtime("live agents watcher")
        if not self.folder.is_dir():
            log.error("[band] agents_dir %s: no such folder; the built-in agents play (create "
                      "it, then restart to use live-coded agents)", self.folder)
            return
        for path in self.files():
            self._read(path)
        for changes in watchfiles.watch(self.folder, stop_event=self._stop, recursive=False,
                                        debounce=DEBOUNCE_MS, step=STEP_MS,
                                        watch_filter=lambda _c, p: is_agent_file(Path(p))):
            for change, name in sorted(changes, key=lambda c: c[1]):
                path = Path(name)
                if change == watchfiles.Change.deleted or not path.exists():
                    self.remove(str(path))
                else:
                    self._read(path)

    def _read(self, path: Path) -> None:
        try:
            with open(path, "rb") as stream:
                raw = stream.read(MAX_FILE_BYTES + 1)
        except OSError as error:
            self.report(str(path), 0, f"cannot read: {error.strerror or error}")
            return
        if len(raw) > MAX_FILE_BYTES:
            self.report(str(path), 0, f"larger than {MAX_FILE_BYTES} bytes: not loaded")
            return
        try:
            source = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            self.report(str(path), 0, f"not UTF-8 text: {error}")
            return
        self.offer(str(path), source)
