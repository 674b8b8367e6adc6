"""Recordings in progress, written down so that none is lost whatever dies.

Before a recording starts, the manager writes its path into a small journal,
`<state dir>/recordings-<pid>.json` (the state dir: `$PERFORMIA_STATE_DIR`, else
`$XDG_STATE_HOME/performia`, else `~/.local/state/performia`). While it records it patches
the files' headers every second; when it ends, by any route that lets it run (a normal end,
Ctrl-C, SIGTERM, supernova dying), it repairs them exactly (`wav_repair`) and removes the
journal. A manager killed outright (SIGKILL) leaves its journal: the next start of Performia
finds that its process is gone, repairs each file it names and says so in one line.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from performia.server.wav_repair import WavRepairError, repair_wav

log = logging.getLogger(__name__)

JOURNAL_GLOB = "recordings-*.json"


def state_dir() -> Path:
    """Where the journals live (see the module's text)."""
    explicit = os.environ.get("PERFORMIA_STATE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return base / "performia"


def _process_start(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


@dataclass
class RecordingJournal:
    """This process's recordings in progress, on disk."""

    directory: Path = field(default_factory=state_dir)
    files: list[Path] = field(default_factory=list)

    @property
    def path(self) -> Path:
        return self.directory / f"recordings-{os.getpid()}.json"

    def add(self, recording: Path) -> None:
        """Note `recording` (before the server opens it). A journal that cannot be written
        is a warning, not a reason to stop: only a killed manager's files need it."""
        self.files.append(recording.resolve())
        try:
            self._write()
        except OSError as error:
            log.warning("cannot write the recording journal %s (%s): if this run is killed, "
                        "repair %s with `python -m performia.server.wav_repair`", self.path,
                        error, recording)

    def _write(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        record = {"pid": os.getpid(), "started": _process_start(os.getpid()),
                  "files": [str(f) for f in self.files]}
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(record))
        temporary.replace(self.path)

    def finish(self, server_died: bool = False) -> list[str]:
        """Repair every file still in the journal (a no-op for one the server closed), then
        remove the journal. One line per repaired file; the lines are also returned.
        `server_died`: each file is reported, even when the periodic patch got to its
        header just before the server died (the same repair)."""
        lines = []
        for recording in self.files:
            line = _repair(recording, "the server could not close it", closed=server_died)
            if line:
                lines.append(line)
        self.files.clear()
        self.path.unlink(missing_ok=True)
        return lines

    def close_files(self, recordings: list[Path], why: str) -> list[str]:
        """Repair `recordings` now (their server died: nothing writes them any more) and
        take them out of the journal; one line per repaired file, also returned."""
        lines = []
        for recording in recordings:
            resolved = recording.resolve()
            line = _repair(resolved, why, closed=True)
            if line:
                lines.append(line)
            if resolved in self.files:
                self.files.remove(resolved)
        try:
            self._write()
        except OSError as error:
            log.warning("cannot write the recording journal %s: %s", self.path, error)
        return lines

    def patch(self) -> None:
        """Make the headers match what is on disk now (the files are still being written)."""
        for recording in self.files:
            if recording.exists():
                try:
                    repair_wav(recording, final=False)
                except WavRepairError as error:
                    log.debug("cannot patch %s yet: %s", recording, error)


def _repair(recording: Path, why: str, *, always: bool = False,
            closed: bool = False) -> str | None:
    """Repair one file; the line logged (None when it was already valid, unless `always`).
    `closed`: its server just died, so it is reported as repaired even when the periodic
    patch (`RecordingJournal.patch`) got to its header a moment before: the same repair."""
    if not recording.exists():
        if not always:
            return None                            # the server never opened it
        line = f"recording {recording} ({why}) is missing: nothing to repair"
        log.warning("%s", line)
        return line
    try:
        result = repair_wav(recording, final=True)
    except WavRepairError as error:
        line = f"recording could not be repaired: {error}"
        log.error("%s", line)
        return line
    if not result.changed and not closed:
        if not always:
            return None
        line = f"recording {recording} ({why}) is valid: {result.seconds:.2f} s of audio"
    else:
        header = ("its header was already brought up to date" if not result.changed else
                  f"its header said {result.frames_before / max(result.rate, 1):.2f} s")
        line = f"recording repaired: {recording} ({result.seconds:.2f} s of audio; {why}; {header})"
    log.warning("%s", line)
    return line


def repair_left_over(directory: Path | None = None) -> list[str]:
    """Repair the recordings of earlier runs that were killed (their journals remain and
    their process is gone); one line per file. Journals of running processes are left."""
    directory = state_dir() if directory is None else directory
    lines: list[str] = []
    if not directory.is_dir():
        return lines
    for journal in sorted(directory.glob(JOURNAL_GLOB)):
        try:
            record = json.loads(journal.read_text())
            pid, started = int(record["pid"]), record.get("started")
            files = [Path(f) for f in record["files"]]
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning("ignoring the unreadable recording journal %s (%s): removing it",
                        journal, error)
            journal.unlink(missing_ok=True)
            continue
        now_started = _process_start(pid)
        if now_started is not None and (started is None or abs(now_started - started) < 1.0):
            continue                              # that run is still going
        why = f"left by an earlier run (pid {pid}) that was killed"
        for recording in files:
            line = _repair(recording, why, always=True)
            if line:
                lines.append(line)
        journal.unlink(missing_ok=True)
    return lines
