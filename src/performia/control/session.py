"""Sessions: tonight's settings in one JSON file, saved and brought back.

    {"format": "performia-session", "version": 2, "saved": "2025-05-01T21:30:00Z",
     "tempo": 104.0, "key": "G:maj", "style": "funk", "mode": "play",
     "progression": ["G:maj", "D:maj", "E:min", "C:maj"],
     "patterns": {"drums/kick": "X...X...X...X..."},
     "agents": {"bass": {"muted": true, "octave": -1.0}, ...},
     "live_files": ["grooves/drums.py"]}

Version 1 (the first format) held tempo, key, style, mode and the progression as one
string (`"chords": "G:maj D:maj"`); it loads with everything else at its default. A file
that is not JSON, not a session, or of a newer version is refused with one line saying
why (`SessionError`), and is never overwritten.

Files are written atomically (a temporary file in the same folder, flushed to disk, then
renamed over the old one) by the `Sessions` thread: the conductor never waits on a disk.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from performia.config import MODES
from performia.control.settings import BandSettings, parse_progression
from performia.processes import set_background_realtime

log = logging.getLogger(__name__)

FORMAT = "performia-session"
VERSION = 2
MAX_SESSION_BYTES = 1 << 20


class SessionError(ValueError):
    """A session file that cannot be used; the text is one line naming the file."""


@dataclass(frozen=True)
class Session:
    settings: BandSettings
    mode: str | None
    live_files: tuple[str, ...]
    version: int


def session_json(settings: BandSettings, mode: str | None,
                 live_files: tuple[str, ...]) -> dict[str, Any]:
    data: dict[str, Any] = {"format": FORMAT, "version": VERSION,
                            "saved": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    data.update(settings.to_json())
    data["mode"] = mode
    data["live_files"] = list(live_files)
    return data


def parse_session(data: object, defaults: BandSettings) -> Session:
    """A session from its JSON document (any supported version); ValueError says what is
    wrong."""
    if not isinstance(data, dict) or data.get("format", FORMAT) != FORMAT:
        raise ValueError("not a Performia session (no \"format\": \"performia-session\")")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ValueError("no version number")
    if version > VERSION:
        raise ValueError(f"version {version} is newer than this Performia reads "
                         f"(up to {VERSION})")
    if version < 1:
        raise ValueError(f"unknown version {version}")
    if version == 1:
        data = _from_version_1(data)
    settings = defaults
    if "tempo" in data:
        settings = settings.with_tempo(_number(data["tempo"], "tempo"))
    if "key" in data:
        settings = settings.with_key(_text(data["key"], "key"))
    if "style" in data:
        settings = settings.with_style(_text(data["style"], "style"))
    if "progression" in data:
        chords = data["progression"]
        if not isinstance(chords, list) or not all(isinstance(c, str) for c in chords):
            raise ValueError("progression must be a list of chord names")
        settings = settings.with_progression(tuple(chords))
    for key, text in _table(data.get("patterns", {}), "patterns").items():
        agent, _, voice = key.partition("/")
        settings = settings.with_pattern(agent, voice, _text(text, f"patterns.{key}"))
    for agent, values in _table(data.get("agents", {}), "agents").items():
        for name, value in _table(values, f"agents.{agent}").items():
            if name == "muted":
                if not isinstance(value, bool):
                    raise ValueError(f"agents.{agent}.muted must be true or false")
                settings = settings.with_mute(agent, value)
            else:
                settings = settings.with_param(agent, name, _number(value, f"agents.{agent}."
                                                                           f"{name}"))
    mode = data.get("mode")
    if mode is not None and mode not in MODES:
        raise ValueError(f"mode {mode!r}: must be one of {', '.join(MODES)}")
    files = data.get("live_files", [])
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise ValueError("live_files must be a list of file names")
    return Session(settings, mode, tuple(files), version)


def _from_version_1(data: dict[str, Any]) -> dict[str, Any]:
    upgraded: dict[str, Any] = {k: data[k] for k in ("tempo", "key", "style", "mode")
                                if k in data}
    if "chords" in data:
        upgraded["progression"] = list(parse_progression(_text(data["chords"], "chords")))
    return upgraded


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {value!r}")
    return float(value)


def _text(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {value!r}")
    return value


def _table(value: object, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a table, got {value!r}")
    return value


def read_session(path: Path, defaults: BandSettings) -> Session:
    """Read and check a session file; `SessionError` (one line) when it cannot be used."""
    try:
        with open(path, "rb") as stream:
            raw = stream.read(MAX_SESSION_BYTES + 1)
    except OSError as error:
        raise SessionError(f"session {path}: {error.strerror or error}") from None
    if len(raw) > MAX_SESSION_BYTES:
        raise SessionError(f"session {path}: larger than {MAX_SESSION_BYTES} bytes")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SessionError(f"session {path}: not valid JSON ({error})") from None
    try:
        return parse_session(data, defaults)
    except ValueError as error:
        raise SessionError(f"session {path}: {error}") from None


def is_session_file(path: Path) -> bool:
    """Whether `path` may be (over)written as a session: absent, or a session already."""
    if not path.exists():
        return True
    try:
        with open(path, "rb") as stream:
            data = json.loads(stream.read(MAX_SESSION_BYTES).decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(data, dict) and data.get("format") == FORMAT


def write_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write `data` as JSON to `path` so that a reader sees the old file or the new one,
    never a part: temporary file, fsync, rename, fsync of the folder."""
    folder = path.parent if str(path.parent) else Path(".")
    tmp = folder / f".{path.name}.{os.getpid()}.tmp"
    payload = (json.dumps(data, indent=1) + "\n").encode("utf-8")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, payload)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.replace(tmp, path)
    except OSError:
        os.unlink(tmp)
        raise
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


