"""Session files: a round trip keeps everything, writes are atomic and off the caller's
thread, an older version loads, a corrupt or newer file is refused with one line and never
overwritten; and `performia send` (a real subprocess) talks to a real control port."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from performia.config import Config
from performia.control.session import (
    FORMAT,
    VERSION,
    SessionError,
    Sessions,
    read_session,
    session_json,
)
from performia.control.settings import BandSettings
from tests.conftest import PROJECT

DEFAULTS = BandSettings.from_config(Config())


def tonight() -> BandSettings:
    return (DEFAULTS.with_tempo(104).with_key("G:maj").with_style("funk")
            .with_progression(("G:maj", "D:maj", "E:min", "C:maj"))
            .with_pattern("drums", "kick", "X...X...X...X...").with_mute("bass", True)
            .with_param("harmony", "octave", 1).with_param("melody", "intensity", 0.3))


def save(sessions: Sessions, path: Path | None = None) -> str | None:
    done = threading.Event()
    result: list[str | None] = []

    def finished(error: str | None) -> None:
        result.append(error)
        done.set()
    sessions.save(path, finished)
    assert done.wait(5)
    return result[0]


def test_a_session_round_trip_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "gig.json"
    settings = tonight()
    sessions = Sessions(path, DEFAULTS, lambda: session_json(settings, "play",
                                                             ("live/drums.py",))).start()
    try:
        assert save(sessions) is None
    finally:
        sessions.close(save=False)
    data = json.loads(path.read_text())
    assert data["format"] == FORMAT and data["version"] == VERSION
    session = read_session(path, DEFAULTS)
    assert session.settings == settings
    assert session.mode == "play" and session.live_files == ("live/drums.py",)
    assert [p.name for p in tmp_path.iterdir()] == ["gig.json"]    # no temporary left


def test_an_older_version_loads_with_defaults_for_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"format": FORMAT, "version": 1, "tempo": 90, "key": "A:min",
                                "style": "ballad", "chords": "A:min F:maj C:maj G:maj",
                                "mode": "play"}))
    session = read_session(path, DEFAULTS)
    assert session.version == 1 and session.mode == "play"
    assert session.settings.tempo == 90 and session.settings.key == "A:min"
    assert session.settings.progression == ("A:min", "F:maj", "C:maj", "G:maj")
    assert session.settings.agents == DEFAULTS.agents


@pytest.mark.parametrize(("text", "words"), [
    ("{not json", "not valid JSON"),
    ('{"format": "something-else", "version": 1}', "not a Performia session"),
    (json.dumps({"format": FORMAT, "version": VERSION + 1}), "newer than this"),
    (json.dumps({"format": FORMAT, "version": 2, "tempo": 9000}), "between 20 and 400"),
    (json.dumps({"format": FORMAT, "version": 2, "agents": {"bass": {"muted": "yes"}}}),
     "true or false"),
])
def test_a_bad_session_is_one_line_defaults_and_is_not_overwritten(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, text: str, words: str) -> None:
    caplog.set_level(logging.INFO, logger="performia.control.session")
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(SessionError, match=words):
        read_session(path, DEFAULTS)
    sessions = Sessions(path, DEFAULTS, lambda: session_json(DEFAULTS, None, ())).start()
    assert sessions.restore() is None and not sessions.writable
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "\n" not in errors[0].getMessage()
    assert words in errors[0].getMessage() and "not be overwritten" in errors[0].getMessage()
    assert save(sessions) is not None                # refused, with the reason
    sessions.close(save=True)                        # on exit: not written either
    assert path.read_text() == text


def test_a_file_that_is_not_a_session_is_never_overwritten(tmp_path: Path) -> None:
    other = tmp_path / "notes.json"
    other.write_text('{"shopping": ["strings"]}')
    sessions = Sessions(None, DEFAULTS, lambda: session_json(DEFAULTS, None, ())).start()
    try:
        error = save(sessions, other)
    finally:
        sessions.close(save=False)
    assert error is not None and "not overwritten" in error
    assert other.read_text() == '{"shopping": ["strings"]}'


def _send(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "performia", "send", *args],
                          capture_output=True, text=True, timeout=30, cwd=PROJECT, check=False)


def test_performia_send_talks_to_a_control_port() -> None:
    from performia.conductor.control import ControlPort, Reply

    seen: list[tuple[str, list[object]]] = []

    def handler(address: str, args: list[object], _sender: tuple[str, int]) -> Reply:
        seen.append((address, args))
        if address == "/performia/get/tempo":
            return Reply("/performia/tempo", (100.0,))
        if address == "/performia/tempo" and args != [100]:
            raise ValueError("tempo must be between 20 and 400 BPM")
        return Reply("/performia/done", (address, "beat"))

    port = ControlPort("127.0.0.1", 0, handler, secret="pw").start()
    number = port.port
    try:
        where = ["--port", str(port.port), "--host", "127.0.0.1", "--secret", "pw"]
        done = _send("/performia/tempo", "100", *where)
        assert done.returncode == 0 and "done: /performia/tempo (applied: beat)" in done.stdout
        got = _send("--get", "tempo", *where)
        assert got.returncode == 0 and got.stdout.strip() == "/performia/tempo 100.0"
        refused = _send("/performia/tempo", "9000", *where)
        assert refused.returncode == 1 and "between 20 and 400" in refused.stderr
        pattern = _send("/performia/pattern/drums/kick", "X...X...", *where)
        assert pattern.returncode == 0
    finally:
        port.close()
    assert seen[0] == ("/performia/tempo", [100])
    assert ("/performia/pattern/drums/kick", ["X...X..."]) in seen
    silent = _send("/performia/tempo", "100", "--port", str(number), "--timeout", "0.3")
    assert silent.returncode == 1 and "no answer" in silent.stderr