Snapshot = Callable[[], dict[str, Any]]
Done = Callable[[str | None], None]          # None: done; else the error, one line
Loaded = Callable[[Session], None]


class Sessions:
    """The session file in use (if any) and the thread that reads and writes sessions."""

    def __init__(self, path: Path | None, defaults: BandSettings, snapshot: Snapshot) -> None:
        self.path = path
        self.defaults = defaults
        self.snapshot = snapshot
        self.writable = True           # False: the file was unreadable at start; kept as is
        self.saved = 0
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="sessions", daemon=True)

    def start(self) -> Sessions:
        self._thread.start()
        return self

    def restore(self) -> Session | None:
        """At start (before the band plays): the session in use, or None with one line."""
        if self.path is None:
            return None
        if not self.path.exists():
            log.info("session %s does not exist yet: it will be written on exit", self.path)
            return None
        try:
            session = read_session(self.path, self.defaults)
        except SessionError as error:
            self.writable = False
            log.error("%s; playing with the defaults, and the file will not be overwritten",
                      error)
            return None
        log.info("session %s restored (version %d)", self.path, session.version)
        return session

    def save(self, path: Path | None, done: Done) -> None:
        """Save the settings as they are now to `path` (None: the session in use), on the
        sessions thread; `done(error)` is called there."""
        target = path or self.path
        if target is None:
            done("no session file in use: give a file name")
            return
        if target == self.path and not self.writable:
            done(f"session {target} was unreadable at start and is kept as it was: "
                 "save under another name")
            return
        data = self.snapshot()                # an immutable view, taken now
        self._jobs.put(lambda: self._write(target, data, done))

    def load(self, path: Path, loaded: Loaded, done: Done) -> None:
        """Read `path` on the sessions thread; `loaded(session)` then `done(None)`, or
        `done(error)`."""
        def job() -> None:
            try:
                session = read_session(path, self.defaults)
            except SessionError as error:
                done(str(error))
                return
            loaded(session)
            done(None)
        self._jobs.put(job)

    def close(self, save: bool) -> None:
        """Stop the thread; first save the session in use when `save` (at exit)."""
        if save and self.path is not None and self.writable:
            self.save(None, _log_failure)
        if self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join(timeout=5.0)

    def _write(self, path: Path, data: dict[str, Any], done: Done) -> None:
        if not is_session_file(path):
            done(f"{path} exists and is not a Performia session: not overwritten")
            return
        try:
            write_atomic(path, data)
        except OSError as error:
            done(f"session {path}: {error.strerror or error}")
            return
        self.saved += 1
        log.info("session saved to %s", path)
        done(None)

    def _run(self) -> None:
        set_background_realtime("sessions")
        while (job := self._jobs.get()) is not None:
            try:
                job()
            except Exception:
                log.exception("a session job failed")



def _log_failure(error: str | None) -> None:
    if error is not None:
        log.error("%s", error)
